/**
 * Counts upstream failures (issue 7 §5: "upstream errors and timeouts") around the shared UpstreamClient,
 * so neither face has to. No I/O of its own.
 *
 * A timeout (ERR_UPSTREAM_TIMEOUT), an unreachable upstream (ERR_UPSTREAM_UNREACHABLE; `blocked` when the
 * SSRF guard refused the address) and an answer with a 5xx status each count once. A request the caller
 * aborted (the client went away) is not the upstream's failure and does not count.
 */
import { isGatewayError } from '../errors.js';
import { UpstreamAddressBlocked } from '../proxy/ssrf.js';
import type { UpstreamClient } from '../proxy/upstream.js';
import type { GatewayMetrics } from './metrics.js';

/** The guard's refusal sits somewhere in the cause chain (undici wraps the lookup's error). */
function blocked(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof UpstreamAddressBlocked) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function kindOf(err: unknown): string | undefined {
  if (isGatewayError(err, 'ERR_UPSTREAM_TIMEOUT')) return 'timeout';
  if (isGatewayError(err, 'ERR_UPSTREAM_UNREACHABLE')) return blocked(err) ? 'blocked' : 'unreachable';
  return undefined;
}

export function instrumentUpstream(
  client: UpstreamClient,
  metrics: Pick<GatewayMetrics, 'upstreamErrors'>,
): UpstreamClient {
  const counted = (err: unknown): never => {
    const kind = kindOf(err);
    if (kind) metrics.upstreamErrors.inc({ kind });
    throw err;
  };
  const status = <T extends { status: number }>(res: T): T => {
    if (res.status >= 500) metrics.upstreamErrors.inc({ kind: 'http_5xx' });
    return res;
  };
  return {
    request: (target, init) => client.request(target, init).then(status, counted),
    send: (target, init) => client.send(target, init).then(status, counted),
    close: () => client.close(),
  };
}
