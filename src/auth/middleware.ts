/**
 * Client auth for `/brains/:brain/*`: Bearer org token → principal, brain visible to it → brain.
 *
 * 401 + `WWW-Authenticate: Bearer realm="mcpgate"` for a missing, unknown, revoked or expired token;
 * 404 with one body for a brain that does not exist and one the token may not see (no existence oracle,
 * DESIGN.md §3).
 */
import type { MiddlewareHandler } from 'hono';
import { isGatewayError } from '../errors.js';
import type { AppEnv, GatewayDeps } from '../http/context.js';
import { JSONRPC, jsonRpcErrorResponse } from '../mcp/jsonrpc.js';
import { bearerToken } from './authenticator.js';

const AUTH_MESSAGES = {
  missing: 'Unauthorized: a Bearer token is required',
  unknown: 'Unauthorized: invalid token',
  revoked: 'Unauthorized: invalid token',
  expired: 'Unauthorized: token expired',
} as const;

export function unauthorizedResponse(reason: keyof typeof AUTH_MESSAGES): Response {
  const challenge =
    reason === 'missing' ? 'Bearer realm="mcpgate"' : `Bearer realm="mcpgate", error="invalid_token"`;
  return jsonRpcErrorResponse(401, JSONRPC.SERVER_ERROR, AUTH_MESSAGES[reason], {
    headers: { 'www-authenticate': challenge },
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

export function createClientAuth(
  deps: Pick<GatewayDeps, 'auth' | 'brains' | 'logger'>,
): MiddlewareHandler<AppEnv> {
  return async function clientAuth(c, next) {
    try {
      const result = await deps.auth.authenticate(bearerToken(c.req.header('authorization')));
      if (!result.ok) return unauthorizedResponse(result.reason);
      const { principal } = result;
      const brainId = c.req.param('brain') ?? '';
      const visible = principal.brains === null || principal.brains.includes(brainId);
      const brain = visible ? await deps.brains.get(brainId) : undefined;
      if (!brain || brain.org !== principal.org) return brainNotFoundResponse();
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
