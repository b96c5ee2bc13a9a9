/**
 * Token buckets keyed by string (issue 7 §3). Pure: the clock is a parameter.
 *
 * A bucket holds at most `burst` tokens and refills at `perMinute / 60` per second; a request takes one.
 * Buckets are created full and refilled lazily when touched, so an idle key costs nothing but its entry,
 * and a full bucket is the same as no entry: `sweep` drops those, which keeps the map bounded by the keys
 * active within the last `burst / rate` seconds.
 */

export interface BucketLimit {
  /** Refill per minute; > 0. */
  perMinute: number;
  /** Capacity; ≥ 1. */
  burst: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export interface BucketSet {
  /** Takes one token from `key`'s bucket, or says how long until one is there. */
  take(key: string, limit: BucketLimit, now: number): TakeResult;
  /** Whether `key` has a token now, without taking it. */
  peek(key: string, limit: BucketLimit, now: number): TakeResult;
  /** Drops a key's bucket: its next request starts from a full one. */
  forget(key: string): void;
  /** Drops buckets that would be full at `now` (they are the same as absent ones). */
  sweep(limitOf: (key: string) => BucketLimit | undefined, now: number): void;
  readonly size: number;
}

function refill(bucket: Bucket, limit: BucketLimit, now: number): void {
  const elapsed = now - bucket.at;
  if (elapsed > 0) {
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (elapsed * limit.perMinute) / 60_000);
    bucket.at = now;
  }
}

function verdict(bucket: Bucket, limit: BucketLimit): TakeResult {
  if (bucket.tokens >= 1) return { ok: true };
  return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) * 60_000) / limit.perMinute) };
}

/**
 * @example
 * const buckets = createBucketSet();
 * const r = buckets.take(tokenId, { perMinute: 600, burst: 100 }, Date.now());
 * if (!r.ok) answer429(Math.ceil(r.retryAfterMs / 1000));
 */
export function createBucketSet(): BucketSet {
  const buckets = new Map<string, Bucket>();

  function bucketOf(key: string, limit: BucketLimit, now: number): Bucket {
    let bucket = buckets.get(key);
    if (!bucket) {
      bucket = { tokens: limit.burst, at: now };
      buckets.set(key, bucket);
    } else {
      refill(bucket, limit, now);
    }
    return bucket;
  }

  return {
    take(key, limit, now) {
      const bucket = bucketOf(key, limit, now);
      const result = verdict(bucket, limit);
      if (result.ok) bucket.tokens -= 1;
      return result;
    },
    peek(key, limit, now) {
      const bucket = buckets.get(key);
      if (!bucket) return { ok: true };
      refill(bucket, limit, now);
      return verdict(bucket, limit);
    },
    forget(key) {
      buckets.delete(key);
    },
    sweep(limitOf, now) {
      for (const [key, bucket] of buckets) {
        const limit = limitOf(key);
        if (!limit) {
          buckets.delete(key);
          continue;
        }
        refill(bucket, limit, now);
        if (bucket.tokens >= limit.burst) buckets.delete(key);
      }
    },
    get size() {
      return buckets.size;
    },
  };
}
