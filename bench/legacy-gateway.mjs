// Runs the built gateway (dist/, `npm run build`) for the legacy benchmark, on the embedded store, with
// one org, one brain (the given upstream) and one token. Run as a child:
// `node --expose-gc bench/legacy-gateway.mjs <upstream url>`; prints "ready <url> <token>"; answers
// "rss" on stdin with its resident set size after a full GC.

import { parseConfig } from '../dist/config.js';
import { faces } from '../dist/faces.js';
import { startGateway } from '../dist/gateway.js';
import { createLogger } from '../dist/log.js';

const ADMIN = 'bench-admin-token-0123456789';
// warn: the per-session open/close info lines would otherwise dominate the 1,000-session run's stdout.
const config = parseConfig({ PORT: '0', MCPGATE_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn' });
const gateway = await startGateway({ config, logger: createLogger({ level: 'warn' }), faces });
const admin = async (path, body) => {
  const res = await fetch(`${gateway.url}/admin/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
};
await admin('/orgs', { slug: 'bench' });
await admin('/orgs/bench/brains', { id: 'b', upstreamUrl: process.argv[2] });
const { token } = await admin('/orgs/bench/tokens', {});
process.stdout.write(`ready ${gateway.url} ${token}\n`);
process.stdin.on('data', (line) => {
  const command = String(line).trim();
  if (command === 'rss') {
    globalThis.gc?.();
    const m = process.memoryUsage();
    process.stdout.write(
      `rss ${m.rss} heap ${m.heapUsed} external ${m.external} sessions ${gateway.deps.sessions.size}\n`,
    );
  }
});
process.on('SIGTERM', () => gateway.close().finally(() => process.exit(0)));
