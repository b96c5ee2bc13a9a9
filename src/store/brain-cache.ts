/**
 * A short-lived in-process cache of brains (with decrypted upstream headers), invalidated through the
 * event bus. I/O through the Store and SecretBox only.
 *
 * Like the token cache, an expired entry keeps serving for `staleMs` while the store is unreachable.
 */

import type { SecretBox, UpstreamHeaders } from '../auth/secrets.js';
import { isGatewayError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Brain, Store } from './types.js';

export interface ResolvedBrain extends Brain {
  upstreamHeaders: UpstreamHeaders;
}

export interface BrainCache {
  get(id: string): Promise<ResolvedBrain | undefined>;
  invalidate(id: string): void;
  clear(): void;
}

export function createBrainCache(options: {
  store: Store;
  secrets: SecretBox;
  bus: EventBus;
  ttlMs: number;
  staleMs?: number;
  now?: () => number;
}): BrainCache {
  const { store, secrets, ttlMs } = options;
  const now = options.now ?? Date.now;
  const staleMs = options.staleMs ?? 600_000;
  const MAX_ENTRIES = 10_000;
  const entries = new Map<string, { brain: ResolvedBrain | undefined; fetchedAt: number }>();

  const cache: BrainCache = {
    async get(id) {
      const hit = entries.get(id);
      if (hit && now() - hit.fetchedAt < ttlMs) return hit.brain;
      let brain: Awaited<ReturnType<Store['getBrain']>>;
      try {
        brain = await store.getBrain(id);
      } catch (err) {
        const usable = hit && now() - hit.fetchedAt < ttlMs + staleMs;
        if (usable && isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) return hit.brain;
        throw err;
      }
      const resolved = brain && {
        ...brain,
        upstreamHeaders: await secrets.openHeaders(brain.upstreamHeadersEnc),
      };
      // Bounded: an authenticated client asking for many made-up brain ids must not grow memory.
      entries.delete(id);
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
      entries.set(id, { brain: resolved, fetchedAt: now() });
      return resolved;
    },
    invalidate(id) {
      entries.delete(id);
    },
    clear() {
      entries.clear();
    },
  };

  options.bus.subscribe((event) => {
    if (event.type === 'resync') cache.clear();
    if (event.type === 'brain.changed' || event.type === 'brain.deleted') cache.invalidate(event.brainId);
  });
  return cache;
}
