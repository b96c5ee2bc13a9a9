/**
 * Client auth for `/brains/:brain/*`: a Bearer credential → principal, brain visible to it → brain.
 * I/O through the Store (org tokens) and the issuer's JWKS (JWT access tokens).
 *
 * - `mcpg_` org tokens are looked up as before. With OAuth configured, any other bearer is verified as a
 *   JWT access token (src/auth/jwt.ts) for this brain's resources (src/auth/resource.ts); its org claim
 *   names the org and its brain scopes narrow the brains (403 `insufficient_scope` before any lookup,
 *   so the 403 says nothing about which brains exist).
 * - 401 + `WWW-Authenticate: Bearer realm="mcpgate"` for a missing, unknown, revoked or expired
 *   credential; with OAuth configured every challenge also carries `resource_metadata` (the path-aware
 *   PRM URL for this face) and the brain's `scope` (MCP authorization, protocol.md §3.3).
 * - 404 with one body for a brain that does not exist and one the credential may not see (no existence
 *   oracle, DESIGN.md §3).
 * - `?access_token=` is read only on `GET /brains/:brain/sse` and only when MCPGATE_ALLOW_QUERY_TOKEN is
 *   on; it is then removed from the request the face sees (src/auth/query-token.ts).
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Config } from '../config.js';
import { isGatewayError } from '../errors.js';
import { slugSchema } from '../http/admin-schemas.js';
import type { AppEnv, GatewayDeps } from '../http/context.js';
import { JSONRPC, jsonRpcErrorResponse } from '../mcp/jsonrpc.js';
import type { BrainCache, ResolvedBrain } from '../store/brain-cache.js';
import { type AuthResult, bearerToken, type Principal } from './authenticator.js';
import { createJwtVerifier, type JwtVerifier } from './jwt.js';
import { isQueryTokenRoute, QUERY_TOKEN_PARAM, withoutQueryToken } from './query-token.js';
import { acceptedAudiences, brainScope, brainsGranted, faceOfPath, metadataUrl } from './resource.js';
import { TOKEN_PREFIX } from './tokens.js';

const AUTH_MESSAGES = {
  missing: 'Unauthorized: a Bearer token is required',
  unknown: 'Unauthorized: invalid token',
  revoked: 'Unauthorized: invalid token',
  expired: 'Unauthorized: token expired',
} as const;

/** What a challenge tells the client about where to get a token (RFC 9728 §5.1). */
export interface Discovery {
  resourceMetadata?: string;
  scope?: string;
}

function challenge(params: Discovery & { error?: string; description?: string }): string {
  const parts = ['realm="mcpgate"'];
  if (params.error) parts.push(`error="${params.error}"`);
  if (params.description) parts.push(`error_description="${params.description}"`);
  if (params.scope) parts.push(`scope="${params.scope}"`);
  if (params.resourceMetadata) parts.push(`resource_metadata="${params.resourceMetadata}"`);
  return `Bearer ${parts.join(', ')}`;
}

export function unauthorizedResponse(
  reason: keyof typeof AUTH_MESSAGES,
  discovery: Discovery = {},
): Response {
  const error = reason === 'missing' ? undefined : 'invalid_token';
  return jsonRpcErrorResponse(401, JSONRPC.SERVER_ERROR, AUTH_MESSAGES[reason], {
    headers: { 'www-authenticate': challenge({ ...discovery, error }) },
  });
}

/** 403 for a valid token without the brain's scope (RFC 6750 §3.1; MCP authorization "Scope Challenge"). */
export function insufficientScopeResponse(scope: string, resourceMetadata?: string): Response {
  const description = `requires scope ${scope}`;
  return jsonRpcErrorResponse(403, JSONRPC.SERVER_ERROR, `Forbidden: insufficient scope (${description})`, {
    headers: {
      'www-authenticate': challenge({ error: 'insufficient_scope', description, scope, resourceMetadata }),
    },
  });
}

export function brainNotFoundResponse(): Response {
  return jsonRpcErrorResponse(404, JSONRPC.SERVER_ERROR, 'Not found: no such brain');
}

export function storeUnavailableResponse(): Response {
  return jsonRpcErrorResponse(
    503,
    JSONRPC.SERVER_ERROR,
    'Service unavailable: the gateway store is not reachable',
    {
      headers: { 'retry-after': '2' },
    },
  );
}

function keysUnavailableResponse(): Response {
  return jsonRpcErrorResponse(
    503,
    JSONRPC.SERVER_ERROR,
    'Service unavailable: the authorization server keys could not be fetched',
    { headers: { 'retry-after': '5' } },
  );
}

