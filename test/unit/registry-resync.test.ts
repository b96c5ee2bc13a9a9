/**
 * The session registry after a bus `resync` (src/sessions/registry.ts): it asks which tokens and brains
 * went away while events were missed and closes their sessions; when the store cannot answer yet, it
 * asks again a little later instead of waiting for a resync that may never come.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocalBus } from '../../src/events.js';
import { createSessionRegistry, type LiveSession } from '../../src/sessions/registry.js';

function session(id: string, tokenId: string, closed: string[]): LiveSession {
  return {
    id,
    kind: 'legacy',
    org: 'o',
    brain: 'b',
    tokenId,
    push: () => true,
    keepAlive() {},
    async close() {
      closed.push(id);
    },
  };
}

describe('registry resync', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('closes the sessions of a token revoked during the gap, retrying while the store is away', async () => {
    vi.useFakeTimers();
    const bus = createLocalBus();
    const asked: string[][] = [];
    let storeUp = false;
    const registry = createSessionRegistry({
      bus,
      keepAliveMs: 60_000,
      lapsed: async ({ tokenIds }) => {
        asked.push(tokenIds);
        if (!storeUp) throw new Error('store down');
        return { tokenIds: new Set(['tok_revoked']), brainIds: new Set<string>() };
      },
    });
    const closed: string[] = [];
    registry.add(session('s1', 'tok_revoked', closed));
    registry.add(session('s2', 'tok_kept', closed));

    await bus.publish({ type: 'resync' });
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toHaveLength(1);
    expect(closed).toEqual([]);

    storeUp = true;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(asked).toHaveLength(2);
    expect(asked[1]!.sort()).toEqual(['tok_kept', 'tok_revoked']);
    expect(closed).toEqual(['s1']);
    registry.dispose();
  });
});
