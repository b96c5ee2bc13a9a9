/**
 * Relays an upstream SSE body to the client chunk by chunk, adding a keep-alive comment after a quiet
 * spell. Pure stream plumbing plus one timer per stream.
 *
 * Why: intermediaries (Fly's proxy, nginx, corporate proxies) cut connections that stay idle for ~60 s,
 * and a standalone GET stream can be quiet for hours. The comment is written only at an event boundary,
 * never inside an event an upstream paused half-way through (issue 3 §6): SSE comments in the middle of
 * a `data:` block would still parse, but a comment in the middle of a *line* would corrupt it, and we
 * cannot tell those apart without tracking line ends — so we track them.
 *
 * Each upstream chunk is enqueued as it arrives (no coalescing, no re-framing: bytes pass unchanged).
 * Cancelling the relay (client gone) ends the upstream body, which makes undici drop the upstream
 * connection, so the upstream sees the disconnect.
 */
import { KEEPALIVE_COMMENT } from '../mcp/sse.js';

const LF = 0x0a;
const CR = 0x0d;
const COMMENT = new TextEncoder().encode(KEEPALIVE_COMMENT);

export type RelayEnd = 'end' | 'error' | 'cancel';

export interface SseRelayOptions {
  keepAliveMs: number;
  /** Called once when the relay stops: upstream ended, upstream failed, or the client went away. */
  onEnd?: (how: RelayEnd, err?: unknown) => void;
  /**
   * Receives the function that writes one whole event of the gateway's own (admin notify) onto the
   * relayed stream: at once when the upstream is between events, else as soon as its event ends.
   */
  withInjector?: (inject: (event: Uint8Array) => boolean) => void;
  now?: () => number;
}

/** Gateway events waiting for the upstream to finish an event; beyond this a push is refused. */
const MAX_WAITING_INJECTIONS = 16;

/**
 * Tracks whether the bytes written so far end at an SSE event boundary (an empty line, WHATWG HTML
 * §9.2.6: lines end in CRLF, LF or CR). Only the last three bytes matter: a final line terminator of at
 * most two bytes preceded by another terminator.
 */
export class EventBoundary {
  private readonly tail = new Uint8Array(3);
  private length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.byteLength >= 3) {
      this.tail.set(chunk.subarray(chunk.byteLength - 3));
      this.length = 3;
      return;
    }
    for (const byte of chunk) {
      if (this.length === 3) this.tail.copyWithin(0, 1);
      else this.length += 1;
      this.tail[this.length - 1] = byte;
    }
  }

  /** True before anything was written and right after an event (or comment) ended. */
  get atBoundary(): boolean {
    let i = this.length;
    if (i === 0) return true;
    const last = this.tail[i - 1];
    if (last === LF) {
      i -= 1;
      if (i > 0 && this.tail[i - 1] === CR) i -= 1;
    } else if (last === CR) {
      i -= 1;
    } else {
      return false;
    }
    // Only a terminator written so far (stream began with an empty line): nothing is pending.
    if (i === 0) return true;
    const before = this.tail[i - 1];
    return before === LF || before === CR;
  }
}

/** Something to relay: an upstream body (undici's, or a WHATWG ReadableStream — both are async iterable). */
export type ByteSource = AsyncIterable<Uint8Array>;

/**
 * @example
 * const body = relaySse(upstream.body, { keepAliveMs: config.keepAliveMs, onEnd: () => unregister() });
 * return new Response(body, { status: upstream.status, headers });
 */
export function relaySse(upstream: ByteSource, options: SseRelayOptions): ReadableStream<Uint8Array> {
  const { keepAliveMs } = options;
  const now = options.now ?? Date.now;
  const boundary = new EventBoundary();
  const iterator = upstream[Symbol.asyncIterator]();
  let lastWrite = now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ended = false;
  let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Injected events held back while the upstream is inside one of its own. */
  const waiting: Uint8Array[] = [];

  const flushWaiting = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    for (const event of waiting.splice(0)) controller.enqueue(event);
  };

  /** False when the stream ended or its client stopped reading (the push is dropped, never piled up). */
  const inject = (event: Uint8Array): boolean => {
    if (ended || !stream || (stream.desiredSize ?? 0) <= -MAX_WAITING_INJECTIONS) return false;
    if (!boundary.atBoundary) {
      if (waiting.length >= MAX_WAITING_INJECTIONS) return false;
      waiting.push(event);
      return true;
    }
    stream.enqueue(event);
    lastWrite = now();
    return true;
  };

  const finish = (how: RelayEnd, err?: unknown) => {
    if (ended) return;
    ended = true;
    if (timer) clearTimeout(timer);
    options.onEnd?.(how, err);
  };

  const arm = (controller: ReadableStreamDefaultController<Uint8Array>, delay: number) => {
    timer = setTimeout(() => tick(controller), delay);
    // A quiet stream must not keep the process alive on its own (shutdown closes streams explicitly).
    (timer as { unref?: () => void }).unref?.();
  };

  const tick = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    if (ended) return;
    const idle = now() - lastWrite;
    if (idle < keepAliveMs) return arm(controller, keepAliveMs - idle);
    // Mid-event (upstream paused inside one) or a client not reading: try again after another interval.
    if (boundary.atBoundary && (controller.desiredSize ?? 0) > 0) {
      controller.enqueue(COMMENT);
      lastWrite = now();
    }
    arm(controller, keepAliveMs);
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      stream = controller;
      arm(controller, keepAliveMs);
      options.withInjector?.(inject);
    },
    async pull(controller) {
      try {
        const { done, value } = await iterator.next();
        if (ended) return;
        if (done) {
          finish('end');
          controller.close();
          return;
        }
        boundary.push(value);
        lastWrite = now();
        controller.enqueue(value);
        if (waiting.length > 0 && boundary.atBoundary) flushWaiting(controller);
      } catch (err) {
        if (ended) return;
        // The upstream broke off (or was ended on revocation/shutdown): end the client's stream cleanly
        // so it reconnects, rather than resetting the socket.
        finish('error', err);
        controller.close();
      }
    },
    async cancel(reason) {
      finish('cancel');
      // Ending the iteration destroys undici's body, which drops the upstream connection.
      await iterator.return?.(reason)?.catch(() => {});
    },
  });
}

/**
 * A plain relay for non-SSE bodies too large to collect: chunks pass as they come; cancelling it ends
 * the upstream body. Errors reach the client as a reset, since a truncated JSON body must not look whole.
 */
export function relayBytes(upstream: ByteSource): ReadableStream<Uint8Array> {
  const iterator = upstream[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await iterator.return?.(reason)?.catch(() => {});
    },
  });
}
