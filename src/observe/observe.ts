/**
 * Where a finished exchange goes (issue 7 §4–§6): one counter and one histogram sample, one audit entry
 * (queued, never awaited), one debug log line. No I/O of its own; the audit queue writes in the
 * background.
 *
 * Exchanges come from the observe middleware (one per HTTP request under `/brains/*`) and, for the legacy
 * face, from each JSON-RPC message of a `POST /messages` (`message()`), whose outcome arrives on the
 * client's stream after the 202.
 */
import { performance } from 'node:perf_hooks';
import type { AuditLog } from '../audit/queue.js';
import type { Principal } from '../auth/authenticator.js';
import { sha256Hex } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import type { GatewayMetrics } from './metrics.js';
import { methodLabel } from './metrics.js';
import { bounded, createObservation, type FaceName, type Observation } from './observation.js';

export interface Exchange {
  observation: Observation;
  httpMethod: string;
  /** Set once client auth succeeded. */
  principal: Principal | undefined;
  brain: string | undefined;
  /** The session id as the client sent it; only a hash of it is kept. */
  session: string | undefined;
  status: number;
  /** Record it in the audit log (an authenticated JSON-RPC request). */
  audit: boolean;
  /** `performance.now()` at the end. */
  endedAt: number;
}

/** One legacy JSON-RPC message, from its POST to its answer on the client's stream. */
export interface MessageObservation {
  readonly requestId: string;
  /** The gateway answered it with an error of its own: the HTTP status that error stands for. */
  fail(status: number): void;
  /** The exchange is over (the answer was delivered, or nothing is owed); later calls do nothing. */
  end(): void;
}

export interface Observe {
  readonly metrics: GatewayMetrics;
  readonly audit: AuditLog;
  finish(exchange: Exchange): void;
  /** Observes one legacy message of an observed `POST /messages` (the request-level one is then skipped). */
  message(options: {
    observation: Observation;
    principal: Principal;
    brain: string;
    session: string;
    method: string;
    name: string | undefined;
  }): MessageObservation;
  close(): Promise<void>;
}

/** Session ids seen lately and their refs: every message of a session needs the same one. */
const refs = new Map<string, string>();
const MAX_REFS = 10_000;

/** Enough to tie audit records of one session together; not enough to use or recover the id. */
export function sessionRef(id: string): string {
  let ref = refs.get(id);
  if (ref === undefined) {
    ref = sha256Hex(id).slice(0, 16);
    if (refs.size >= MAX_REFS) refs.clear();
    refs.set(id, ref);
  }
  return ref;
}

const ms = (value: number) => Math.round(value * 1000) / 1000;

export function createObserve(options: {
  metrics: GatewayMetrics;
  audit: AuditLog;
  logger: Logger;
}): Observe {
  const { metrics, audit, logger } = options;

  function finish(ex: Exchange): void {
    const o = ex.observation;
    const latency = ex.endedAt - o.startedAt;
    const method = methodLabel(o.method, ex.httpMethod);
    const status = String(ex.status);
    metrics.requests.inc({ face: o.face, brain: ex.brain ?? '', method, status });
    metrics.requestDuration.observe({ face: o.face, method }, latency / 1000);
    if (ex.audit && ex.principal && ex.brain !== undefined) {
      audit.record({
        at: new Date(Date.now() - latency),
        org: ex.principal.org,
        brain: ex.brain,
        tokenId: ex.principal.tokenId,
        session: ex.session === undefined ? null : sessionRef(ex.session),
        face: o.face,
        method: o.method ?? null,
        name: o.name ?? null,
        status: ex.status,
        latencyMs: ms(latency),
        requestId: o.requestId,
      });
    }
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        {
          reqId: o.requestId,
          face: o.face,
          brain: ex.brain,
          tokenId: ex.principal?.tokenId,
          method: o.method ?? ex.httpMethod,
          status: ex.status,
          ms: ms(latency),
        },
        'request',
      );
    }
  }

  return {
    metrics,
    audit,
    finish,
    message({ observation, principal, brain, session, method, name }) {
      const own = createObservation(
        observation.requestId,
        observation.face as FaceName,
        observation.startedAt,
      );
      // As the client sent it: bounded like the faces' own (./observation.ts).
      own.method = bounded(method);
      own.name = name;
      let status = 200;
      let ended = false;
      return {
        requestId: observation.requestId,
        fail(s) {
          status = s;
        },
        end() {
          if (ended) return;
          ended = true;
          finish({
            observation: own,
            httpMethod: 'POST',
            principal,
            brain,
            session,
            status,
            audit: true,
            endedAt: performance.now(),
          });
        },
      };
    },
    async close() {
      await audit.close();
      metrics.close();
    },
  };
}
