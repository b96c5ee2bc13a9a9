/**
 * The credential of an instance-to-instance call (issue 5 §2): a short-lived HS256 JWT signed with the
 * key derived from MCPGATE_SECRET (`secrets.signingKey`), addressed to one instance (`aud`), naming one
 * session (`sub`) and binding the body by its SHA-256 (`bh`). Pure apart from the clock.
 *
 * What it stops: a caller without the secret (unsigned or wrongly signed), a replay after ~30 s (`exp`),
 * a call captured for one instance and sent to another (`aud`), and a body swapped under a valid token
 * (`bh`). It carries what the routing instance already checked (token id, brain) so the owner checks
 * them again against the session it holds.
 */
import { createHash } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';

/** How long a signed internal call stays valid. Clocks of instances may differ a little: see `clockTolerance`. */
export const INTERNAL_TOKEN_TTL_S = 30;
const CLOCK_TOLERANCE_S = 5;
const ALG = 'HS256';

export interface InternalCallClaims {
  /** The routing instance. */
  from: string;
  /** The owner instance the call is for. */
  to: string;
  sessionId: string;
  brain: string;
  /** The client's token id, as authenticated by the routing instance. */
  tokenId: string;
  /** The client's `Mcp-Protocol-Version` header, when it sent one. */
  protocolVersion: string | undefined;
}

/** base64url SHA-256 of the body: the `bh` claim. */
export function bodyHash(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('base64url');
}

export async function signInternalCall(
  key: Uint8Array,
  claims: InternalCallClaims,
  body: Uint8Array | string,
): Promise<string> {
  const payload: Record<string, string> = { bh: bodyHash(body), brain: claims.brain, tok: claims.tokenId };
  if (claims.protocolVersion !== undefined) payload.pv = claims.protocolVersion;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: ALG, typ: 'mcpgate-internal+jwt' })
    .setIssuer(claims.from)
    .setAudience(claims.to)
    .setSubject(claims.sessionId)
    .setIssuedAt()
    .setExpirationTime(`${INTERNAL_TOKEN_TTL_S}s`)
    .sign(key);
}

/**
 * The claims of a valid call for `self` carrying exactly `body`; undefined for anything else (no token,
 * bad signature, another algorithm, expired or too old, another audience, another body).
 */
export async function verifyInternalCall(
  key: Uint8Array,
  token: string | undefined,
  self: string,
  body: Uint8Array | string,
): Promise<InternalCallClaims | undefined> {
  if (!token) return undefined;
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: [ALG],
      audience: self,
      maxTokenAge: `${INTERNAL_TOKEN_TTL_S + CLOCK_TOLERANCE_S}s`,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['iss', 'sub', 'exp', 'iat'],
    });
    const { bh, brain, tok, pv } = payload as Record<string, unknown>;
    if (typeof bh !== 'string' || bh !== bodyHash(body)) return undefined;
    if (typeof brain !== 'string' || typeof tok !== 'string') return undefined;
    return {
      from: payload.iss!,
      to: self,
      sessionId: payload.sub!,
      brain,
      tokenId: tok,
      protocolVersion: typeof pv === 'string' ? pv : undefined,
    };
  } catch {
    return undefined;
  }
}
