/**
 * Sessions the gateway holds itself for 2025-era Streamable HTTP clients of a 2026-only upstream
 * (issue 6 §3). The Store holds them (kind `translated`), so any instance serves one; an in-process
 * cache keeps the hot path off the database and is dropped for a session when it changes anywhere
 * (`session.changed` on the bus) or after `ttlMs`. I/O through the Store.
 *
 * The record's `initParams` is the session's state: the client's `initialize` params (its version,
 * capabilities, info), its log level and its resource subscriptions, with a revision number so a stale
 * copy is never mistaken for a newer one.
 */
import { generateSessionId } from '../auth/tokens.js';
import type { EventBus } from '../events.js';
import type { Store } from '../store/types.js';
import { clientSideOf } from './legacy-leg.js';
import type { ClientSide } from './wire.js';

/** Gateway-issued session ids start with this; upstream-issued ones (pass-through) are left alone. */
export const TRANSLATED_PREFIX = 't-';

export interface TranslatedState {
  initialize: unknown;
  logLevel?: string;
  subscriptions?: string[];
  rev: number;
}

export interface TranslatedSession {
  id: string;
  brain: string;
  org: string;
  tokenId: string;
  protocolVersion: string;
  state: TranslatedState;
}

export interface TranslatedSessions {
  lookup(brain: string, id: string, fresh?: boolean): Promise<TranslatedSession | undefined>;
  create(
    session: Omit<TranslatedSession, 'id' | 'state'> & { initialize: unknown },
  ): Promise<TranslatedSession>;
  /** Stores a new state (revision + 1) and tells every instance. */
  update(
    session: TranslatedSession,
    change: Partial<Omit<TranslatedState, 'rev'>>,
  ): Promise<TranslatedSession>;
  remove(brain: string, id: string): Promise<void>;
}

export interface TranslatedSessionsOptions {
  store: Store;
  bus: EventBus;
  instanceId: string;
  ttlMs?: number;
  now?: () => number;
}

/** The client's side of a translated session, as its upstream requests carry it. */
export function clientSideOfSession(session: TranslatedSession): ClientSide {
  const side = clientSideOf(session.state.initialize);
  side.protocolVersion = session.protocolVersion;
  if (session.state.logLevel !== undefined) side.logLevel = session.state.logLevel;
  return side;
}

const key = (brain: string, id: string) => `${brain}\u0000${id}`;

/** `lastSeenAt` is refreshed at most this often per session and instance. */
const TOUCH_EVERY_MS = 60_000;

export function createTranslatedSessions(options: TranslatedSessionsOptions): TranslatedSessions {
  const { store, bus } = options;
  const ttlMs = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { session: TranslatedSession; at: number }>();

  const remember = (session: TranslatedSession) => {
    const k = key(session.brain, session.id);
    cache.delete(k);
    cache.set(k, { session, at: now() });
    if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
    return session;
  };

  /** When this instance last refreshed a session's `lastSeenAt` (idle expiry, src/sessions/expiry.ts). */
  const touched = new Map<string, number>();
  const touch = (brain: string, id: string) => {
    const k = key(brain, id);
    const at = now();
    if (at - (touched.get(k) ?? 0) < TOUCH_EVERY_MS) return;
    touched.delete(k);
    touched.set(k, at);
    if (touched.size > 10_000) touched.delete(touched.keys().next().value as string);
    store.touchSession(brain, id, new Date(at)).catch(() => {
      // Best effort: a missed refresh only brings the session's expiry a minute closer.
    });
  };

  bus.subscribe((event) => {
    if (event.type === 'session.changed') cache.delete(key(event.brainId, event.sessionId));
    else if (event.type === 'resync') cache.clear();
    else if (event.type === 'token.revoked') {
      for (const [k, entry] of cache) if (entry.session.tokenId === event.tokenId) cache.delete(k);
    } else if (event.type === 'brain.deleted') {
      for (const [k, entry] of cache) if (entry.session.brain === event.brainId) cache.delete(k);
    }
  });

  return {
    async lookup(brain, id, fresh = false) {
      const hit = cache.get(key(brain, id));
      if (hit && !fresh && now() - hit.at < ttlMs) {
        touch(brain, id);
        return hit.session;
      }
      const record = await store.getSession(brain, id);
      if (record?.kind !== 'translated') {
        cache.delete(key(brain, id));
        return undefined;
      }
      touch(brain, id);
      const state = record.initParams as TranslatedState;
      return remember({
        id: record.id,
        brain: record.brain,
        org: record.org,
        tokenId: record.tokenId,
        protocolVersion: record.protocolVersion ?? '2025-11-25',
        state,
      });
    },
    async create(input) {
      const session: TranslatedSession = {
        id: `${TRANSLATED_PREFIX}${generateSessionId()}`,
        brain: input.brain,
        org: input.org,
        tokenId: input.tokenId,
        protocolVersion: input.protocolVersion,
        state: { initialize: input.initialize, rev: 0 },
      };
      // Stored before the client learns the id, so its next request finds it on any instance.
      await store.putSession({
        id: session.id,
        brain: session.brain,
        kind: 'translated',
        org: session.org,
        tokenId: session.tokenId,
        ownerInstance: options.instanceId,
        upstreamSessionId: null,
        protocolVersion: session.protocolVersion,
        initParams: session.state,
      });
      return remember(session);
    },
    async update(session, change) {
      const state: TranslatedState = { ...session.state, ...change, rev: session.state.rev + 1 };
      await store.updateSession(session.brain, session.id, { initParams: state });
      const next = remember({ ...session, state });
      await bus.publish({ type: 'session.changed', brainId: session.brain, sessionId: session.id });
      remember(next);
      return next;
    },
    async remove(brain, id) {
      cache.delete(key(brain, id));
      await store.deleteSession(brain, id);
      await bus.publish({ type: 'session.changed', brainId: brain, sessionId: id });
    },
  };
}
