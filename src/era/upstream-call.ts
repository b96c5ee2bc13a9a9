/**
 * One stateless 2026-07-28 exchange with a modern upstream: POST a request, read its answer (JSON, or a
 * request-scoped SSE stream whose notifications come first), give back the final response. Does I/O
 * through the shared UpstreamClient.
 *
 * Cancelling is closing the response stream (spec2026.md §1.4: no `notifications/cancelled` over HTTP),
 * which is what aborting `signal` does. Network failures reject with the UpstreamClient's GatewayError.
 */
import { JSONRPC } from '../mcp/jsonrpc.js';
import { readSseStream } from '../mcp/sse.js';
import { newRequestId } from '../observe/observation.js';
import { isEventStream } from '../proxy/headers.js';
import type { UpstreamClient, UpstreamRawResponse, UpstreamTarget } from '../proxy/upstream.js';
import { type ClientSide, modernRequest } from './wire.js';

/** Where a brain's modern upstream is and how to reach it. */
export interface ModernUpstream {
  client: UpstreamClient;
  target: UpstreamTarget;
  credentials: Readonly<Record<string, string>>;
}

export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}

/** The upstream's final answer: a result or an error, and the HTTP status it came with. */
export type ModernReply =
  | { status: number; result: Record<string, unknown>; error?: undefined }
  | { status: number; result?: undefined; error: JsonRpcError };

export interface ModernCall {
  method: string;
  params: unknown;
  client: ClientSide;
  paramHeaders?: Readonly<Record<string, string>> | undefined;
  signal?: AbortSignal | undefined;
  /**
   * The `X-Request-Id` of the client request this call serves (issue 7 §6). Absent for the gateway's own
   * calls (the era probe, the tool catalog), which are shared by many requests: they get a fresh id.
   */
  requestId?: string | undefined;
  /** A notification that came before the answer on a request-scoped SSE stream (progress, log). */
  onNotification?: ((message: Record<string, unknown>) => void) | undefined;
}

let nextId = 0;
/** Upstream ids are the gateway's: a retried MRTR round needs a new one (spec2026.md §1.5). */
export const upstreamId = () => `mcpgate-${++nextId}`;

function header(res: UpstreamRawResponse, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function text(res: UpstreamRawResponse): Promise<string> {
  const bytes = await res.body.bytes();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

function parse(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function asError(value: unknown): JsonRpcError | undefined {
  const e = value as Partial<JsonRpcError> | null | undefined;
  if (typeof e?.code !== 'number' || typeof e.message !== 'string') return undefined;
  return e.data === undefined
    ? { code: e.code, message: e.message }
    : { code: e.code, message: e.message, data: e.data };
}

function replyOf(status: number, message: Record<string, unknown> | undefined): ModernReply | undefined {
  const error = asError(message?.error);
  if (error) return { status, error };
  const result = message?.result;
  if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
    return { status, result: result as Record<string, unknown> };
  }
  return undefined;
}

/** What a client is told when the upstream answered with something that is not JSON-RPC. */
export function httpError(status: number): JsonRpcError {
  return { code: JSONRPC.SERVER_ERROR, message: `Upstream error: HTTP ${status}` };
}

/**
 * @example
 * const reply = await callModern(upstream, { method: 'tools/list', params: {}, client });
 * if (reply.error) … else reply.result.tools
 */
export async function callModern(upstream: ModernUpstream, call: ModernCall): Promise<ModernReply> {
  const id = upstreamId();
  const { headers, body } = modernRequest({
    id,
    method: call.method,
    params: call.params,
    client: call.client,
    paramHeaders: call.paramHeaders,
    credentials: upstream.credentials,
    requestId: call.requestId ?? newRequestId(),
  });
  const res = await upstream.client.send(upstream.target, {
    method: 'POST',
    headers,
    body,
    signal: call.signal,
  });
  if (!isEventStream(header(res, 'content-type'))) {
    const reply = replyOf(res.status, parse(await text(res)));
    return reply ?? { status: res.status, error: httpError(res.status) };
  }
  let reply: ModernReply | undefined;
  try {
    await readSseStream(res.body, {
      onEvent(event) {
        if (reply || event.data === '') return;
        const message = parse(event.data);
        if (!message) return;
        if (typeof message.method === 'string' && message.id === undefined) {
          call.onNotification?.(message);
          return;
        }
        if (message.id === id) reply = replyOf(res.status, message);
      },
    });
  } catch (err) {
    if (call.signal?.aborted) throw call.signal.reason ?? err;
  } finally {
    res.body.destroy();
  }
  // A broken response stream loses the request (spec2026.md §1.1): the client hears of it.
  return (
    reply ?? {
      status: 502,
      error: { code: JSONRPC.SERVER_ERROR, message: 'Upstream closed the stream before responding' },
    }
  );
}
