/**
 * Forgets pass-through and translated sessions nobody has used for `MCPGATE_SESSION_IDLE_TTL_MS`. Clients
 * rarely send DELETE: without this, every session they walked away from would stay in the store for good
 * (in the process's memory on the embedded store). A client that comes back later gets 404 and
 * re-initializes, as it would after its upstream expired the session. Does I/O through the Store only;
 * every instance runs it (deleting by age is idempotent), one pass per quarter of the TTL, at most every
 * ten minutes.
 *
 * Use refreshes `lastSeenAt` at most once a minute (src/sessions/passthrough-binding.ts `noteUse`,
 * src/era/translated-sessions.ts `lookup`), far below the smallest TTL allowed (five minutes).
 * Legacy sessions are not expired here: they live as long as their client's stream and their owner.
 */
import type { Logger } from '../log.js';
import type { SessionKind, Store } from '../store/types.js';

const EXPIRABLE: readonly SessionKind[] = ['passthrough', 'translated'];
const MAX_INTERVAL_MS = 10 * 60_000;

export interface SessionExpiry {
  /** One pass: deletes what has been idle too long; returns how many. Never throws. */
  runOnce(): Promise<number>;
  stop(): void;
}

export function startSessionExpiry(options: {
  store: Store;
  idleTtlMs: number;
  logger: Logger;
  now?: () => number;
}): SessionExpiry {
  const { store, idleTtlMs, logger } = options;
  const now = options.now ?? Date.now;

  async function runOnce(): Promise<number> {
    try {
      const expired = await store.expireIdleSessions({
        kinds: EXPIRABLE,
        before: new Date(now() - idleTtlMs),
      });
      if (expired > 0) logger.info({ sessions: expired }, 'expired idle sessions');
      return expired;
    } catch (err) {
      // The store is away: the next pass catches up.
      logger.warn({ code: (err as { code?: string }).code }, 'idle session expiry failed');
      return 0;
    }
  }

  const timer =
    idleTtlMs > 0
      ? setInterval(() => void runOnce(), Math.min(MAX_INTERVAL_MS, Math.floor(idleTtlMs / 4)))
      : undefined;
  timer?.unref();
  return {
    runOnce,
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}
