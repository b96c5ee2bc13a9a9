/**
 * The legacy client's SSE stream (2024-11-05 HTTP+SSE): frames written straight onto the Node response,
 * with a bounded outgoing buffer. I/O: writes to and may destroy the client's socket.
 *
 * Why the Node response and not a web ReadableStream: @hono/node-server stops reading a response stream
 * while the socket is waiting for 'drain', so a client that stops reading would leave our frames queued
 * where we can neither measure them nor drop the connection. On the Node response, `writableLength` is
 * the real backlog and `destroy()` really disconnects (issue 4 "bounded memory").
 */
import type { ServerResponse } from 'node:http';
import { SSE_RESPONSE_HEADERS } from '../proxy/headers.js';

const END_GRACE_MS = 5_000;

export type ClientStreamEnd = 'client closed' | 'client not reading';

export interface ClientStream {
  /** Writes one SSE frame; false when the stream is gone. Disconnects a client whose backlog passed the bound. */
  write(frame: string): boolean;
  readonly closed: boolean;
  /** Ends the stream gracefully (the client's EventSource reconnects). */
  end(): void;
}

export interface ClientStreamOptions {
  res: ServerResponse;
  /** Extra response headers (CORS); the SSE ones are fixed. */
  headers?: Record<string, string>;
  maxBufferedBytes: number;
  /** Called once, when the client's connection is gone; `backlog` is what was left unsent. */
  onClose(reason: ClientStreamEnd, backlog: number): void;
}

export function openClientStream(options: ClientStreamOptions): ClientStream {
  const { res, maxBufferedBytes } = options;
  let closed = false;
  let reason: ClientStreamEnd = 'client closed';
  let backlog = 0;
  const report = () => {
    if (closed) return;
    closed = true;
    options.onClose(reason, backlog);
  };

  res.once('close', report);
  if (res.destroyed) {
    // The client left while the session was being set up ('close' may already have fired): report it once
    // the caller has finished wiring up.
    queueMicrotask(report);
  } else {
    res.writeHead(200, { ...options.headers, ...SSE_RESPONSE_HEADERS, connection: 'keep-alive' });
  }

  return {
    write(frame) {
      if (closed || res.destroyed) return false;
      // Judged before writing: one large message (a 5 MiB tool result) may pass a reading client, but a
      // client still sitting on more than the bound when the next frame comes has stopped reading.
      if (res.writableLength > maxBufferedBytes) {
        reason = 'client not reading';
        backlog = res.writableLength;
        res.destroy();
        return false;
      }
      // Out now, in one writev: left to itself, a chunked response corks the socket and writes on the
      // next tick, after every microtask queued meanwhile (the message's audit and metrics among them).
      const socket = res.socket;
      socket?.cork();
      res.write(frame);
      socket?.uncork();
      return true;
    },
    get closed() {
      return closed;
    },
    end() {
      if (closed || res.writableEnded) return;
      res.end();
      // A client that stopped reading would hold an ended response open forever: drop it after a grace.
      const force = setTimeout(() => res.destroy(), END_GRACE_MS);
      force.unref();
      res.once('close', () => clearTimeout(force));
    },
  };
}
