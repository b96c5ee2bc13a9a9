/**
 * The pass-through's open SSE streams on this instance, so they can be ended from outside the request:
 * a revoked token's streams close at once (DESIGN.md §3: "closes its live sessions"), a removed brain's
 * streams close, and shutdown closes them all so clients reconnect to a live instance (DESIGN.md §4).
 * In-process state only: each instance closes the streams it holds when the bus tells it to.
 */
import type { EventBus } from '../events.js';
import type { Lifecycle } from '../http/context.js';

export interface LiveStream {
  tokenId: string;
  brain: string;
  /** Aborts the upstream exchange; the relay then ends the client's stream cleanly. */
  abort(reason: string): void;
}

export interface LiveStreams {
  /** Registers a stream; the returned function unregisters it (call it when the stream ends). */
  add(stream: LiveStream): () => void;
  readonly size: number;
}

export function createLiveStreams(options: { bus: EventBus; lifecycle: Lifecycle }): LiveStreams {
  const streams = new Set<LiveStream>();

  const abortWhere = (match: (s: LiveStream) => boolean, reason: string) => {
    for (const stream of [...streams]) {
      if (!match(stream)) continue;
      streams.delete(stream);
      stream.abort(reason);
    }
  };

  options.bus.subscribe((event) => {
    if (event.type === 'token.revoked') abortWhere((s) => s.tokenId === event.tokenId, 'token revoked');
    else if (event.type === 'brain.deleted') abortWhere((s) => s.brain === event.brainId, 'brain deleted');
  });
  options.lifecycle.onShutdown(() => abortWhere(() => true, 'shutting down'));

  return {
    add(stream) {
      streams.add(stream);
      return () => {
        streams.delete(stream);
      };
    },
    get size() {
      return streams.size;
    },
  };
}
