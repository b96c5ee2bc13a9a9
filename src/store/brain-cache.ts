/**
 * A short-lived in-process cache of brains (with decrypted upstream headers), invalidated through the
 * event bus. I/O through the Store and SecretBox only.
 */
import type { SecretBox, UpstreamHeaders } from '../auth/secrets.js';
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
  now?: () => number;
}): BrainCache {
  const { store, secrets, ttlMs } = options;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { brain: ResolvedBrain | undefined; fetchedAt: number }>();

  const cache: BrainCache = {
    async get(id) {
      const hit = entries.get(id);
      if (hit && now() - hit.fetchedAt < ttlMs) return hit.brain;
      const brain = await store.getBrain(id);
      const resolved = brain && {
        ...brain,
        upstreamHeaders: await secrets.openHeaders(brain.upstreamHeadersEnc),
      };
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
