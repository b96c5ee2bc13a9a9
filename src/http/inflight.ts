/**
 * Work in flight, so a drain can wait for it (issue 5 §6: "in-flight calls finish"). Pure counting, plus
 * one Hono middleware that counts requests.
 *
 * What counts, and until when:
 * - an ordinary request: until its response is fully written (the Node response's `close`), so a JSON
 *   answer streamed from the upstream counts until its last byte;
 * - a POST answered with an SSE stream (a Streamable HTTP request-scoped stream): likewise until it ends,
 *   because that stream carries the call's answer and then closes (2025-11-25 transports);
 * - a GET answered with an SSE stream (standalone stream, legacy `/sse`): until the handler has returned
 *   the stream, i.e. its first byte. Those never end by themselves; the shutdown hooks close them.
 * Work a face accepted but finishes later (a legacy POST answered 202, whose reply goes out on the SSE
 * stream) is counted by the face itself with `begin()`.
 */
import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { isEventStream } from '../proxy/headers.js';

export interface Inflight {
  /** Counts one unit of work; call the returned function when it ends (later calls do nothing). */
  begin(): () => void;
  readonly active: number;
  /** Resolves true as soon as nothing is in flight, or false once `timeoutMs` has passed. */
  idle(timeoutMs: number): Promise<boolean>;
}

export function createInflight(): Inflight {
  let active = 0;
  const waiters = new Set<() => void>();

  return {
    begin() {
      active++;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        active--;
        if (active === 0) for (const wake of [...waiters]) wake();
      };
    },
    get active() {
      return active;
    },
    idle(timeoutMs) {
      if (active === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (value: boolean) => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(value);
        };
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        waiters.add(wake);
      });
    },
  };
}

/** Set by @hono/node-server on a response the handler wrote to the Node socket itself. */
const ALREADY_SENT = 'x-hono-already-sent';

/**
 * Counts every request passing through it (see the module header for how long).
 *
 * @example
 * app.use('*', createInflightMiddleware(deps.lifecycle.inflight));
 */
export function createInflightMiddleware(inflight: Inflight): MiddlewareHandler {
  return async function countInflight(c, next) {
    const end = inflight.begin();
    try {
      await next();
    } catch (err) {
      end();
      throw err;
    }
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    const standaloneStream =
      c.res.headers.has(ALREADY_SENT) ||
      (c.req.method === 'GET' && isEventStream(c.res.headers.get('content-type')));
    if (standaloneStream || !outgoing || outgoing.destroyed || outgoing.writableFinished) end();
    else outgoing.once('close', end);
  };
}
