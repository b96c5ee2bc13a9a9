/**
 * `/healthz` (the process runs) and `/readyz` (store answers and not draining). I/O: one store ping.
 */
import { Hono } from 'hono';
import type { AppEnv, GatewayDeps } from './context.js';

export function createHealthRoutes(deps: Pick<GatewayDeps, 'store' | 'lifecycle'>): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    if (deps.lifecycle.draining) return c.json({ status: 'draining' }, 503);
    try {
      await deps.store.ping();
      return c.json({ status: 'ready', store: deps.store.kind });
    } catch {
      return c.json({ status: 'unavailable', reason: 'store not reachable' }, 503);
    }
  });
  return app;
}
