/**
 * Request rate limits per token and per org (issue 7 §3), in process. Reads per-org overrides from the
 * Store in the background; the check itself is synchronous and touches no I/O.
 *
 * - Every request takes one token from its credential's bucket (MCPGATE_RATE_LIMIT_TOKEN_*) and one from
 *   its org's (MCPGATE_RATE_LIMIT_ORG_*, or the org's own `rateLimitPerMinute` / `rateLimitBurst`). It is
 *   refused when either is empty, and then takes from neither: a token held back by its org's limit keeps
 *   its own tokens.
 * - Buckets are per instance. With MCPGATE_RATE_LIMIT_INSTANCES = N each instance enforces 1/N of every
 *   limit, so N instances behind a balancer enforce about the configured total (docs/security.md).
 * - An org's override is cached for `overrideTtlMs` and refreshed in the background; until the first read
 *   of an org completes (a few ms after its first request) the deployment default applies. A PATCH on this
 *   instance applies at once (`orgChanged`); other instances pick it up within the TTL.
 * - Orgs are independent: one org's empty bucket never touches another's.
 */
import type { LimitsConfig, RateLimit } from '../config.js';
import type { Logger } from '../log.js';
import type { Org, Store } from '../store/types.js';
import { type BucketLimit, createBucketSet } from './token-bucket.js';

export type RateVerdict = { ok: true } | { ok: false; scope: 'token' | 'org'; retryAfterSeconds: number };

export interface RateLimiter {
  /** Takes one request from the token's and the org's buckets. */
  take(principal: { org: string; tokenId: string }): RateVerdict;
  /** An org's override changed here (PATCH): use the new one now. */
  orgChanged(org: Pick<Org, 'slug' | 'rateLimitPerMinute' | 'rateLimitBurst'>): void;
}

export interface RateLimiterOptions {
  limits: LimitsConfig;
  store: Pick<Store, 'getOrg'>;
  logger: Logger;
  overrideTtlMs?: number;
  now?: () => number;
}

const SWEEP_EVERY_MS = 60_000;
const MAX_CACHED_ORGS = 100_000;

interface OrgEntry {
  /** undefined: unlimited. */
  limit: BucketLimit | undefined;
  fetchedAt: number;
  loading: boolean;
}

/** A configured limit as this instance enforces it; undefined when unlimited. */
function perInstance(limit: RateLimit, instances: number): BucketLimit | undefined {
  if (limit.perMinute === 0) return undefined;
  return { perMinute: limit.perMinute / instances, burst: Math.max(1, limit.burst / instances) };
}

function overrideOf(org: Pick<Org, 'rateLimitPerMinute' | 'rateLimitBurst'>): RateLimit | undefined {
  if (org.rateLimitPerMinute === null) return undefined;
  const perMinute = org.rateLimitPerMinute;
  return { perMinute, burst: org.rateLimitBurst ?? Math.max(1, Math.ceil(perMinute / 6)) };
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { limits, store, logger } = options;
  const now = options.now ?? Date.now;
  const ttlMs = options.overrideTtlMs ?? 30_000;
  const tokenLimit = perInstance(limits.token, limits.instances);
  const orgDefault = perInstance(limits.org, limits.instances);
  const tokens = createBucketSet();
  const orgBuckets = createBucketSet();
  const orgs = new Map<string, OrgEntry>();
  let lastSweep = now();

  function set(slug: string, org: Pick<Org, 'rateLimitPerMinute' | 'rateLimitBurst'> | undefined) {
    const override = org && overrideOf(org);
    const limit = override ? perInstance(override, limits.instances) : orgDefault;
    if (orgs.size >= MAX_CACHED_ORGS && !orgs.has(slug)) orgs.delete(orgs.keys().next().value as string);
    const before = orgs.get(slug)?.limit;
    // A new limit starts a new bucket (its first requests may have run under the default).
    if (before?.perMinute !== limit?.perMinute || before?.burst !== limit?.burst) orgBuckets.forget(slug);
    orgs.set(slug, { limit, fetchedAt: now(), loading: false });
  }

  function load(slug: string, entry: OrgEntry | undefined) {
    if (entry) entry.loading = true;
    else orgs.set(slug, { limit: orgDefault, fetchedAt: 0, loading: true });
    store.getOrg(slug).then(
      (org) => set(slug, org),
      (err) => {
        // Keep what we had (or the default) and try again after a TTL.
        const current = orgs.get(slug);
        if (current) Object.assign(current, { loading: false, fetchedAt: now() });
        logger.debug({ org: slug, code: (err as { code?: string }).code }, 'org limits not refreshed');
      },
    );
  }

  function orgLimit(slug: string): BucketLimit | undefined {
    const entry = orgs.get(slug);
    if (!entry || (!entry.loading && now() - entry.fetchedAt >= ttlMs)) load(slug, entry);
    return entry ? entry.limit : orgDefault;
  }

  function sweep(at: number) {
    lastSweep = at;
    tokens.sweep(() => tokenLimit, at);
    orgBuckets.sweep((slug) => orgs.get(slug)?.limit, at);
  }

  return {
    take({ org, tokenId }) {
      const at = now();
      if (at - lastSweep >= SWEEP_EVERY_MS) sweep(at);
      const forOrg = orgLimit(org);
      if (forOrg) {
        const o = orgBuckets.peek(org, forOrg, at);
        if (!o.ok) return { ok: false, scope: 'org', retryAfterSeconds: seconds(o.retryAfterMs) };
      }
      if (tokenLimit) {
        const t = tokens.take(tokenId, tokenLimit, at);
        if (!t.ok) return { ok: false, scope: 'token', retryAfterSeconds: seconds(t.retryAfterMs) };
      }
      if (forOrg) orgBuckets.take(org, forOrg, at);
      return { ok: true };
    },
    orgChanged(org) {
      set(org.slug, org);
    },
  };
}
