/**
 * `mcpgate serve`: config → store → gateway → listen, with SIGTERM/SIGINT handling. The only module
 * besides cli.ts that touches `process`.
 */
import { randomBytes } from 'node:crypto';
import { type Config, parseConfig } from './config.js';
import { type DemoBrain, startDemoBrain } from './demo/brain.js';
import { demoBanner, seedDemo } from './demo/seed.js';
import { faces } from './faces.js';
import { startGateway } from './gateway.js';
import { createLogger } from './log.js';
import { drainAndClose } from './sessions/drain.js';

export async function serveCommand(options: { demo: boolean }): Promise<void> {
  let config: Config;
  const env = { ...process.env };
  if (options.demo) {
    // Demo mode always runs on the embedded store, with an admin token generated unless one is given.
    delete env.DATABASE_URL;
    env.MCPGATE_ADMIN_TOKEN ||= `adm_${randomBytes(24).toString('base64url')}`;
  }
  config = parseConfig(env);
  const logger = createLogger({ level: config.logLevel });
  if (!config.adminToken) logger.warn('MCPGATE_ADMIN_TOKEN is not set: the admin API refuses every call');

  let demo: DemoBrain | undefined;
  if (options.demo) demo = await startDemoBrain();
  const gateway = await startGateway({ config, logger, faces });
  if (demo) {
    const seed = await seedDemo(gateway.deps, demo.url);
    const base = gateway.url.replace('://[::]', '://localhost').replace('://0.0.0.0', '://localhost');
    process.stdout.write(`${demoBanner(base, seed)}\n`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => process.exit(1), config.drainTimeoutMs + 5_000);
    hardStop.unref();
    // In-flight calls finish (bounded by the drain timeout), then streams close (src/sessions/drain.ts).
    await drainAndClose(gateway, { timeoutMs: config.drainTimeoutMs, logger });
    await demo?.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
