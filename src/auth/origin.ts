/**
 * Browser-facing boundary (issue 7 item 2): `Origin` and `Host` allowlists and opt-in CORS. Pure
 * middleware factories over the Config.
 *
 * - Origin (MCP 2025-11-25 transports §"Security Warning", protocol.md §2.1): a request that carries an
 *   `Origin` not on the list gets 403 with a JSON-RPC error body without an id. No `Origin` (every
 *   non-browser client) passes. The list is MCPGATE_ALLOWED_ORIGINS plus MCPGATE_CORS_ORIGINS plus the
 *   gateway's own public origin; `*` allows any; the opaque origin `null` passes only when listed.
 * - Host (DNS-rebinding guard): when MCPGATE_ALLOWED_HOSTS is set, every route but the health checks
 *   refuses other Host headers. The public and instance URLs' hosts are always allowed, so peers and the
 *   load balancer keep working. An entry without a port matches any port.
 * - CORS: off unless MCPGATE_CORS_ORIGINS is set; then hono/cors answers preflights for the MCP faces and
 *   the well-known documents, reflects the requested headers (MCP adds `Mcp-Param-*` names) and exposes
 *   the ones clients must read.
 */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { Config } from '../config.js';
import type { AppEnv } from '../http/context.js';
import { JSONRPC, jsonRpcErrorResponse } from '../mcp/jsonrpc.js';

type BoundaryConfig = Pick<
  Config,
  'allowedOrigins' | 'allowedHosts' | 'corsOrigins' | 'publicUrl' | 'instanceUrl'
>;

function normaliseOrigin(value: string): string | undefined {
  if (value === 'null') return value;
  try {
    const url = new URL(value);
    return /^https?:$/.test(url.protocol) ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

function forbidden(message: string, path: string): Response {
  if (path.startsWith('/admin/')) {
    return Response.json({ error: { code: 'ERR_FORBIDDEN', message } }, { status: 403 });
  }
  return jsonRpcErrorResponse(403, JSONRPC.SERVER_ERROR, `Forbidden: ${message}`);
}

/** Whether a request with this `Origin` header (or none) may pass; shared by the guard and fast lanes. */
export function createOriginCheck(config: BoundaryConfig): (origin: string | undefined) => boolean {
  const allowed = new Set([...config.allowedOrigins, ...config.corsOrigins]);
  if (config.publicUrl) allowed.add(new URL(config.publicUrl).origin);
  if (allowed.has('*')) return () => true;
  return (origin) => {
    if (origin === undefined) return true;
    const normalised = normaliseOrigin(origin.trim());
    return normalised !== undefined && allowed.has(normalised);
  };
}

/** 403 for a present `Origin` that is not allowed. */
export function createOriginGuard(config: BoundaryConfig): MiddlewareHandler<AppEnv> {
  const allowed = createOriginCheck(config);
  return async function originGuard(c, next) {
    if (!allowed(c.req.header('origin'))) return forbidden('origin not allowed', c.req.path);
    await next();
    return undefined;
  };
}

/** Probes and scrapers address instances by IP, not by a public host name (issue 7 §5). */
const HEALTH_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

function splitHost(value: string): { hostname: string; port: string } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  return match ? { hostname: match[1]!.toLowerCase(), port: match[2] ?? '' } : undefined;
}

/**
 * Whether a request with this `Host` header may reach a route other than the health checks; undefined
 * when MCPGATE_ALLOWED_HOSTS is empty (every host may). Shared by the guard and fast lanes.
 */
export function createHostCheck(config: BoundaryConfig): ((host: string) => boolean) | undefined {
  if (config.allowedHosts.length === 0) return undefined;
  const entries = [...config.allowedHosts];
  for (const url of [config.publicUrl, config.instanceUrl]) if (url) entries.push(new URL(url).host);
  const rules = entries.map(splitHost).filter((r) => r !== undefined);
  return (value) => {
    const host = splitHost(value);
    return (
      host !== undefined &&
      rules.some((r) => r.hostname === host.hostname && (r.port === '' || r.port === host.port))
    );
  };
}

/** 403 for a Host not on the allowlist; undefined (no middleware) when the list is empty. */
export function createHostGuard(config: BoundaryConfig): MiddlewareHandler<AppEnv> | undefined {
  const allowed = createHostCheck(config);
  if (!allowed) return undefined;
  return async function hostGuard(c, next) {
    if (HEALTH_PATHS.has(c.req.path)) return next();
    if (!allowed(c.req.header('host') ?? new URL(c.req.url).host))
      return forbidden('host not allowed', c.req.path);
    await next();
    return undefined;
  };
}

/** Headers a browser MCP client must be able to read. */
const EXPOSED_HEADERS = ['mcp-session-id', 'mcp-protocol-version', 'www-authenticate', 'retry-after'];

/** hono/cors for the configured origins; undefined (CORS off) when none are configured. */
export function createCorsMiddleware(config: BoundaryConfig): MiddlewareHandler<AppEnv> | undefined {
  if (config.corsOrigins.length === 0) return undefined;
  return cors({
    origin: config.corsOrigins.includes('*') ? '*' : [...config.corsOrigins],
    allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    // Empty: reflect Access-Control-Request-Headers (Authorization, Mcp-Session-Id, Mcp-Param-*, …).
    allowHeaders: [],
    exposeHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  });
}
