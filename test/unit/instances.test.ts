/**
 * The instance registry's reaper rule on the memory store with one hand-moved clock: a reaper trusts only
 * silence it could have heard, so after an outage of the store it waits a whole TTL of good heartbeats
 * before reaping anyone (else the first instance back would reap every peer).
 */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { createInstanceRegistry } from '../../src/sessions/instances.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { SessionRecord, Store } from '../../src/store/types.js';

const TTL = 1_000;

function setup() {
  let t = 0;
  let down = false;
  const memory = createMemoryStore({ now: () => new Date(t) });
  const unavailable = () => Promise.reject(new GatewayError('ERR_STORE_UNAVAILABLE', 'down'));
  // The store as this instance reaches it: refuses everything while `down`.
  const store = new Proxy(memory, {
    get: (target, name: keyof Store) => {
      const value = target[name];
      return typeof value === 'function' && name !== 'close'
        ? (...args: unknown[]) => (down ? unavailable() : (value as (...a: unknown[]) => unknown)(...args))
        : value;
    },
  });
  const ended: SessionRecord[] = [];
  const registry = createInstanceRegistry({
    store,
    self: { id: 'self', url: 'http://127.0.0.1:1' },
    heartbeatMs: 100,
    ttlMs: TTL,
    logger: createLogger({ level: 'silent' }),
    endUpstream: async (session) => {
      ended.push(session);
    },
    now: () => t,
  });
  return {
    memory,
    registry,
    ended,
    at: (ms: number) => {
      t = ms;
    },
    setDown: (value: boolean) => {
      down = value;
    },
  };
}

describe('instance registry: the reaper after an outage', () => {
  it('reaps nobody until its own heartbeats have gone through for a whole TTL', async () => {
    const { memory, registry, ended, at, setDown } = setup();
    at(0);
    await memory.registerInstance({ id: 'peer', url: 'http://127.0.0.1:2', bootId: 'p' });
    await memory.putSession({
      id: 's1',
      brain: 'b1',
      kind: 'legacy',
      org: 'acme',
      tokenId: 't',
      ownerInstance: 'peer',
      upstreamSessionId: 'up-1',
      protocolVersion: null,
      initParams: null,
    });
    expect(await registry.beat()).toBeUndefined();
    expect(await memory.getInstance('self')).toBeDefined();

    // The store goes away for several TTLs: every peer's heartbeat fails as ours does.
    setDown(true);
    at(TTL + 1);
    expect(await registry.beat()).toBeUndefined();
    at(4 * TTL);
    setDown(false);
    // Back: the peer is "silent" for 4 TTLs by the store's clock, but we were deaf too. No reaping yet.
    expect(await registry.beat()).toBeUndefined();
    at(4 * TTL + 100);
    await memory.heartbeatInstance('peer');
    at(5 * TTL - 1);
    expect(await registry.beat()).toBeUndefined();
    // A whole TTL heard: the peer beat within it, so it stays.
    at(5 * TTL + 50);
    expect(await registry.beat()).toEqual({ instances: [], sessions: [] });
    expect(await memory.getInstance('peer')).toBeDefined();

    // Now the peer really falls silent, and is reaped once its silence passes the TTL.
    at(5.5 * TTL);
    const reaped = await registry.beat();
    expect(reaped?.instances.map((i) => i.id)).toEqual(['peer']);
    expect(reaped?.sessions.map((s) => s.id)).toEqual(['s1']);
    await registry.stop();
    expect(ended.map((s) => s.upstreamSessionId)).toEqual(['up-1']);
  });

  it('starts over after a gap in its own heartbeats longer than the TTL (a stalled process)', async () => {
    const { memory, registry, at } = setup();
    at(0);
    await registry.beat();
    at(TTL + 10);
    await memory.registerInstance({ id: 'peer', url: 'http://127.0.0.1:2', bootId: 'p' });
    // We were stalled for more than a TTL: the peer registered meanwhile; we do not reap at once.
    at(3 * TTL);
    expect(await registry.beat()).toBeUndefined();
    at(3.5 * TTL);
    expect(await registry.beat()).toBeUndefined();
    at(4 * TTL + 20);
    expect((await registry.beat())?.instances.map((i) => i.id)).toEqual(['peer']);
  });
});
