/**
 * The upstream leg of one legacy session: a Streamable HTTP session (2025-03-26 … 2025-11-25) held on the
 * client's behalf. Does I/O through the shared UpstreamClient.
 *
 * - `initialize` is the client's own (its reply reaches the client) or the gateway's (the client
 *   reconnected and did not re-initialize, protocol.md §1.2; its reply is swallowed).
 * - After initialize: `Mcp-Session-Id` and `MCP-Protocol-Version` on every request (2025-06-18 §Protocol
 *   Version Header), then the standalone GET stream (405 is fine) so pushes arrive unprompted.
 * - Session lost (the upstream restarted): re-initialize with the same params and retry once; the
 *   client notices nothing (DESIGN.md §2).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { JSONRPC, type JsonRpcErrorBody } from '../mcp/jsonrpc.js';
import { isEventStream, upstreamRequestHeaders } from '../proxy/headers.js';
import type { UpstreamClient, UpstreamTarget } from '../proxy/upstream.js';
import type { ClientMessage } from './client-messages.js';
import { type Deliver, type ResumeState, relayReply, relaySseBody } from './upstream-to-client.js';

export interface UpstreamInitialized {
  sessionId: string | null;
  protocolVersion: string | null;
  params: unknown;
  byClient: boolean;
}

export interface UpstreamSessionOptions {
  client: UpstreamClient;
  target: UpstreamTarget;
  /** The brain's own upstream credentials. */
  credentials: Readonly<Record<string, string>>;
  deliver: Deliver;
  logger: Logger;
  /** Aborted when the legacy session ends: every upstream exchange stops. */
  signal: AbortSignal;
  onInitialized(info: UpstreamInitialized): void;
}

export type ForwardOutcome = { ok: true } | { ok: false; error: JsonRpcErrorBody['error'] };

export interface UpstreamSession {
  readonly sessionId: string | null;
  readonly initialized: boolean;
  /** Forwards the client's `initialize`; the reply reaches the client. Starts a fresh upstream session. */
  initializeForClient(message: ClientMessage): Promise<void>;
  /** Initializes on the client's behalf unless already done (params from `fallback` the first time). */
  ensureReady(fallback: () => Promise<unknown>): Promise<void>;
  /** The client's `notifications/initialized`: forwarded unless the gateway already sent one; opens the GET stream. */
  clientInitialized(message: ClientMessage): Promise<void>;
  /** Forwards one message; for a request, resolves once its response reached the client. */
  forward(message: ClientMessage): Promise<ForwardOutcome>;
  /** Ends the upstream session (`DELETE`, 2025-11-25 §Session Management); never throws. */
  terminate(): Promise<void>;
}

const DELETE_TIMEOUT_MS = 5_000;
const MAX_STREAM_BACKOFF_MS = 30_000;

/**
 * Whether a failed answer means the upstream no longer knows our session. The spec says 404; the SDK's
 * own example servers and server-everything answer 400 with these texts instead (protocol.md §2.2), and
 * there is no code to switch on, so the texts are matched here and nowhere else.
 */
const LOST_SESSION_400 = /No valid session ID|Server not initialized|Mcp-Session-Id header is required/i;
export function isSessionLost(status: number, body: string): boolean {
  return status === 404 || (status === 400 && LOST_SESSION_400.test(body));
}

/** The upstream's JSON-RPC error when it sent one (kept as is), else a gateway error naming the status. */
function upstreamError(status: number, body: string): JsonRpcErrorBody['error'] {
  try {
    const parsed = JSON.parse(body) as Partial<JsonRpcErrorBody>;
    if (parsed?.error && typeof parsed.error.code === 'number') return parsed.error;
  } catch {}
  return { code: JSONRPC.SERVER_ERROR, message: `Upstream error: HTTP ${status}` };
}

