/**
 * Turns the upstream's answer into the client's Response, status and body unchanged. Pure apart from
 * reading the upstream body.
 *
 * Three shapes (2025-11-25 transports §Sending Messages: a POST answer is JSON or SSE; 202 has no body):
 * - no body (202, 204, `content-length: 0`): the status and headers alone;
 * - SSE: relayed event by event with keep-alives (./keepalive.ts), never waited for — only a stream
 *   that had already ended when its head arrived goes out in one piece;
 * - anything else: a body that declares a small length is read whole first — it is one JSON-RPC message
 *   the client cannot use before its last byte anyway, and a byte array lets @hono/node-server write it
 *   in one go instead of through a WHATWG stream per response (most of the hop's cost, see bench/);
 *   bodies of unknown or larger length stream through unchanged.
 */
import { clientResponseHeaderRecord, isEventStream, SSE_RESPONSE_HEADERS } from './headers.js';
import { type RelayEnd, relayBytes, relaySse } from './keepalive.js';
import type { UpstreamRawResponse } from './upstream.js';

/** Largest declared body read whole before answering; larger ones stream. */
export const COLLECT_MAX_BYTES = 256 * 1024;

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

export interface ClientResponseOptions {
  keepAliveMs: number;
  /**
   * Called when an SSE relay starts, with a function that ends it from outside (revocation, shutdown)
   * and one that writes an event of the gateway's own onto it (admin notify); returns the function to
   * call when the relay ends.
   */
  onStream(end: (reason: string) => void, inject: (event: Uint8Array) => boolean): () => void;
  onStreamEnd?(how: RelayEnd, err?: unknown): void;
}

/**
 * @example
 * const response = await toClientResponse(await upstream.send(target, init), { keepAliveMs, onStream });
 */
export async function toClientResponse(
  upstream: UpstreamRawResponse,
  options: ClientResponseOptions,
): Promise<Response> {
  const { status, body } = upstream;
  const headers = clientResponseHeaderRecord(upstream.headers);
  const declared = upstream.headers['content-length'];
  const length = typeof declared === 'string' ? Number(declared) : Number.NaN;

  if (NULL_BODY_STATUS.has(status) || length === 0) {
    body.destroy();
    return new Response(null, { status, headers });
  }
  if (isEventStream(headers['content-type'])) {
    for (const [name, value] of Object.entries(SSE_RESPONSE_HEADERS)) {
      if (name !== 'content-type') headers[name] = value;
    }
    // A request-scoped stream that already ended (one event and the end, in the packet that carried the
    // head: the usual tools/call answer) has nothing left to stream; sending what arrived is no delay.
    if (body.complete) return new Response(await body.bytes(), { status, headers });
    // Chunked from the first byte: @hono/node-server otherwise probes the first reads of a streamed body
    // (with a timer) to compute a content-length, which a live stream never has.
    headers['transfer-encoding'] = 'chunked';
    let inject: (event: Uint8Array) => boolean = () => false;
    let unregister = () => {};
    const relayed = relaySse(body, {
      keepAliveMs: options.keepAliveMs,
      withInjector: (fn) => {
        inject = fn;
      },
      onEnd: (how, err) => {
        unregister();
        options.onStreamEnd?.(how, err);
      },
    });
    unregister = options.onStream((reason) => body.destroy(new Error(reason)), inject);
    return new Response(relayed, { status, headers });
  }
  if (length <= COLLECT_MAX_BYTES) {
    return new Response(await body.bytes(), { status, headers });
  }
  headers['transfer-encoding'] = 'chunked';
  return new Response(relayBytes(body), { status, headers });
}
