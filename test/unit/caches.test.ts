import { describe, expect, it } from 'vitest';
import { createTokenAuthenticator } from '../../src/auth/authenticator.js';
import { createSecretBox } from '../../src/auth/secrets.js';
import { generateToken, hashToken } from '../../src/auth/tokens.js';
import { GatewayError } from '../../src/errors.js';
import { createLocalBus } from '../../src/events.js';
import { createLogger } from '../../src/log.js';
import { createSessionBindings } from '../../src/sessions/passthrough-binding.js';
import { createBrainCache } from '../../src/store/brain-cache.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';

/** A memory store that can be switched "down", as a Postgres store reports an outage. */
function flakyStore() {
  const inner = createMemoryStore();
  let down = false;
  let calls = 0;
  const guard = async <T>(fn: () => Promise<T>) => {
    calls += 1;
    if (down) throw new GatewayError('ERR_STORE_UNAVAILABLE', 'store down');
    return fn();
  };
  const store: Store = {
    ...inner,
    findTokenByHash: (hash) => guard(() => inner.findTokenByHash(hash)),
    getBrain: (id) => guard(() => inner.getBrain(id)),
    getSession: (brain, id) => guard(() => inner.getSession(brain, id)),
  };
  return {
    store,
    inner,
    setDown: (value: boolean) => {
      down = value;
    },
    calls: () => calls,
  };
}

describe('caches while the store is down', () => {
  it('the token cache serves a known token past its TTL, and refuses unknown ones with ERR_STORE_UNAVAILABLE', async () => {
    const f = flakyStore();
    let clock = 1_000;
    await f.inner.createOrg({ slug: 'o', name: null });
    const token = generateToken();
    await f.inner.createToken({
      id: 'tok_1',
      org: 'o',
      name: null,
      hash: hashToken(token),
      brains: null,
      expiresAt: null,
    });
    const auth = createTokenAuthenticator({
      store: f.store,
      bus: createLocalBus(),
      ttlMs: 100,
      staleMs: 1_000,
      now: () => clock,
    });

    expect((await auth.authenticate(token)).ok).toBe(true);
    expect(f.calls()).toBe(1);
    clock += 50;
    expect((await auth.authenticate(token)).ok).toBe(true);
    expect(f.calls()).toBe(1); // cached: no store round trip

    f.setDown(true);
    clock += 500; // past the TTL, within the stale window
    expect((await auth.authenticate(token)).ok).toBe(true);
    await expect(auth.authenticate(generateToken())).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    clock += 2_000; // past the stale window
    await expect(auth.authenticate(token)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });

    f.setDown(false);
    expect((await auth.authenticate(token)).ok).toBe(true);
  });

  it('the brain cache serves a known brain past its TTL while the store is down', async () => {
    const f = flakyStore();
    let clock = 1_000;
    await f.inner.createOrg({ slug: 'o', name: null });
    const secrets = createSecretBox(new Uint8Array(32));
    await f.inner.createBrain({
      id: 'b',
      org: 'o',
      upstreamUrl: 'http://127.0.0.1:9/mcp',
      upstreamHeadersEnc: await secrets.sealHeaders({ 'X-Key': 'v' }),
      upstreamHeaderNames: ['X-Key'],
    });
    const cache = createBrainCache({
      store: f.store,
      secrets,
      bus: createLocalBus(),
      ttlMs: 100,
      staleMs: 1_000,
      now: () => clock,
    });
    expect((await cache.get('b'))?.upstreamHeaders).toEqual({ 'X-Key': 'v' });
    f.setDown(true);
    clock += 500;
    expect((await cache.get('b'))?.id).toBe('b');
    await expect(cache.get('other')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });

  it('pass-through session bindings keep a known session working past their TTL while the store is down', async () => {
    const f = flakyStore();
    let clock = 1_000;
    await f.inner.createOrg({ slug: 'o', name: null });
    const bindings = createSessionBindings({
      store: f.store,
      bus: createLocalBus(),
      instanceId: 'inst',
      logger: createLogger({ level: 'silent' }),
      ttlMs: 100,
      staleMs: 1_000,
      now: () => clock,
    });
    await bindings.bind({
      brain: 'b',
      org: 'o',
      sessionId: 'sess-1',
      tokenId: 'tok_1',
      protocolVersion: '2025-11-25',
      initParams: null,
    });
    f.setDown(true);
    clock += 500; // past the TTL, within the stale window
    expect(await bindings.lookup('b', 'sess-1')).toMatchObject({ tokenId: 'tok_1' });
    await expect(bindings.lookup('b', 'unknown')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    clock += 2_000; // past the stale window
    await expect(bindings.lookup('b', 'sess-1')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    f.setDown(false);
    expect(await bindings.lookup('b', 'sess-1')).toMatchObject({ tokenId: 'tok_1' });
  });
});
