/**
 * The upstream's standalone GET stream for one bridged session (2025-11-25 §Listening for Messages from
 * the Server): everything the upstream pushes unprompted (logs, list_changed, resources/updated,
 * server→client requests) arrives here and goes to the client. Does I/O through the given `open`.
 *
 * Reopened whenever it ends, with `Last-Event-ID` when the upstream gave ids and after its `retry:`
 * (SEP-1699 lets servers close GET streams and expect a poll); backs off while the upstream is down.
 * 405 means the upstream has no such stream: fine, stop. A lost session is reported, not retried.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isEventStream } from '../proxy/headers.js';
import type { UpstreamRawResponse } from '../proxy/upstream.js';
import { isSessionLost } from './upstream-errors.js';
import { type Deliver, headerOf, type ResumeState, relaySseBody, textOf } from './upstream-to-client.js';

export interface StandaloneStreamOptions {
  /** Sends the GET (with `last-event-id` when given), aborted by `signal`. */
  open(lastEventId: string | undefined): Promise<UpstreamRawResponse>;
  deliver: Deliver;
  /** Ends the loop: the session closed or the stream was replaced (re-initialize). */
  signal: AbortSignal;
  /** The upstream no longer knows the session (restart): the caller re-initializes. */
  onSessionLost(): void;
}

const DEFAULT_RETRY_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

export async function runStandaloneStream(options: StandaloneStreamOptions): Promise<void> {
  const { signal } = options;
  const state: ResumeState = { lastEventId: undefined, retryMs: undefined };
  let failures = 0;
  while (!signal.aborted) {
    try {
      const res = await options.open(state.lastEventId);
      if (res.status === 405) {
        res.body.destroy();
        return;
      }
      if (res.status === 200 && isEventStream(headerOf(res, 'content-type'))) {
        failures = 0;
        await relaySseBody(res.body, { deliver: options.deliver }, state);
      } else {
        if (isSessionLost(res.status, await textOf(res))) {
          if (!signal.aborted) options.onSessionLost();
          return;
        }
        failures++;
      }
    } catch {
      failures++; // unreachable or timed out (an upstream restarting): back off and try again
    }
    if (signal.aborted) return;
    const wait = failures === 0 ? (state.retryMs ?? DEFAULT_RETRY_MS) : 250 * 2 ** Math.min(failures, 7);
    await delay(Math.min(wait, MAX_BACKOFF_MS), undefined, { signal }).catch(() => {});
  }
}
