/**
 * The SIGTERM drain (issue 5 §6, docs/scale-out.md): stop taking new work at once, let the work in flight
 * finish within a bound, then close. No I/O of its own beyond what the gateway's parts do.
 *
 * 1. `lifecycle.draining = true`, synchronously: `/readyz` answers 503 from now on, so the load balancer
 *    stops sending new requests, and the faces refuse new streams (503 + Retry-After).
 * 2. The instance is marked draining in the store (peers see it), while
 * 3. the requests in flight (src/http/inflight.ts) finish, for at most `timeoutMs`;
 * 4. `gateway.close()`: the shutdown hooks end the open streams (clients reconnect elsewhere), the server
 *    closes, the instance deregisters, the store closes.
 */
import type { Gateway } from '../gateway.js';
import type { Logger } from '../log.js';

export interface DrainResult {
  /** True when everything in flight finished before the timeout. */
  idle: boolean;
  /** Work still in flight when the timeout cut it off. */
  abandoned: number;
  waitedMs: number;
}

/**
 * @example
 * process.once('SIGTERM', async () => {
 *   await drainAndClose(gateway, { timeoutMs: config.drainTimeoutMs, logger });
 *   process.exit(0);
 * });
 */
export async function drainAndClose(
  gateway: Pick<Gateway, 'deps' | 'instances' | 'close'>,
  options: { timeoutMs: number; logger: Logger },
): Promise<DrainResult> {
  const { lifecycle } = gateway.deps;
  const started = Date.now();
  lifecycle.draining = true;
  const marking = gateway.instances?.markDraining();
  const inflightAtStart = lifecycle.inflight.active;
  options.logger.info({ inflight: inflightAtStart, timeoutMs: options.timeoutMs }, 'draining');
  const idle = await lifecycle.inflight.idle(options.timeoutMs);
  const result: DrainResult = {
    idle,
    abandoned: lifecycle.inflight.active,
    waitedMs: Date.now() - started,
  };
  if (idle) options.logger.info({ waitedMs: result.waitedMs }, 'drained');
  else options.logger.warn({ abandoned: result.abandoned }, 'drain timed out; closing anyway');
  await marking;
  await gateway.close();
  return result;
}
