/**
 * One upstream exchange on undici's lowest public layer (`Dispatcher.dispatch`), for the pass-through's
 * hot path. Does I/O through the given dispatcher.
 *
 * Why not `fetch` or `request`: both wrap every response in stream machinery (WHATWG streams, or a Node
 * Readable plus an AsyncResource) that cost the gateway most of its per-message CPU (bench/RESULTS.md).
 * Here the body is a small queue: `bytes()` collects it, async iteration streams it with backpressure
 * (pause above a high-water mark, resume once drained), `destroy()` aborts the exchange, which drops the
 * upstream connection so the upstream sees the client go away.
 */
import type { Dispatcher } from 'undici';

/**
 * Request headers as undici takes them: a record, or a flat `[name, value, …]` list, which is cheaper to
 * extend per request than a record is to copy.
 */
export type DispatchHeaders = Record<string, string> | string[];

export interface DispatchInit {
  method: string;
  headers: DispatchHeaders;
  body?: Uint8Array | string | null;
  signal?: AbortSignal;
}

export interface DispatchedResponse {
  status: number;
  /** Lower-case names; repeated headers as arrays. */
  headers: Record<string, string | string[] | undefined>;
  body: UpstreamBody;
}

/** Queued bytes above which a streamed body pauses the upstream socket. */
const HIGH_WATER_BYTES = 256 * 1024;

type Waiter = { resolve(result: IteratorResult<Uint8Array>): void; reject(err: unknown): void };

export class UpstreamBody implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private queued = 0;
  private ended = false;
  private failure: unknown;
  private waiter: Waiter | undefined;
  private collector: (() => void) | undefined;
  /** Set once the exchange started; aborting it destroys the upstream socket. */
  controller: Dispatcher.DispatchController | undefined;

  push(chunk: Uint8Array): void {
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve({ done: false, value: chunk });
      return;
    }
    this.chunks.push(chunk);
    this.queued += chunk.byteLength;
    if (!this.collector && this.queued > HIGH_WATER_BYTES) this.controller?.pause();
  }

  end(err?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = err;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) {
      if (err === undefined) waiter.resolve({ done: true, value: undefined });
      else waiter.reject(err);
    }
    this.collector?.();
  }

  /** True once the whole body has arrived intact: nothing is left to wait for. */
  get complete(): boolean {
    return this.ended && this.failure === undefined;
  }

  /** The whole body once it has arrived; rejects if the exchange fails first. */
  async bytes(): Promise<Uint8Array> {
    if (!this.ended) await new Promise<void>((resolve) => (this.collector = resolve));
    if (this.failure !== undefined) throw this.failure;
    if (this.chunks.length === 1) return this.chunks[0]!;
    return Buffer.concat(this.chunks);
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.chunks.shift();
    if (chunk) {
      this.queued -= chunk.byteLength;
      if (this.controller?.paused && this.queued <= HIGH_WATER_BYTES / 2) this.controller.resume();
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.ended) {
      return this.failure === undefined
        ? Promise.resolve({ done: true, value: undefined })
        : Promise.reject(this.failure);
    }
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** Ends the exchange early (client gone, revocation): aborts the upstream request if still running. */
  destroy(err: Error = new Error('upstream body destroyed')): void {
    if (this.ended) return;
    this.controller?.abort(err);
    this.end(err);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.next(),
      return: async () => {
        this.destroy();
        return { done: true, value: undefined };
      },
    };
  }
}

const origins = new Map<string, { origin: string; path: string }>();

/** Brain URLs are few and reused on every message: parse each once. */
function split(url: string): { origin: string; path: string } {
  let parts = origins.get(url);
  if (!parts) {
    const u = new URL(url);
    parts = { origin: u.origin, path: `${u.pathname}${u.search}` };
    if (origins.size >= 1000) origins.clear();
    origins.set(url, parts);
  }
  return parts;
}

/**
 * Resolves at the response head (status and headers) with a body still arriving; rejects with undici's
 * error (or the signal's reason) if the exchange fails before that.
 */
export function dispatch(
  dispatcher: Dispatcher,
  url: string,
  init: DispatchInit,
): Promise<DispatchedResponse> {
  const { origin, path } = split(url);
  const { signal } = init;
  return new Promise((resolve, reject) => {
    const body = new UpstreamBody();
    let started = false;
    const reason = () => (signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    const onAbort = () => body.controller?.abort(reason());
    const settle = () => signal?.removeEventListener('abort', onAbort);

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        body.controller = controller;
        // The client may have gone while the connection was being set up.
        if (signal?.aborted) controller.abort(reason());
      },
      onResponseStart(_controller, statusCode, headers) {
        if (statusCode < 200) return; // 1xx informational: the real head follows
        started = true;
        resolve({ status: statusCode, headers: headers as DispatchedResponse['headers'], body });
      },
      onResponseData(_controller, chunk) {
        body.push(chunk);
      },
      onResponseEnd() {
        settle();
        body.end();
      },
      onResponseError(_controller, err) {
        settle();
        if (started) body.end(err);
        else reject(err);
      },
    };
    if (signal?.aborted) return reject(reason());
    signal?.addEventListener('abort', onAbort, { once: true });
    dispatcher.dispatch(
      {
        origin,
        path,
        method: init.method as Dispatcher.HttpMethod,
        headers: init.headers,
        body: init.body ?? null,
      },
      handler,
    );
  });
}
