/**
 * Token buckets and the per-token / per-org rate limiter (issue 7 §3), on a hand-driven clock.
 */
import { describe, expect, it } from 'vitest';
import type { LimitsConfig } from '../../src/config.js';
import { createRateLimiter } from '../../src/limits/rate-limiter.js';
import { createStreamSlots } from '../../src/limits/streams.js';
import { createBucketSet } from '../../src/limits/token-bucket.js';
import { createLogger } from '../../src/log.js';
import type { Org } from '../../src/store/types.js';

const logger = createLogger({ level: 'silent' });

function limits(overrides: Partial<LimitsConfig> = {}): LimitsConfig {
  return {
    token: { perMinute: 0, burst: 1 },
    org: { perMinute: 0, burst: 1 },
    instances: 1,
    maxStreamsPerToken: 0,
    maxInflightPerSession: 256,
    ...overrides,
  };
}

function orgStore(orgs: Record<string, Partial<Org>>) {
  const reads: string[] = [];
  return {
    reads,
    store: {
      async getOrg(slug: string): Promise<Org | undefined> {
        reads.push(slug);
        const o = orgs[slug];
        if (!o) return undefined;
        return {
          slug,
          name: null,
          rateLimitPerMinute: null,
          rateLimitBurst: null,
          createdAt: new Date(),
          ...o,
        };
      },
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('token buckets', () => {
  it('starts full, refills at the rate, and says how long until the next token', () => {
    const buckets = createBucketSet();
    const limit = { perMinute: 60, burst: 3 };
    const takes = [0, 0, 0, 0].map(() => buckets.take('k', limit, 1_000));
    expect(takes.map((t) => t.ok)).toEqual([true, true, true, false]);
    expect(takes[3]).toEqual({ ok: false, retryAfterMs: 1000 });
    expect(buckets.take('k', limit, 1_500)).toEqual({ ok: false, retryAfterMs: 500 });
    expect(buckets.take('k', limit, 2_000).ok).toBe(true);
    // Ten idle seconds refill to the burst, not beyond.
    const later = [0, 0, 0, 0].map(() => buckets.take('k', limit, 12_000).ok);
    expect(later).toEqual([true, true, true, false]);
  });

  it('keys are independent, and a sweep drops buckets that are full again', () => {
    const buckets = createBucketSet();
    const limit = { perMinute: 600, burst: 2 };
    buckets.take('a', limit, 0);
    buckets.take('a', limit, 0);
    expect(buckets.take('a', limit, 0).ok).toBe(false);
    expect(buckets.take('b', limit, 0).ok).toBe(true);
    expect(buckets.size).toBe(2);
    buckets.sweep(() => limit, 50);
    expect(buckets.size).toBe(2);
    buckets.sweep(() => limit, 1_000);
    expect(buckets.size).toBe(0);
  });
});

describe('rate limiter', () => {
  it('limits each token on its own; nothing is limited by default', () => {
    let now = 0;
    const { store } = orgStore({});
    const open = createRateLimiter({ limits: limits(), store, logger, now: () => now });
    for (let i = 0; i < 1000; i++) expect(open.take({ org: 'o', tokenId: 't' }).ok).toBe(true);

    const limiter = createRateLimiter({
      limits: limits({ token: { perMinute: 60, burst: 2 } }),
      store,
      logger,
      now: () => now,
    });
    expect(limiter.take({ org: 'o', tokenId: 't1' })).toEqual({ ok: true });
    expect(limiter.take({ org: 'o', tokenId: 't1' })).toEqual({ ok: true });
    expect(limiter.take({ org: 'o', tokenId: 't1' })).toEqual({
      ok: false,
      scope: 'token',
      retryAfterSeconds: 1,
    });
    expect(limiter.take({ org: 'o', tokenId: 't2' }).ok).toBe(true);
    now += 1_000;
    expect(limiter.take({ org: 'o', tokenId: 't1' }).ok).toBe(true);
  });

  it('an org limit holds every token of the org and no other org; a refusal takes from neither bucket', async () => {
    let now = 0;
    const { store } = orgStore({ a: {}, b: {} });
    const limiter = createRateLimiter({
      limits: limits({ org: { perMinute: 60, burst: 3 }, token: { perMinute: 60, burst: 10 } }),
      store,
      logger,
      now: () => now,
    });
    const takeA = (tokenId: string) => limiter.take({ org: 'a', tokenId });
    expect([takeA('t1').ok, takeA('t2').ok, takeA('t3').ok]).toEqual([true, true, true]);
    expect(takeA('t4')).toEqual({ ok: false, scope: 'org', retryAfterSeconds: 1 });
    for (let i = 0; i < 3; i++) expect(limiter.take({ org: 'b', tokenId: 'tb' }).ok).toBe(true);
    // t4 was refused by its org: its own bucket is still full once the org refills.
    now += 60_000;
    await settle();
    const t4 = Array.from({ length: 3 }, () => takeA('t4').ok);
    expect(t4).toEqual([true, true, true]);
  });

  it('a per-org override from the store replaces the default once read, and PATCH applies at once', async () => {
    let now = 0;
    const { store, reads } = orgStore({
      big: { rateLimitPerMinute: 600, rateLimitBurst: 5 },
      off: { rateLimitPerMinute: 0 },
    });
    const limiter = createRateLimiter({
      limits: limits({ org: { perMinute: 60, burst: 1 } }),
      store,
      logger,
      now: () => now,
      overrideTtlMs: 30_000,
    });
    // First request: the default, while the org is read.
    expect(limiter.take({ org: 'big', tokenId: 't' }).ok).toBe(true);
    await settle();
    expect(reads).toEqual(['big']);
    // A new limit starts a new bucket: the override's full burst.
    const burst = Array.from({ length: 6 }, () => limiter.take({ org: 'big', tokenId: 't' }).ok);
    expect(burst).toEqual([true, true, true, true, true, false]);

    limiter.take({ org: 'off', tokenId: 't' });
    await settle();
    for (let i = 0; i < 100; i++) expect(limiter.take({ org: 'off', tokenId: 't' }).ok).toBe(true);

    limiter.orgChanged({ slug: 'off', rateLimitPerMinute: 60, rateLimitBurst: 2 });
    expect([0, 0, 0].map(() => limiter.take({ org: 'off', tokenId: 't' }).ok)).toEqual([true, true, false]);

    // Re-read after the TTL, not before.
    now += 29_000;
    limiter.take({ org: 'big', tokenId: 't' });
    expect(reads.filter((r) => r === 'big')).toHaveLength(1);
    now += 1_000;
    limiter.take({ org: 'big', tokenId: 't' });
    expect(reads.filter((r) => r === 'big')).toHaveLength(2);
  });

  it('divides every limit by the instance count', () => {
    const { store } = orgStore({});
    const limiter = createRateLimiter({
      limits: limits({ token: { perMinute: 600, burst: 30 }, instances: 3 }),
      store,
      logger,
      now: () => 0,
    });
    const taken = Array.from({ length: 12 }, () => limiter.take({ org: 'o', tokenId: 't' }).ok);
    expect(taken.filter(Boolean)).toHaveLength(10);
  });

  it('a store that cannot be read leaves the default in force', async () => {
    const limiter = createRateLimiter({
      limits: limits({ org: { perMinute: 60, burst: 1 } }),
      store: {
        getOrg: () => Promise.reject(Object.assign(new Error('down'), { code: 'ERR_STORE_UNAVAILABLE' })),
      },
      logger,
      now: () => 0,
    });
    expect(limiter.take({ org: 'o', tokenId: 't' }).ok).toBe(true);
    await settle();
    expect(limiter.take({ org: 'o', tokenId: 't' }).ok).toBe(false);
  });
});

describe('stream slots', () => {
  it('counts per token and per face, refuses past the limit, releases once', () => {
    const slots = createStreamSlots(2);
    const a = slots.acquire('t', 'sse')!;
    const b = slots.acquire('t', 'mcp')!;
    expect(slots.acquire('t', 'sse')).toBeUndefined();
    expect(slots.acquire('u', 'sse')).toBeDefined();
    expect(slots.byFace()).toEqual({ sse: 2, mcp: 1 });
    a();
    a();
    expect(slots.of('t')).toBe(1);
    expect(slots.acquire('t', 'sse')).toBeDefined();
    b();
    expect(createStreamSlots(0).acquire('t', 'sse')).toBeDefined();
  });
});
