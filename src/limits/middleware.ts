/**
 * Limits on the MCP faces, after client auth and before anything is forwarded (issue 7 §3, §9). No I/O.
 *
 * - Rate: each `POST`/`GET` on `/mcp` and each `GET /sse` takes one request from the token's and the org's
 *   buckets (./rate-limiter.ts); when either is empty the answer is 429 with `Retry-After` and a JSON-RPC
 *   error body, and the upstream never sees the request. `DELETE` (ending a session) is never refused.
 *   Legacy `POST /messages` is limited per JSON-RPC request by the face instead (./legacy-messages.ts):
 *   its answer is a 202 whatever happens, and the refusal goes out on the client's stream.
 * - Streams: a `GET` on `/sse` or `/mcp` holds one of the token's stream slots (./streams.ts) until its
 *   response closes; past MCPGATE_MAX_STREAMS_PER_TOKEN the next is refused with 429.
 */
import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context.js';
import { JSONRPC, jsonRpcErrorResponse } from '../mcp/jsonrpc.js';
import type { GatewayMetrics } from '../observe/metrics.js';
import type { RateLimiter } from './rate-limiter.js';
import type { StreamSlots } from './streams.js';

export interface Limits {
  readonly rate: RateLimiter;
  readonly streams: StreamSlots;
  /** Requests of one legacy session in flight upstream at once (./legacy-messages.ts). */
  readonly maxInflightPerSession: number;
}

/** How long a client refused for open streams should wait: they free up when other streams close. */
const STREAMS_RETRY_AFTER_S = 5;

export function rateLimitedResponse(scope: 'token' | 'org', retryAfterSeconds: number): Response {
  const message = `Too Many Requests: ${scope} rate limit exceeded; retry after ${retryAfterSeconds} s`;
  return jsonRpcErrorResponse(429, JSONRPC.SERVER_ERROR, message, {
    headers: { 'retry-after': String(retryAfterSeconds) },
  });
}

function tooManyStreamsResponse(): Response {
  return jsonRpcErrorResponse(
    429,
    JSONRPC.SERVER_ERROR,
    'Too Many Requests: this token has too many open streams; close one first',
    { headers: { 'retry-after': String(STREAMS_RETRY_AFTER_S) } },
  );
}

/**
 * @example
 * brains.use('/:brain/*', createClientAuth(deps));
 * brains.use('/:brain/*', createLimitsMiddleware(deps.limits, deps.observe.metrics));
 */
export function createLimitsMiddleware(
  limits: Limits,
  metrics: Pick<GatewayMetrics, 'rateLimited'>,
): MiddlewareHandler<AppEnv> {
  return async function limitRequest(c, next) {
    const method = c.req.method;
    const path = c.req.path;
    const face = path.endsWith('/mcp') ? 'mcp' : path.endsWith('/sse') ? 'sse' : undefined;
    const counted =
      face === 'mcp' ? method === 'POST' || method === 'GET' : face === 'sse' && method === 'GET';
    if (!counted) return next();

    const principal = c.get('principal');
    const verdict = limits.rate.take(principal);
    if (!verdict.ok) {
      metrics.rateLimited.inc({ scope: verdict.scope });
      return rateLimitedResponse(verdict.scope, verdict.retryAfterSeconds);
    }
    if (method !== 'GET') return next();

    const release = limits.streams.acquire(principal.tokenId, face!);
    if (!release) {
      metrics.rateLimited.inc({ scope: 'streams' });
      return tooManyStreamsResponse();
    }
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    try {
      await next();
    } finally {
      // The slot is held while the client's response is open (a refused open closes at once).
      if (!outgoing || outgoing.destroyed || outgoing.writableFinished) release();
      else outgoing.once('close', release);
    }
    return undefined;
  };
}
