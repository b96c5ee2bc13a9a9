/**
 * Pass-through session bindings: which token owns an upstream-issued `Mcp-Session-Id` on a brain.
 * I/O through the Store; an in-process LRU/TTL cache keeps the hot path off the database.
 *
 * The store holds the truth (a session record of kind 'passthrough'); the cache holds positive answers
 * only, so a binding created on another instance is found on first use there. Revocation and brain
 * removal drop entries through the event bus; the TTL bounds how long a binding deleted on another
 * instance can linger here — harmless, because the token check still applies and the upstream answers
 * 404 for a session it ended (DESIGN.md §4: no database round trip per message once a session is known).
 */
import { isGatewayError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';

export interface Binding {
  tokenId: string;
  protocolVersion: string | null;
}

export interface NewBinding {
  brain: string;
  org: string;
  sessionId: string;
  tokenId: string;
  protocolVersion: string | null;
  initParams: unknown;
}

export interface SessionBindings {
  /** The binding of a session id on a brain, or undefined when the store has none. */
  lookup(brain: string, sessionId: string): Promise<Binding | undefined>;
  /** Records a binding; resolves once the store has it, so the client can never race ahead of it. */
  bind(binding: NewBinding): Promise<void>;
  unbind(brain: string, sessionId: string): Promise<void>;
  /**
   * Notes a use: refreshes `lastSeenAt` at most once per `touchEveryMs`, and records the negotiated
   * protocol version the first time the client names it. Never awaited by the caller; failures are logged.
   */
  noteUse(brain: string, sessionId: string, protocolVersion: string | undefined): void;
  /** Drops every cached entry of one token (revocation) or every entry (bus resync). */
  forgetToken(tokenId: string): void;
  clear(): void;
}

export interface SessionBindingsOptions {
  store: Store;
  bus: EventBus;
  instanceId: string;
  logger: Logger;
  ttlMs?: number;
  /** How long past `ttlMs` an entry still serves while the store is unreachable (stale-if-error). */
  staleMs?: number;
  maxEntries?: number;
  touchEveryMs?: number;
  now?: () => number;
}

interface Entry extends Binding {
  brain: string;
  cachedAt: number;
  touchedAt: number;
}

const key = (brain: string, sessionId: string) => `${brain}\u0000${sessionId}`;

export function createSessionBindings(options: SessionBindingsOptions): SessionBindings {
  const { store, logger } = options;
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const staleMs = options.staleMs ?? 600_000;
  const maxEntries = options.maxEntries ?? 50_000;
  const touchEveryMs = options.touchEveryMs ?? 60_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();

  const remember = (k: string, entry: Entry) => {
    entries.delete(k);
    entries.set(k, entry);
    if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
  };

  const bindings: SessionBindings = {
    async lookup(brain, sessionId) {
      const k = key(brain, sessionId);
      const hit = entries.get(k);
      const at = now();
      if (hit && at - hit.cachedAt < ttlMs) {
        // Re-insert so the Map's order is least-recently-used first.
        entries.delete(k);
        entries.set(k, hit);
        return hit;
      }
      let record: Awaited<ReturnType<Store['getSession']>>;
      try {
        record = await store.getSession(brain, sessionId);
      } catch (err) {
        // Like the token and brain caches: a session known here keeps working through an outage.
        if (hit && at - hit.cachedAt < ttlMs + staleMs && isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) {
          return hit;
        }
        throw err;
      }
      entries.delete(k);
      if (record?.kind !== 'passthrough') return undefined;
      const entry: Entry = {
        brain,
        tokenId: record.tokenId,
        protocolVersion: record.protocolVersion,
        cachedAt: at,
        touchedAt: record.lastSeenAt.getTime(),
      };
      remember(k, entry);
      return entry;
    },

    async bind(b) {
      await store.putSession({
        id: b.sessionId,
        brain: b.brain,
        kind: 'passthrough',
        org: b.org,
        tokenId: b.tokenId,
        ownerInstance: options.instanceId,
        upstreamSessionId: b.sessionId,
        protocolVersion: b.protocolVersion,
        initParams: b.initParams ?? null,
      });
      const at = now();
      remember(key(b.brain, b.sessionId), {
        brain: b.brain,
        tokenId: b.tokenId,
        protocolVersion: b.protocolVersion,
        cachedAt: at,
        touchedAt: at,
      });
    },

    async unbind(brain, sessionId) {
      entries.delete(key(brain, sessionId));
      await store.deleteSession(brain, sessionId);
    },

    noteUse(brain, sessionId, protocolVersion) {
      const entry = entries.get(key(brain, sessionId));
      if (!entry) return;
      const at = now();
      const fail = (err: unknown) =>
        logger.warn({ brain, code: (err as { code?: string }).code }, 'session binding update failed');
      if (protocolVersion && protocolVersion !== entry.protocolVersion) {
        entry.protocolVersion = protocolVersion;
        entry.touchedAt = at;
        store.updateSession(brain, sessionId, { protocolVersion }).catch(fail);
      } else if (at - entry.touchedAt >= touchEveryMs) {
        entry.touchedAt = at;
        store.touchSession(brain, sessionId, new Date(at)).catch(fail);
      }
    },

    forgetToken(tokenId) {
      for (const [k, entry] of entries) if (entry.tokenId === tokenId) entries.delete(k);
    },

    clear() {
      entries.clear();
    },
  };

  options.bus.subscribe((event) => {
    if (event.type === 'token.revoked') bindings.forgetToken(event.tokenId);
    else if (event.type === 'resync') bindings.clear();
    else if (event.type === 'brain.deleted') {
      for (const [k, entry] of entries) if (entry.brain === event.brainId) entries.delete(k);
    }
  });
  return bindings;
}
