/**
 * `GET /metrics` in Prometheus text format (issue 7 §5, DESIGN.md §3). No I/O beyond rendering the
 * registry.
 *
 * Served on PORT, or only on MCPGATE_METRICS_PORT when that is set (src/gateway.ts starts that listener).
 * With MCPGATE_METRICS_TOKEN set, a scrape must carry it as a Bearer token. The Host allowlist does not
 * apply here (src/auth/origin.ts): scrapers address instances by IP.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import { bearerToken } from '../auth/authenticator.js';

const sha = (value: string) => createHash('sha256').update(value).digest();

/**
 * @example
 * app.route('/', createMetricsRoutes(deps.observe.metrics.registry, deps.config.metricsToken));
 */
export function createMetricsRoutes(registry: Registry, token: string | undefined): Hono {
  const app = new Hono();
  const expected = token === undefined ? undefined : sha(token);
  app.get('/metrics', async (c) => {
    if (expected) {
      const presented = bearerToken(c.req.header('authorization'));
      if (!presented || !timingSafeEqual(sha(presented), expected)) {
        return c.text('Unauthorized\n', 401, { 'www-authenticate': 'Bearer realm="mcpgate-metrics"' });
      }
    }
    return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });
  return app;
}
