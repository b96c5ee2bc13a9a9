/**
 * The gateway's Prometheus metrics (issue 7 §5), on a registry of its own (prom-client). No I/O: the
 * `/metrics` route (src/http/metrics.ts) renders it.
 *
 * Label values are bounded by construction: `brain` is a brain the request authenticated for (never a
 * path segment a stranger typed; unauthenticated requests get `brain=""`), `method` is a known MCP method
 * or `other`, `status` an HTTP status. Nothing carries a token, a session id or a URL.
 *
 * Others increment some of these from their own modules: `routedForwards` (owner routing of legacy POSTs,
 * issue 5) is exported for that.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EventBus } from '../events.js';

/** Methods of MCP 2025-03-26 … 2026-07-28 a client may send; anything else is labelled `other`. */
const KNOWN_METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/list',
  'tasks/result',
  'tasks/cancel',
  'server/discover',
  'subscriptions/listen',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
]);

/**
 * The `method` label: a known JSON-RPC method, `other`, or (for exchanges that carry no JSON-RPC message:
 * stream opens, session DELETEs, bodies that could not be read) the HTTP method.
 */
export function methodLabel(method: string | undefined, httpMethod: string): string {
  if (method === undefined) return httpMethod;
  return KNOWN_METHODS.has(method) ? method : 'other';
}

export interface MetricsSources {
  bus: EventBus;
  /** Live sessions this instance holds, by kind (src/sessions/registry.ts). */
  sessionsByKind(): Readonly<Record<string, number>>;
  /** Open client streams, by face (src/limits/streams.ts). */
  streamsByFace(): Readonly<Record<string, number>>;
  /** Audit entries waiting to be written (src/audit/queue.ts). */
  auditQueued(): number;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Client exchanges by face, brain, method and status. */
  readonly requests: Counter<'face' | 'brain' | 'method' | 'status'>;
  readonly requestDuration: Histogram<'face' | 'method'>;
  /** Upstream failures: `timeout`, `unreachable`, `blocked` (SSRF guard), `http_5xx`. */
  readonly upstreamErrors: Counter<'kind'>;
  /** Legacy POSTs forwarded to (or refused for) the instance owning the session (issue 5, owner routing). */
  readonly routedForwards: Counter<'outcome'>;
  /** Bus events this instance received, by type. */
  readonly busEvents: Counter<'type'>;
  /** Refusals by the limits of issue 7 §3/§9: `token`, `org`, `streams`. */
  readonly rateLimited: Counter<'scope'>;
  readonly auditWritten: Counter;
  readonly auditDropped: Counter;
  readonly auditFailed: Counter;
  /** Stops listening to the bus. */
  close(): void;
}

/** Seconds: from a cached ping (~1 ms) to a slow tool call (a minute). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * @example
 * const metrics = createMetrics({ bus, sessionsByKind: () => registry.countByKind(), ... });
 * metrics.requests.inc({ face: 'mcp', brain: 'b1', method: 'tools/call', status: '200' });
 */
export function createMetrics(sources: MetricsSources): GatewayMetrics {
  const registry = new Registry();
  // Process, heap, GC and event-loop lag (`nodejs_eventloop_lag_*`), the last at 10 ms resolution.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const registers = [registry];

  const metrics: GatewayMetrics = {
    registry,
    requests: new Counter({
      name: 'mcpgate_requests_total',
      help: 'Client exchanges (legacy: each JSON-RPC message) by face, brain, method and status',
      labelNames: ['face', 'brain', 'method', 'status'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'mcpgate_request_duration_seconds',
      help: 'Time to the end of the answer (streams: to their opening), by face and method',
      labelNames: ['face', 'method'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'mcpgate_upstream_errors_total',
      help: 'Upstream failures: timeout, unreachable, blocked (private address), http_5xx',
      labelNames: ['kind'] as const,
      registers,
    }),
    routedForwards: new Counter({
      name: 'mcpgate_routed_forwards_total',
      help: 'Legacy POSTs routed to the instance owning their session, by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    busEvents: new Counter({
      name: 'mcpgate_bus_events_total',
      help: 'Event-bus notifications received by this instance, by type',
      labelNames: ['type'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'mcpgate_rate_limited_total',
      help: 'Requests refused by a limit: token or org rate, or open streams per token',
      labelNames: ['scope'] as const,
      registers,
    }),
    auditWritten: new Counter({
      name: 'mcpgate_audit_written_total',
      help: 'Audit records written to the store',
      registers,
    }),
    auditDropped: new Counter({
      name: 'mcpgate_audit_dropped_total',
      help: 'Audit records dropped because the queue was full',
      registers,
    }),
    auditFailed: new Counter({
      name: 'mcpgate_audit_write_failures_total',
      help: 'Audit batches the store refused (retried while the queue has room)',
      registers,
    }),
    close: () => unsubscribe(),
  };

  new Gauge({
    name: 'mcpgate_live_sessions',
    help: 'Live client sessions held by this instance, by kind',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      this.reset();
      for (const [kind, n] of Object.entries(sources.sessionsByKind())) this.set({ kind }, n);
    },
  });
  new Gauge({
    name: 'mcpgate_open_streams',
    help: 'Open client SSE streams (legacy GET /sse, pass-through GET /mcp), by face',
    labelNames: ['face'] as const,
    registers,
    collect() {
      this.reset();
      for (const [face, n] of Object.entries(sources.streamsByFace())) this.set({ face }, n);
    },
  });
  new Gauge({
    name: 'mcpgate_audit_queue',
    help: 'Audit records waiting to be written',
    registers,
    collect() {
      this.set(sources.auditQueued());
    },
  });

  const unsubscribe = sources.bus.subscribe((event) => metrics.busEvents.inc({ type: event.type }));
  return metrics;
}