/** Whether client auth checks this bearer as an org token (else, with OAuth on, as a JWT access token). */
export function checkedAsOrgToken(config: Pick<Config, 'oauth' | 'publicUrl'>, token: string): boolean {
  return !(config.oauth && config.publicUrl) || token.startsWith(TOKEN_PREFIX);
}

/** The brain if it exists, belongs to the principal's org and the principal may use it; else undefined. */
export async function visibleBrain(
  brains: BrainCache,
  principal: Principal,
  brainId: string,
): Promise<ResolvedBrain | undefined> {
  const visible = principal.brains === null || principal.brains.includes(brainId);
  const brain = visible ? await brains.get(brainId) : undefined;
  return brain && brain.org === principal.org ? brain : undefined;
}

export interface ClientAuthOptions {
  /** JWT verifier; defaults to one built from `config.oauth` (none when OAuth is off). */
  jwt?: JwtVerifier;
}

type ClientAuthDeps = Pick<GatewayDeps, 'auth' | 'brains' | 'logger' | 'config'>;

export function createClientAuth(
  deps: ClientAuthDeps,
  options: ClientAuthOptions = {},
): MiddlewareHandler<AppEnv> {
  const { config } = deps;
  const oauth =
    config.oauth && config.publicUrl ? { ...config.oauth, publicUrl: config.publicUrl } : undefined;
  const jwt = oauth ? (options.jwt ?? createJwtVerifier(oauth)) : undefined;

  /** The challenge hints for this route; the brain id is only echoed when it is a well-formed slug. */
  function discoveryFor(c: Context<AppEnv>, brainId: string): Discovery {
    if (!oauth) return {};
    if (!slugSchema.safeParse(brainId).success) return { resourceMetadata: metadataUrl(oauth.publicUrl) };
    const face = faceOfPath(c.req.path)?.face;
    return {
      resourceMetadata: metadataUrl(oauth.publicUrl, face && { brain: brainId, face }),
      scope: brainScope(oauth.scopePrefix, brainId),
    };
  }

  /** A JWT → principal, or the response that refuses it. */
  async function verifyJwt(
    token: string,
    brainId: string,
    discovery: Discovery,
  ): Promise<Principal | Response> {
    const result = await jwt!.verify(token, acceptedAudiences(oauth!.publicUrl, brainId, oauth!.audiences));
    if (!result.ok) {
      const { reason, code, claim } = result;
      deps.logger.debug({ reason, code, claim, brain: brainId }, 'jwt refused');
      if (result.reason === 'unavailable') return keysUnavailableResponse();
      return unauthorizedResponse(result.reason === 'expired' ? 'expired' : 'unknown', discovery);
    }
    const { token: t } = result;
    const brains = brainsGranted(t.scopes, {
      prefix: oauth!.scopePrefix,
      required: oauth!.requireBrainScope,
    });
    if (brains !== null && !brains.includes(brainId)) {
      if (discovery.scope === undefined) return brainNotFoundResponse();
      return insufficientScopeResponse(discovery.scope, discovery.resourceMetadata);
    }
    return { org: t.org, tokenId: t.tokenId, brains, subject: t.subject };
  }

  return async function clientAuth(c, next) {
    const brainId = c.req.param('brain') ?? '';
    const discovery = discoveryFor(c, brainId);
    const header = c.req.header('authorization');
    let token = bearerToken(header);
    if (config.allowQueryToken && isQueryTokenRoute(c.req.method, c.req.path)) {
      const fromQuery = c.req.query(QUERY_TOKEN_PARAM);
      if (fromQuery !== undefined) {
        // RFC 6750 §2: one method per request.
        if (header !== undefined) {
          return jsonRpcErrorResponse(400, JSONRPC.SERVER_ERROR, 'Bad Request: send the token once', {
            headers: { 'www-authenticate': challenge({ ...discovery, error: 'invalid_request' }) },
          });
        }
        token = fromQuery;
        // The face, and anything it logs, never sees the token in the URL.
        c.req.raw = new Request(withoutQueryToken(c.req.raw.url), c.req.raw);
      }
    }

    let principal: Principal;
    try {
      if (token && !checkedAsOrgToken(config, token)) {
        const verified = await verifyJwt(token, brainId, discovery);
        if (verified instanceof Response) return verified;
        principal = verified;
      } else {
        const result: AuthResult = await deps.auth.authenticate(token);
        if (!result.ok) return unauthorizedResponse(result.reason, discovery);
        principal = result.principal;
      }
      const brain = await visibleBrain(deps.brains, principal, brainId);
      if (!brain) return brainNotFoundResponse();
      c.set('principal', principal);
      c.set('brain', brain);
    } catch (err) {
      if (isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) return storeUnavailableResponse();
      throw err;
    }
    await next();
    return undefined;
  };
}
