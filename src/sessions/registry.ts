/**
 * The live sessions held by this instance, across faces: who to push to, whom to close when a token is
 * revoked or a brain deleted, and the one keep-alive timer for every open client stream. In-process
 * state only (the Store holds the durable record); no I/O of its own beyond calling the sessions.
 *
 * One shared timer instead of one per session keeps an idle session down to its two sockets
 * (DESIGN.md §7, issue 4 "bounded memory").
 */
import type { EventBus } from '../events.js';
import type { SessionKind } from '../store/types.js';

/** What a face registers for each client stream it holds open. */
export interface LiveSession {
  readonly id: string;
  readonly kind: SessionKind;
  readonly org: string;
  readonly brain: string;
  readonly tokenId: string;
  /** Writes one serialized JSON-RPC message onto the client's stream; false when it could not. */
  push(message: string): boolean;
  /** Called every keep-alive interval: write a comment so proxies keep the stream open. */
  keepAlive(): void;
  /** Ends the client stream and releases the upstream side; resolves once cleaned up. */
  close(reason: string): Promise<void>;
}

export interface NotifyParams {
  level: string;
  logger?: string;
  data: unknown;
}

export interface SessionRegistry {
  add(session: LiveSession): void;
  remove(session: LiveSession): void;
  readonly size: number;
  /** Live sessions by kind (metrics: `mcpgate_live_sessions`). */
  countByKind(): Record<string, number>;
  /** Pushes `notifications/message` to every live session of the brain here; returns how many got it. */
  notifyBrain(brain: string, params: NotifyParams): number;
  /** Closes every session matching the predicate; returns how many. */
  closeWhere(predicate: (session: LiveSession) => boolean, reason: string): Promise<number>;
  /**
   * The `initialize` params a token last used on a brain, as seen on this instance. The store keeps the
   * durable copy; this one is set before the client sees its initialize result, so a client that
   * reconnects at once (and does not re-initialize) never races the store write.
   */
  rememberInit(tokenId: string, brain: string, params: unknown): void;
  recallInit(tokenId: string, brain: string): unknown | undefined;
  /** Stops the timer and the bus subscription. */
  dispose(): void;
}

export interface SessionRegistryOptions {
  bus: EventBus;
  keepAliveMs: number;
  /**
   * Which of these tokens and brains are gone (revoked, deleted): asked after a bus `resync`, since
   * events published while the listener was away (a revocation among them) never arrive.
   */
  lapsed?: (live: { tokenIds: string[]; brainIds: string[] }) => Promise<{
    tokenIds: ReadonlySet<string>;
    brainIds: ReadonlySet<string>;
  }>;
}

/** Builds the JSON-RPC notification once, so a brain with many sessions serializes it a single time. */
export function logNotification(params: NotifyParams): string {
  const p: NotifyParams = { level: params.level, data: params.data };
  if (params.logger !== undefined) p.logger = params.logger;
  return JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: p });
}

/** A resync recheck that could not reach the store is tried again this many times, backing off. */
const RECHECK_ATTEMPTS = 5;
const RECHECK_RETRY_MS = 2_000;

export function createSessionRegistry(options: SessionRegistryOptions): SessionRegistry {
  const sessions = new Set<LiveSession>();
  let timer: NodeJS.Timeout | undefined;
  const lastInit = new Map<string, unknown>();
  const MAX_REMEMBERED = 10_000;

  const sweep = () => {
    for (const session of sessions) session.keepAlive();
  };

  const closeWhere = async (predicate: (session: LiveSession) => boolean, reason: string) => {
    const matched = [...sessions].filter(predicate);
    await Promise.allSettled(matched.map((s) => s.close(reason)));
    return matched.length;
  };

  const registry: SessionRegistry = {
    add(session) {
      sessions.add(session);
      if (!timer) {
        timer = setInterval(sweep, options.keepAliveMs);
        timer.unref();
      }
    },
    remove(session) {
      sessions.delete(session);
      if (sessions.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    },
    get size() {
      return sessions.size;
    },
    countByKind() {
      const counts: Record<string, number> = {};
      for (const session of sessions) counts[session.kind] = (counts[session.kind] ?? 0) + 1;
      return counts;
    },
    notifyBrain(brain, params) {
      const message = logNotification(params);
      let delivered = 0;
      for (const session of sessions) if (session.brain === brain && session.push(message)) delivered++;
      return delivered;
    },
    closeWhere,
    rememberInit(tokenId, brain, params) {
      const key = `${brain}\u0000${tokenId}`;
      lastInit.delete(key);
      if (lastInit.size >= MAX_REMEMBERED) lastInit.delete(lastInit.keys().next().value as string);
      lastInit.set(key, params);
    },
    recallInit(tokenId, brain) {
      return lastInit.get(`${brain}\u0000${tokenId}`);
    },
    dispose() {
      unsubscribe();
      if (retry) clearTimeout(retry);
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };

  /** After missed events: ends the sessions whose token or brain went away meanwhile. */
  let retry: NodeJS.Timeout | undefined;
  const recheck = async (attempt = 1) => {
    if (retry) clearTimeout(retry);
    retry = undefined;
    if (!options.lapsed || sessions.size === 0) return;
    const live = [...sessions];
    try {
      const gone = await options.lapsed({
        tokenIds: [...new Set(live.map((s) => s.tokenId))],
        brainIds: [...new Set(live.map((s) => s.brain))],
      });
      await closeWhere(
        (s) => gone.tokenIds.has(s.tokenId) || gone.brainIds.has(s.brain),
        'token revoked or brain removed while events were missed',
      );
    } catch {
      // The store is still recovering: try again a little later, a few times (no resync may follow).
      if (attempt >= RECHECK_ATTEMPTS) return;
      retry = setTimeout(() => void recheck(attempt + 1), RECHECK_RETRY_MS * attempt);
      retry.unref();
    }
  };

  // Revocation and deletion must end live streams, not just refuse new requests (DESIGN.md §3).
  const unsubscribe = options.bus.subscribe((event) => {
    if (event.type === 'resync') void recheck();
    else if (event.type === 'token.revoked')
      void closeWhere((s) => s.tokenId === event.tokenId, 'token revoked');
    else if (event.type === 'brain.deleted')
      void closeWhere((s) => s.brain === event.brainId, 'brain deleted');
    else if (event.type === 'brain.notify') registry.notifyBrain(event.brainId, event.params);
  });

  return registry;
}
