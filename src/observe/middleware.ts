/**
 * The observe middleware for `/brains/*` (issue 7 §4–§6): gives each request its id and its Observation
 * before anything can refuse it, and hands the finished exchange to `Observe.finish`. No I/O.
 *
 * When an exchange ends: an ordinary answer when its last byte is written (a POST answered with SSE
 * carries the call's answer, so its latency is the call's); a GET answered with a stream when the stream
 * opens. Legacy `POST /messages` is finished per message by the face (`observation.perMessage`).
 */
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context.js';
import { createObservation, faceOfPath, requestIdFrom } from './observation.js';
import type { Observe } from './observe.js';

/** Set by @hono/node-server on a response the handler wrote to the Node socket itself. */
const ALREADY_SENT = 'x-hono-already-sent';

/**
 * @example
 * app.use('/brains/*', createObserveMiddleware(deps.observe));
 */
export function createObserveMiddleware(observe: Observe): MiddlewareHandler<AppEnv> {
  return async function observeRequest(c, next) {
    const observation = createObservation(
      requestIdFrom(c.req.header('x-request-id')),
      faceOfPath(c.req.path),
      performance.now(),
    );
    c.set('observation', observation);
    await next();
    if (observation.perMessage) return;

    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    const res = c.res;
    const sentByHandler = res.headers.has(ALREADY_SENT);
    const status = sentByHandler && outgoing ? outgoing.statusCode : res.status;
    const httpMethod = c.req.method;
    const principal = c.get('principal');
    const brain = c.get('brain')?.id;
    const session =
      observation.face === 'mcp'
        ? (c.req.header('mcp-session-id') ?? res.headers.get('mcp-session-id') ?? undefined)
        : c.req.query('sessionId');
    const finish = () =>
      observe.finish({
        observation,
        httpMethod,
        principal,
        brain,
        session,
        status: observation.failedWith ?? status,
        // Every authenticated POST is a JSON-RPC request (or a body that failed to be one), except a
        // client's answer to a server request.
        audit: httpMethod === 'POST' && observation.face !== 'other' && !observation.response,
        endedAt: performance.now(),
      });
    if (httpMethod === 'GET' || sentByHandler || !outgoing || outgoing.writableFinished || outgoing.destroyed)
      finish();
    else outgoing.once('close', finish);
  };
}
