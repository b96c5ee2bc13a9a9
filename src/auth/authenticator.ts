/**
 * Org-token authentication with a brief in-process cache. I/O through the Store only.
 *
 * The cache holds positive and negative answers for `ttlMs` so a burst of requests costs one lookup;
 * revocation drops the entry at once (same instance via the event bus, other instances via LISTEN/NOTIFY),
 * and expiry is checked on every use, so a cached token never outlives its `expiresAt`.
 *
 * While the store is unreachable, an expired cache entry is served for up to `staleMs` rather than
 * failing every established client (issue 5: "established sessions keep serving from cache"); an
 * uncached token still gets ERR_STORE_UNAVAILABLE (503).
 */
import { isGatewayError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Store, TokenRecord } from '../store/types.js';
import { hashToken } from './tokens.js';

export interface Principal {
  org: string;
  tokenId: string;
  /** null: every brain of the org. */
  brains: string[] | null;
  /** JWT access tokens only: the token's `sub` (or `client_id`). Org tokens have none. */
  subject?: string;
}

export type AuthFailure = 'missing' | 'unknown' | 'revoked' | 'expired';

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: AuthFailure };

export interface TokenAuthenticator {
  authenticate(token: string | undefined): Promise<AuthResult>;
  /** Drops every cached answer (used after a bus reconnect). */
  clear(): void;
}

export interface TokenAuthenticatorOptions {
  store: Store;
  bus: EventBus;
  ttlMs: number;
  /** How long past its TTL an entry may serve while the store is down. Default 10 minutes. */
  staleMs?: number;
  now?: () => number;
}

interface Entry {
  record: TokenRecord | undefined;
  fetchedAt: number;
}

export function createTokenAuthenticator(options: TokenAuthenticatorOptions): TokenAuthenticator {
  const { store, ttlMs } = options;
  const now = options.now ?? Date.now;
  const byHash = new Map<string, Entry>();
  const MAX_ENTRIES = 10_000;
  const staleMs = options.staleMs ?? 600_000;

  options.bus.subscribe((event) => {
    if (event.type === 'resync') byHash.clear();
    if (event.type === 'token.revoked') {
      for (const [hash, entry] of byHash) if (entry.record?.id === event.tokenId) byHash.delete(hash);
    }
  });

  async function lookup(hash: string): Promise<TokenRecord | undefined> {
    const cached = byHash.get(hash);
    if (cached && now() - cached.fetchedAt < ttlMs) return cached.record;
    let record: TokenRecord | undefined;
    try {
      record = await store.findTokenByHash(hash);
    } catch (err) {
      const usable = cached && now() - cached.fetchedAt < ttlMs + staleMs;
      if (usable && isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) return cached.record;
      throw err;
    }
    byHash.delete(hash);
    if (byHash.size >= MAX_ENTRIES) byHash.delete(byHash.keys().next().value as string);
    byHash.set(hash, { record, fetchedAt: now() });
    return record;
  }

  return {
    async authenticate(token) {
      if (!token) return { ok: false, reason: 'missing' };
      const record = await lookup(hashToken(token));
      if (!record) return { ok: false, reason: 'unknown' };
      if (record.revokedAt) return { ok: false, reason: 'revoked' };
      if (record.expiresAt && record.expiresAt.getTime() <= now()) return { ok: false, reason: 'expired' };
      return { ok: true, principal: { org: record.org, tokenId: record.id, brains: record.brains } };
    },
    clear() {
      byHash.clear();
    },
  };
}

/** The token from `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
