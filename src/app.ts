/**
 * Builds the Hono app from its dependencies. Pure wiring: no listening, no process access.
 *
 * Route modules for the MCP faces register themselves through `faces`, so this file stays the map of the
 * gateway's public surface.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import { createClientAuth } from './auth/middleware.js';
import { createCorsMiddleware, createHostGuard, createOriginGuard } from './auth/origin.js';
import { GatewayError } from './errors.js';
import { adminErrorBody, createAdminRoutes, describeCause } from './http/admin.js';
import type { AppEnv, GatewayDeps } from './http/context.js';
import { createHealthRoutes } from './http/health.js';
import { createInflightMiddleware } from './http/inflight.js';
import { createInternalRoutes } from './http/internal.js';
import { createMetricsRoutes } from './http/metrics.js';
import { createUnreadBodyClose } from './http/unread-body.js';
import { createWellKnownRoutes } from './http/well-known.js';
import { createLimitsMiddleware } from './limits/middleware.js';
import { JSONRPC, jsonRpcErrorResponse } from './mcp/jsonrpc.js';
import { createObserveMiddleware } from './observe/middleware.js';

/** The Node request listener the Hono app runs behind. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * A face's fast lane: offered every Node request before Hono. It returns false, having touched nothing,
 * for a request it does not take; a request it took and then hands over after all goes to `app`.
 * A lane must hold every promise the routes below make for the requests it takes (docs/decisions/0007).
 */
export type NodeLane = (req: IncomingMessage, res: ServerResponse, app: NodeListener) => boolean;

/**
 * A client-facing face mounted under `/brains/:brain` after auth (pass-through, legacy bridge); it may
 * add a fast lane to `lanes`.
 */
export type Face = (app: Hono<AppEnv>, deps: GatewayDeps, lanes: NodeLane[]) => void;

export interface GatewayApp {
  app: Hono<AppEnv>;
  /** The faces' fast lanes, in order (src/gateway.ts offers each request to them first). */
  lanes: NodeLane[];
}

export function createApp(deps: GatewayDeps, faces: Face[] = []): GatewayApp {
  const app = new Hono<AppEnv>();

  // First, so a drain waits for every request that got in, whatever answers it (issue 5 §6).
  app.use('*', createInflightMiddleware(deps.lifecycle.inflight));
  // A body refused unread is not drained to the end: the connection closes instead (issue 7 §9).
  app.use('*', createUnreadBodyClose());
  // Request id and observation before anything can refuse the request, so refusals are counted too.
  app.use('/brains/*', createObserveMiddleware(deps.observe));

  // Browser boundary first (src/auth/origin.ts): Host allowlist everywhere but health checks, Origin on
  // the MCP faces and the admin API, CORS (off by default) before auth so preflights need no token.
  const hostGuard = createHostGuard(deps.config);
  if (hostGuard) app.use('*', hostGuard);
  const originGuard = createOriginGuard(deps.config);
  app.use('/brains/*', originGuard);
  app.use('/admin/*', originGuard);
  const cors = createCorsMiddleware(deps.config);
  if (cors) {
    app.use('/brains/*', cors);
    app.use('/.well-known/*', cors);
  }

  app.route('/', createHealthRoutes(deps));
  if (deps.config.metricsPort === undefined) {
    app.route('/', createMetricsRoutes(deps.observe.metrics.registry, deps.config.metricsToken));
  }
  app.route('/.well-known', createWellKnownRoutes(deps.config));
  app.route('/admin/v1', createAdminRoutes(deps));
  // Instance-to-instance calls (owner routing, issue 5 §2): signed with MCPGATE_SECRET, refused otherwise.
  app.route('/internal/v1', createInternalRoutes(deps));

  const brains = new Hono<AppEnv>();
  brains.use('/:brain/*', createClientAuth(deps));
  // Rate and stream limits after auth (they are per token and org), before any face forwards anything.
  brains.use('/:brain/*', createLimitsMiddleware(deps.limits, deps.observe.metrics));
  const lanes: NodeLane[] = [];
  for (const face of faces) face(brains, deps, lanes);
  app.route('/brains', brains);

  app.notFound(() => jsonRpcErrorResponse(404, JSONRPC.SERVER_ERROR, 'Not found'));

  app.onError((err, c) => {
    const gatewayError =
      err instanceof GatewayError ? err : new GatewayError('ERR_INTERNAL', 'internal error', { cause: err });
    if (gatewayError.status >= 500) {
      deps.logger.error(
        {
          code: gatewayError.code,
          path: c.req.path,
          reqId: c.get('observation')?.requestId,
          cause: describeCause(err),
        },
        'request failed',
      );
    }
    if (c.req.path.startsWith('/admin/'))
      return c.json(adminErrorBody(gatewayError), gatewayError.status as 400);
    const message = gatewayError.expose ? gatewayError.message : 'Internal error';
    return jsonRpcErrorResponse(gatewayError.status, JSONRPC.INTERNAL_ERROR, message);
  });

  return { app, lanes };
}