export function createUpstreamSession(options: UpstreamSessionOptions): UpstreamSession {
  const { client, target, deliver, logger, signal } = options;
  const base = upstreamRequestHeaders(new Headers(), options.credentials, {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  });
  let sessionId: string | null = null;
  let protocolVersion: string | null = null;
  let initParams: unknown;
  let initializedSent = false;
  let ready: Promise<void> | undefined;
  let headers: Record<string, string> = base;
  let stream: AbortController | undefined;
  let initCount = 0;

  const adopt = (id: string | null, version: string | null) => {
    sessionId = id;
    protocolVersion = version;
    headers = { ...base };
    if (id !== null) headers['mcp-session-id'] = id;
    if (version !== null) headers['mcp-protocol-version'] = version;
  };

  const post = (body: Uint8Array | string, withSession = true) =>
    client.request(target, { method: 'POST', headers: withSession ? headers : base, body, signal });

  const resume = (lastEventId: string) =>
    client.request(target, {
      method: 'GET',
      headers: { ...headers, accept: 'text/event-stream', 'last-event-id': lastEventId },
      signal,
    });

  const reset = () => {
    stream?.abort();
    stream = undefined;
    initializedSent = false;
    adopt(null, null);
  };

  /** The standalone GET stream, reopened (with Last-Event-ID) whenever it ends, until the session does. */
  async function runStream(own: AbortSignal, forSession: string | null): Promise<void> {
    const state: ResumeState = { lastEventId: undefined, retryMs: undefined };
    let failures = 0;
    while (!own.aborted) {
      try {
        const h: Record<string, string> = { ...headers, accept: 'text/event-stream' };
        if (state.lastEventId !== undefined) h['last-event-id'] = state.lastEventId;
        const res = await client.request(target, { method: 'GET', headers: h, signal: own });
        if (res.status === 405) {
          await res.body?.cancel();
          return; // the upstream offers no standalone stream (2025-11-25 §Listening for Messages)
        }
        if (res.ok && res.body && isEventStream(res.headers.get('content-type'))) {
          failures = 0;
          await relaySseBody(res.body, { deliver }, state);
        } else {
          const text = await res.text();
          if (forSession !== null && isSessionLost(res.status, text)) {
            void reinitialize(forSession).catch((err) =>
              logger.warn({ code: (err as GatewayError).code }, 'upstream re-initialize failed'),
            );
            return;
          }
          failures++;
        }
      } catch {
        failures++;
      }
      if (own.aborted) return;
      const wait = failures === 0 ? (state.retryMs ?? 1_000) : 500 * 2 ** Math.min(failures, 6);
      await delay(Math.min(wait, MAX_STREAM_BACKOFF_MS), undefined, { signal: own }).catch(() => {});
    }
  }

  const openStream = () => {
    stream?.abort();
    if (signal.aborted) return;
    const own = new AbortController();
    stream = own;
    signal.addEventListener('abort', () => own.abort(), { once: true, signal: own.signal });
    void runStream(own.signal, sessionId);
  };

  /** The gateway's own initialize + initialized: the client never sees the result. */
  async function handshake(params: unknown): Promise<void> {
    const id = `mcpgate-init-${++initCount}`;
    const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params });
    const res = await post(body, false);
    if (!res.ok) {
      await res.body?.cancel();
      throw new GatewayError('ERR_UPSTREAM_UNREACHABLE', `Upstream refused initialize (HTTP ${res.status})`);
    }
    const newId = res.headers.get('mcp-session-id');
    const seen: { result?: { protocolVersion?: unknown } } = {};
    await relayReply(res, {
      deliver,
      awaiting: id,
      resume,
      signal,
      onAnswer: (m) => {
        seen.result = m.result as typeof seen.result;
        return false;
      },
    });
    const version = seen.result?.protocolVersion;
    if (!seen.result) throw new GatewayError('ERR_UPSTREAM_UNREACHABLE', 'Upstream initialize failed');
    adopt(newId, typeof version === 'string' ? version : null);
    initParams = params;
    const note = await post('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    await note.body?.cancel();
    initializedSent = true;
    openStream();
    options.onInitialized({ sessionId, protocolVersion, params, byClient: false });
    logger.info({ protocolVersion }, 'upstream initialized by the gateway');
  }

  const ensureReady = async (fallback: () => Promise<unknown>) => {
    if (!ready) {
      const attempt = (async () => handshake(initParams ?? (await fallback())))();
      ready = attempt;
      // A failed handshake is retried by the next message rather than remembered.
      attempt.catch(() => {
        if (ready === attempt) ready = undefined;
      });
    }
    await ready;
  };

  async function reinitialize(lost: string): Promise<void> {
    if (sessionId === lost) {
      logger.info('upstream session lost; re-initializing');
      reset();
      ready = undefined;
    }
    await ensureReady(async () => initParams);
  }

  const terminate = async () => {
    stream?.abort();
    if (sessionId === null) return;
    const id = sessionId;
    sessionId = null;
    try {
      const res = await client.request(target, {
        method: 'DELETE',
        headers: { ...headers, 'mcp-session-id': id },
        signal: AbortSignal.timeout(DELETE_TIMEOUT_MS),
      });
      await res.body?.cancel();
    } catch (err) {
      logger.debug({ code: (err as GatewayError).code }, 'upstream DELETE failed');
    }
  };

  return {
    get sessionId() {
      return sessionId;
    },
    get initialized() {
      return ready !== undefined;
    },

    async initializeForClient(message) {
      if (sessionId !== null) void terminate();
      reset();
      let settle!: () => void;
      ready = new Promise<void>((resolve) => {
        settle = resolve;
      });
      try {
        const res = await post(message.body, false);
        if (!res.ok) {
          ready = undefined;
          const text = await res.text();
          deliver(JSON.stringify({ jsonrpc: '2.0', error: upstreamError(res.status, text), id: message.id }));
          return;
        }
        const newId = res.headers.get('mcp-session-id');
        let ok = false;
        await relayReply(res, {
          deliver,
          awaiting: message.id,
          resume,
          signal,
          onAnswer: (m) => {
            const result = m.result as { protocolVersion?: unknown } | undefined;
            if (result) {
              ok = true;
              // Adopt before the client sees the result: its next message may follow at once.
              adopt(newId, typeof result.protocolVersion === 'string' ? result.protocolVersion : null);
              initParams = message.params;
              options.onInitialized({ sessionId, protocolVersion, params: message.params, byClient: true });
            }
            return true;
          },
        });
        if (!ok) ready = undefined;
      } catch (err) {
        ready = undefined;
        throw err;
      } finally {
        settle();
      }
    },

    ensureReady,

    async clientInitialized(message) {
      if (!initializedSent) {
        initializedSent = true;
        const res = await post(message.body);
        await res.body?.cancel();
      }
      if (!stream) openStream();
    },

    async forward(message) {
      for (let attempt = 0; ; attempt++) {
        const sent = sessionId;
        const res = await post(message.body);
        if (res.ok) {
          if (message.kind !== 'request') {
            await res.body?.cancel();
            return { ok: true };
          }
          if (await relayReply(res, { deliver, awaiting: message.id, resume, signal })) return { ok: true };
          return {
            ok: false,
            error: { code: JSONRPC.SERVER_ERROR, message: 'Upstream closed the stream before responding' },
          };
        }
        const text = await res.text();
        if (attempt === 0 && sent !== null && isSessionLost(res.status, text)) {
          await reinitialize(sent);
          continue;
        }
        return { ok: false, error: upstreamError(res.status, text) };
      }
    },

    terminate,
  };
}
