/**
 * JWT access tokens from an external authorization server (OAuth 2.1 resource server, issue 7 item 1).
 * Does I/O: fetches the issuer's JWKS (jose `createRemoteJWKSet`, lazily, cached; an unknown `kid` triggers
 * a refetch once per cooldown, which is how key rotation is picked up).
 *
 * What is checked (protocol.md §3.3, OAuth 2.1 §5.2, RFC 8707, RFC 9068): the signature against the JWKS
 * with an asymmetric algorithm from the allowlist (never `none`, never HS*: a public key must not double as
 * an HMAC secret), `iss`, `aud` against the resource(s) the caller passes in, `exp` (required) and `nbf`
 * with a small clock tolerance, a subject, and the org claim. Scopes come from `scope` (space-separated,
 * RFC 9068) or `scp` (array or string, as some providers write it).
 */
import { createHash } from 'node:crypto';
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  type FetchImplementation,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import type { OAuthConfig } from '../config.js';
import { slugSchema } from '../http/admin-schemas.js';

export interface VerifiedToken {
  org: string;
  /** `sub` (or `client_id` for client-credentials tokens without one). */
  subject: string;
  /** Stable per issuer and subject, so sessions survive token refresh; safe to log (a hash). */
  tokenId: string;
  scopes: string[];
}

/**
 * `invalid` and `expired` are the client's problem (401); `unavailable` is ours (the JWKS could not be
 * fetched or parsed: 503, so clients retry instead of re-authorizing).
 */
export type JwtFailure = 'invalid' | 'expired' | 'unavailable';

export type JwtResult =
  | { ok: true; token: VerifiedToken }
  /** `code`: jose's ERR_* (or ours); `claim`: which claim failed validation, for the debug log. */
  | { ok: false; reason: JwtFailure; code: string; claim?: string };

export interface JwtVerifier {
  /** Verifies `token` for any of `audiences` (the resources of the route it was presented to). */
  verify(token: string, audiences: readonly string[]): Promise<JwtResult>;
}

export interface JwtVerifierOptions extends OAuthConfig {
  /** Injectable JWKS fetch (defaults to the global fetch). */
  fetch?: FetchImplementation;
}

const UNAVAILABLE_CODES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC']);

function scopesOf(payload: JWTPayload): string[] {
  const out: string[] = [];
  for (const value of [payload.scope, payload.scp]) {
    if (typeof value === 'string') out.push(...value.split(' ').filter(Boolean));
    else if (Array.isArray(value)) out.push(...value.filter((s): s is string => typeof s === 'string'));
  }
  return out;
}

function stableTokenId(issuer: string, subject: string): string {
  const digest = createHash('sha256').update(`${issuer}\n${subject}`).digest('base64url');
  return `jwt_${digest.slice(0, 22)}`;
}

/**
 * @example
 * const jwt = createJwtVerifier(config.oauth);
 * const result = await jwt.verify(bearer, acceptedAudiences(config.publicUrl, 'notes'));
 * if (result.ok) console.log(result.token.org, result.token.scopes);
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
    cooldownDuration: options.jwksCooldownMs,
    cacheMaxAge: options.jwksCacheMaxAgeMs,
    timeoutDuration: options.jwksTimeoutMs,
    ...(options.fetch ? { [customFetch]: options.fetch } : {}),
  });
  const invalid = (code: string): JwtResult => ({ ok: false, reason: 'invalid', code });

  return {
    async verify(token, audiences) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          issuer: options.issuer,
          audience: [...audiences],
          algorithms: [...options.algorithms],
          clockTolerance: options.clockToleranceSec,
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired', code: err.code };
        if (err instanceof errors.JWTClaimValidationFailed) {
          return { ok: false, reason: 'invalid', code: err.code, claim: err.claim };
        }
        if (err instanceof errors.JOSEError) {
          return UNAVAILABLE_CODES.has(err.code)
            ? { ok: false, reason: 'unavailable', code: err.code }
            : invalid(err.code);
        }
        // Not a JOSE error: the JWKS fetch itself failed (network, DNS).
        return { ok: false, reason: 'unavailable', code: 'ERR_JWKS_FETCH' };
      }
      const org = payload[options.orgClaim];
      if (typeof org !== 'string' || !slugSchema.safeParse(org).success) return invalid('ERR_JWT_NO_ORG');
      const subject = typeof payload.sub === 'string' ? payload.sub : payload.client_id;
      if (typeof subject !== 'string' || subject === '') return invalid('ERR_JWT_NO_SUBJECT');
      return {
        ok: true,
        token: { org, subject, tokenId: stableTokenId(options.issuer, subject), scopes: scopesOf(payload) },
      };
    },
  };
}
