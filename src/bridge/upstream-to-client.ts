/**
 * Upstream → client: relays what a Streamable HTTP upstream sends (a JSON reply, a POST's SSE stream,
 * the standalone GET stream) onto the legacy client's stream as `event: message` frames. Reads upstream
 * bodies; writes only through the given `deliver`.
 *
 * Upstream SSE is parsed with readSseStream (eventsource-parser). Priming events (an `id:` with empty
 * `data:`, sent on every 2025-11-25 POST stream) are remembered for resumption but never forwarded: older
 * clients choke on empty data (protocol.md §3.1).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import { readSseStream } from '../mcp/sse.js';
import { isEventStream } from '../proxy/headers.js';
import type { UpstreamRawResponse } from '../proxy/upstream.js';

/** Writes one serialized JSON-RPC message onto the client's stream. */
export type Deliver = (json: string) => void;

/** A response seen on the way: return false to swallow it (the gateway's own initialize). */
export type OnAnswer = (message: { id?: unknown; result?: unknown; error?: unknown }) => boolean;

/** Where an SSE stream left off, for `Last-Event-ID` resumption (SEP-1699, protocol.md §3.1). */
export interface ResumeState {
  lastEventId: string | undefined;
  retryMs: number | undefined;
}

export interface RelayOptions {
  deliver: Deliver;
  /** The request whose response ends this exchange; undefined for the standalone GET stream. */
  awaiting?: JsonRpcId;
  onAnswer?: OnAnswer;
}

/** Most upstreams never ask for polling; when they do, how many times we resume one request. */
const MAX_RESUMES = 5;
const DEFAULT_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** One response header (undici gives repeated ones as arrays; the first counts). */
export function headerOf(res: UpstreamRawResponse, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The whole (small) body as text: error bodies, JSON replies. */
export async function textOf(res: UpstreamRawResponse): Promise<string> {
  const bytes = await res.body.bytes();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

const isAnswer = (m: Record<string, unknown>) => m.method === undefined && ('result' in m || 'error' in m);

/**
 * Relays one message (`data` of an event or a JSON body). Parsed only when the caller needs to know
 * whether it answers a request; the client always gets the upstream's text unchanged.
 * Returns true when it was the awaited response.
 */
function relayOne(data: string, options: RelayOptions, parse: boolean): boolean {
  if (!parse) {
    options.deliver(data);
    return false;
  }
  let message: Record<string, unknown>;
  try {
    message = JSON.parse(data);
  } catch {
    return false; // not JSON-RPC: nothing a legacy client could use
  }
  if (Array.isArray(message)) {
    // A batch reply (2025-03-26 upstreams): legacy clients take one message per event.
    let answered = false;
    for (const item of message) answered = relayOne(JSON.stringify(item), options, true) || answered;
    return answered;
  }
  const answers = isAnswer(message) && message.id === options.awaiting;
  if (answers && options.onAnswer && !options.onAnswer(message)) return true;
  options.deliver(data);
  return answers;
}

/** Relays an SSE body to its end; true when the awaited response came by. */
export async function relaySseBody(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
  state: ResumeState,
): Promise<boolean> {
  let answered = false;
  const parse = options.awaiting !== undefined;
  try {
    await readSseStream(body, {
      onEvent(event) {
        if (event.id !== undefined) state.lastEventId = event.id;
        if (event.data === '') return;
        if (relayOne(event.data, options, parse)) answered = true;
      },
      onRetry(ms) {
        state.retryMs = ms;
      },
    });
  } catch {
    // The stream broke off; the caller decides whether to resume.
  }
  return answered;
}

export interface ReplyOptions extends RelayOptions {
  /** Reopens the stream after `lastEventId` (GET + Last-Event-ID). */
  resume(lastEventId: string): Promise<UpstreamRawResponse>;
  signal: AbortSignal;
}

/**
 * Relays an upstream reply to a POSTed request (JSON or SSE). When an SSE reply ends before its response
 * and the upstream gave event ids, waits `retry` and resumes with GET + Last-Event-ID (2025-11-25 polling,
 * spec2026.md §3(a)). Resolves true when the response reached the client.
 */
export async function relayReply(res: UpstreamRawResponse, options: ReplyOptions): Promise<boolean> {
  if (!isEventStream(headerOf(res, 'content-type'))) {
    const text = await textOf(res);
    if (!/\S/.test(text)) return false;
    // One response object needs no parse unless someone wants to look at it.
    const parse = options.onAnswer !== undefined || /^\s*\[/.test(text);
    return relayOne(text, options, parse) || !parse;
  }
  const state: ResumeState = { lastEventId: undefined, retryMs: undefined };
  let current = res;
  for (let resumes = 0; ; resumes++) {
    if (await relaySseBody(current.body, options, state)) return true;
    if (options.signal.aborted || state.lastEventId === undefined || resumes >= MAX_RESUMES) return false;
    await delay(Math.min(state.retryMs ?? DEFAULT_RETRY_MS, MAX_RETRY_MS), undefined, {
      signal: options.signal,
    });
    current = await options.resume(state.lastEventId);
    if (current.status !== 200 || !isEventStream(headerOf(current, 'content-type'))) {
      current.body.destroy();
      return false;
    }
  }
}
