/**
 * Admission of a legacy `POST /messages` body, message by message (issue 7 §3, §4). No I/O beyond writing
 * refusals on the client's own stream.
 *
 * The legacy transport answers every accepted POST with 202 and delivers replies on the SSE stream, so a
 * rate-limited request is not a 429: it gets a JSON-RPC error for its id on the stream, like any other
 * failure of that request (DESIGN.md §3: the client never hangs). Each JSON-RPC request takes one token
 * from its token's and org's buckets; notifications and a client's answers to server requests are never
 * refused (refusing `notifications/cancelled` or a sampling result would only make things worse).
 *
 * Every message with a method gets its own MessageObservation (audit, metrics), carried on the message to
 * the bridge, which reports a failure of its own (`fail`) and the end of the exchange (`end`).
 */
import type { Principal } from '../auth/authenticator.js';
import type { ClientMessage } from '../bridge/client-messages.js';
import type { GatewayDeps } from '../http/context.js';
import { JSONRPC, jsonRpcError } from '../mcp/jsonrpc.js';
import type { Observation } from '../observe/observation.js';
import { targetName } from '../observe/observation.js';

export interface LegacyAdmission {
  deps: Pick<GatewayDeps, 'limits' | 'observe'>;
  /** The POST's observation (absent when no observe middleware runs). */
  observation: Observation | undefined;
  principal: Principal;
  brain: string;
  session: {
    readonly id: string;
    /** Its JSON-RPC requests handed to the bridge and not answered yet. */
    readonly inflight: number;
    push(json: string): boolean;
  };
  messages: ClientMessage[];
}

/** The messages to hand to the bridge; refused ones have been answered on the stream already. */
export function admitLegacyMessages(options: LegacyAdmission): ClientMessage[] {
  const { deps, observation, principal, brain, session, messages } = options;
  if (observation) observation.perMessage = true;
  const admitted: ClientMessage[] = [];
  let inflight = session.inflight;
  for (const message of messages) {
    if (message.method === undefined) {
      admitted.push(message);
      continue;
    }
    const observed = observation
      ? deps.observe.message({
          observation,
          principal,
          brain,
          session: session.id,
          method: message.method,
          name: targetName(message.method, message.params),
        })
      : undefined;
    if (message.kind === 'request') {
      // One session cannot pile up unbounded work upstream, whatever the rate limits say.
      if (inflight >= deps.limits.maxInflightPerSession) {
        deps.observe.metrics.rateLimited.inc({ scope: 'inflight' });
        const text = `Too Many Requests: ${inflight} requests of this session are waiting for answers; wait for some`;
        session.push(JSON.stringify(jsonRpcError(JSONRPC.SERVER_ERROR, text, message.id)));
        observed?.fail(429);
        observed?.end();
        continue;
      }
      const verdict = deps.limits.rate.take(principal);
      if (!verdict.ok) {
        deps.observe.metrics.rateLimited.inc({ scope: verdict.scope });
        const text = `Too Many Requests: ${verdict.scope} rate limit exceeded; retry after ${verdict.retryAfterSeconds} s`;
        const data = { retryAfterSeconds: verdict.retryAfterSeconds };
        session.push(JSON.stringify(jsonRpcError(JSONRPC.SERVER_ERROR, text, message.id, data)));
        observed?.fail(429);
        observed?.end();
        continue;
      }
      inflight++;
    }
    if (observed) message.observed = observed;
    admitted.push(message);
  }
  return admitted;
}
