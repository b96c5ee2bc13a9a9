/**
 * The legacy face's Node edge: what it reads from and writes to the Node request and response under
 * @hono/node-server, and why. I/O on the given request/response only.
 *
 * - The SSE stream is written on the Node response (src/bridge/client-stream.ts says why), and so is the
 *   202 of every POST: no Response and Headers objects per message on the face's hottest path.
 * - A small POST body is usually all in Node's buffer by the time auth has run: read there at once
 *   instead of through the web stream's ticks.
 * A response written this way skips what middleware would have added after the handler, so the headers
 * middleware has already set (CORS, which sets them before the handler) are carried over by hand.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import { tooLarge } from '../proxy/body.js';

/** The Node request and response @hono/node-server passes as the handler's env (absent elsewhere). */
export function nodeOf(c: Context): { incoming?: IncomingMessage; outgoing?: ServerResponse } {
  return (c.env ?? {}) as { incoming?: IncomingMessage; outgoing?: ServerResponse };
}

/**
 * Headers middleware set on this response so far, for a response written on the Node socket. Only read
 * when such middleware is mounted (`present`): reading `c.res` would otherwise build a Response for nothing.
 */
export function middlewareHeaders(c: Context, present: boolean): Record<string, string> {
  if (!present) return {};
  const out: Record<string, string> = {};
  c.res.headers.forEach((value, name) => {
    if (name !== 'content-type' && name !== 'content-length') out[name] = value;
  });
  return out;
}

/**
 * The whole body when Node already holds all of it and nobody has started reading it; undefined
 * otherwise (the caller then reads the web body).
 */
export function bufferedBody(incoming: IncomingMessage | undefined, maxBytes: number): string | undefined {
  if (!incoming || incoming.readableFlowing || incoming.readableDidRead) return undefined;
  // `complete` turns true only once the parser has finished the message, which is after the microtasks
  // of the request's handler: a small body is usually in the buffer well before that, and the parser
  // never buffers more than the declared length.
  const declared = Number(incoming.headers['content-length']);
  const whole = incoming.complete || (Number.isInteger(declared) && incoming.readableLength >= declared);
  if (!whole) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for (
    let chunk = incoming.read() as Buffer | null;
    chunk !== null;
    chunk = incoming.read() as Buffer | null
  ) {
    chunks.push(chunk);
    size += chunk.length;
  }
  if (size > maxBytes) throw tooLarge(maxBytes);
  return (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8');
}

const ACCEPTED = 'Accepted';

/** `202 Accepted` (the body the SDK's SSEServerTransport sends) on a Node response. */
export function writeAccepted(res: ServerResponse, headers: Record<string, string>): void {
  res.writeHead(202, { ...headers, 'content-type': 'text/plain; charset=UTF-8', 'content-length': '8' });
  res.end(ACCEPTED);
}

/** `202 Accepted`, on the Node response when there is one. */
export function accepted(c: Context, headers: Record<string, string>): Response {
  const res = nodeOf(c).outgoing;
  if (!res) return new Response(ACCEPTED, { status: 202, headers });
  writeAccepted(res, headers);
  return RESPONSE_ALREADY_SENT;
}
