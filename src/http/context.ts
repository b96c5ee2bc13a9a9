/**
 * What every route factory receives, and the Hono variables set by middleware. Pure types.
 */
import type { Principal, TokenAuthenticator } from '../auth/authenticator.js';
import type { SecretBox } from '../auth/secrets.js';
import type { Config } from '../config.js';
import type { EventBus } from '../events.js';
import type { Limits } from '../limits/middleware.js';
import type { Logger } from '../log.js';
import type { Observation } from '../observe/observation.js';
import type { Observe } from '../observe/observe.js';
import type { UpstreamClient } from '../proxy/upstream.js';
import type { SessionRegistry } from '../sessions/registry.js';
import type { BrainCache, ResolvedBrain } from '../store/brain-cache.js';
import type { Store } from '../store/types.js';
import type { Inflight } from './inflight.js';

export interface Lifecycle {
  /** True once SIGTERM arrived: /readyz answers 503 and no new streams open. */
  draining: boolean;
  /** Run on shutdown, before the HTTP server closes: faces end their streams here. */
  onShutdown(hook: () => Promise<void> | void): void;
  /**
   * Work in flight, which a drain waits for (bounded by MCPGATE_DRAIN_TIMEOUT_MS). Requests are counted
   * by a middleware; a face counts work it accepted but finishes later (src/http/inflight.ts).
   */
  readonly inflight: Inflight;
}

export interface GatewayDeps {
  config: Config;
  store: Store;
  secrets: SecretBox;
  logger: Logger;
  bus: EventBus;
  auth: TokenAuthenticator;
  brains: BrainCache;
  lifecycle: Lifecycle;
  /** Shared HTTP client for every upstream call. */
  upstream: UpstreamClient;
  /** Live client sessions held by this instance (push, revoke, keep-alive). */
  sessions: SessionRegistry;
  /** This process's instance id (registered in the store with Postgres). */
  instanceId: string;
  /** Metrics, the audit log and the request log: where finished exchanges go (src/observe/). */
  observe: Observe;
  /** Rate limits and stream slots (src/limits/). */
  limits: Limits;
  /** Effects: injectable for tests. */
  fetch: typeof fetch;
  now: () => Date;
}

export interface AppEnv {
  Variables: {
    principal: Principal;
    brain: ResolvedBrain;
    /**
     * Set for every request under `/brains/*` (src/observe/middleware.ts), with its request id (sent
     * upstream as X-Request-Id); faces fill in the message.
     */
    observation: Observation;
  };
}
