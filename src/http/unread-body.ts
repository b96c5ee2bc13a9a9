/**
 * Closes the connection after a request whose body was refused unread (issue 7 §9: "100 MiB bodies
 * refused early"). No I/O of its own: it sets `Connection: close` on the answer.
 *
 * A request answered before its body was read (401 before auth, 413 on a declared length over the limit,
 * 404 for an unknown route) leaves the rest of that body on the socket, and node:http would read it to
 * the end and throw it away to keep the connection alive: 100 MiB declared is 100 MiB received. With
 * `Connection: close` Node ends the socket once the answer is written, so the client learns at once and
 * stops sending.
 */
import type { IncomingMessage } from 'node:http';
import type { MiddlewareHandler } from 'hono';

/** Set by @hono/node-server on a response the handler wrote to the Node socket itself. */
const ALREADY_SENT = 'x-hono-already-sent';

export function createUnreadBodyClose(): MiddlewareHandler {
  return async function closeAfterUnreadBody(c, next) {
    await next();
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    // `complete`: Node has parsed the whole request, body included (at once for a request without one).
    if (!incoming || incoming.complete || c.res.headers.has(ALREADY_SENT)) return;
    c.res.headers.set('connection', 'close');
  };
}
