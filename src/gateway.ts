/**
 * Assembles a running gateway from a Config: store, secrets, bus, caches, app, HTTP server. Does I/O
 * (listens, connects to Postgres) but never touches `process`: the CLI owns signals and exit codes.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { createApp, type Face, type NodeLane, type NodeListener } from './app.js';
import { createAuditLog } from './audit/queue.js';
import { createTokenAuthenticator } from './auth/authenticator.js';
import { createSecretBox } from './auth/secrets.js';
import { generateId } from './auth/tokens.js';
import type { Config } from './config.js';
import { createLocalBus, type EventBus } from './events.js';
import type { GatewayDeps } from './http/context.js';
import { createInflight } from './http/inflight.js';
import { createMetricsRoutes } from './http/metrics.js';
import { createRateLimiter } from './limits/rate-limiter.js';
import { createStreamSlots } from './limits/streams.js';
import type { Logger } from './log.js';
import { createMetrics } from './observe/metrics.js';
import { createObserve } from './observe/observe.js';
import { instrumentUpstream } from './observe/upstream.js';
import { createUpstreamClient } from './proxy/upstream.js';
import { type SessionExpiry, startSessionExpiry } from './sessions/expiry.js';
import { createInstanceRegistry, endUpstreamSession, type InstanceRegistry } from './sessions/instances.js';
import { createSessionRegistry } from './sessions/registry.js';
import { createBrainCache } from './store/brain-cache.js';
import { createMemoryStore } from './store/memory.js';
import { createPostgresStore } from './store/postgres.js';
import { createPostgresBus } from './store/postgres-bus.js';
import type { Store } from './store/types.js';

export interface Gateway {
  deps: GatewayDeps;
  /** The address actually bound (PORT=0 picks a free port). */
  url: string;
  server: ServerType;
  /** Where /metrics is served when MCPGATE_METRICS_PORT is set; else undefined (it is on `url`). */
  metricsUrl: string | undefined;
  /** This instance in the shared instance registry; present with the Postgres store (docs/scale-out.md). */
  instances: InstanceRegistry | undefined;
  /** Forgets idle pass-through and translated sessions (MCPGATE_SESSION_IDLE_TTL_MS). */
  expiry: SessionExpiry;
  /** Stops accepting, closes streams and the store. Idempotent. */
  close(): Promise<void>;
}

export interface StartGatewayOptions {
  config: Config;
  logger: Logger;
  faces?: Face[];
  /** Overrides, mostly for tests. */
  store?: Store;
  bus?: EventBus;
  fetch?: typeof fetch;
}

export async function startGateway(options: StartGatewayOptions): Promise<Gateway> {
  const { config, logger } = options;
  const instanceId = generateId('inst');
  const store =
    options.store ??
    (config.databaseUrl
      ? createPostgresStore({
          url: config.databaseUrl,
          prepare: config.databasePrepare,
          max: config.databasePoolMax,
          queryTimeoutMs: config.databaseQueryTimeoutMs,
        })
      : createMemoryStore({ auditCapacity: config.audit.ringSize }));
  // The memory store lives and dies with the process, so a per-process secret is enough there.
  const secret = config.secret ?? new Uint8Array(randomBytes(32));
  const secrets = createSecretBox(secret);
  // With Postgres, events reach every instance through LISTEN/NOTIFY (issue 5 §5).
  const postgresBus =
    !options.bus && config.databaseListenUrl
      ? createPostgresBus({ url: config.databaseListenUrl, instanceId, logger })
      : undefined;
  const bus = options.bus ?? postgresBus ?? createLocalBus();
  const shutdownHooks: Array<() => Promise<void> | void> = [];
  // Observability and limits (issue 7 §3–§5); the sources the gauges read are filled in below.
  const streams = createStreamSlots(config.limits.maxStreamsPerToken);
  const sources = { sessionsByKind: () => ({}) as Record<string, number>, auditQueued: () => 0 };
  const metrics = createMetrics({
    bus,
    streamsByFace: () => streams.byFace(),
    sessionsByKind: () => sources.sessionsByKind(),
    auditQueued: () => sources.auditQueued(),
  });
  const audit = createAuditLog({
    store,
    logger,
    ...config.audit,
    counters: { written: metrics.auditWritten, dropped: metrics.auditDropped, failed: metrics.auditFailed },
  });
  sources.auditQueued = () => audit.queued;
  const deps: GatewayDeps = {
    config,
    store,
    secrets,
    logger,
    bus,
    auth: createTokenAuthenticator({ store, bus, ttlMs: config.authCacheMs }),
    brains: createBrainCache({ store, secrets, bus, ttlMs: config.authCacheMs }),
    upstream: instrumentUpstream(
      createUpstreamClient({
        connectTimeoutMs: config.upstreamConnectTimeoutMs,
        firstByteTimeoutMs: config.upstreamFirstByteTimeoutMs,
        blockPrivateAddresses: config.blockPrivateUpstreams,
      }),
      metrics,
    ),
    sessions: createSessionRegistry({
      bus,
      keepAliveMs: config.keepAliveMs,
      lapsed: (live) => lapsedPrincipals(store, live),
    }),
    lifecycle: {
      draining: false,
      onShutdown: (hook) => {
        shutdownHooks.push(hook);
      },
      inflight: createInflight(),
    },
    instanceId,
    observe: createObserve({ metrics, audit, logger }),
    limits: {
      rate: createRateLimiter({ limits: config.limits, store, logger }),
      streams,
      maxInflightPerSession: config.limits.maxInflightPerSession,
    },
    fetch: options.fetch ?? fetch,
    now: () => new Date(),
  };
  sources.sessionsByKind = () => deps.sessions.countByKind();
  const { app, lanes } = createApp(deps, options.faces ?? []);
  // Listening before serving, so no event published after boot is missed.
  await postgresBus?.start();

  const server = await listen(app.fetch, config.port, config, lanes);
  const url = urlOf(server);
  logger.info({ url, store: store.kind, instanceId: deps.instanceId }, 'gateway listening');
  // MCPGATE_METRICS_PORT: /metrics on its own listener (e.g. Fly's private [metrics] scrape) only.
  const metricsServer =
    config.metricsPort === undefined
      ? undefined
      : await listen(
          createMetricsRoutes(metrics.registry, config.metricsToken).fetch,
          config.metricsPort,
          config,
        );
  const metricsUrl = metricsServer && urlOf(metricsServer);
  if (metricsUrl) logger.info({ url: metricsUrl }, 'metrics listening');

  // Only a shared store has peers to register with and to reap.
  const instances =
    store.kind === 'postgres'
      ? createInstanceRegistry({
          store,
          self: {
            id: instanceId,
            url: boundInstanceUrl(config.instanceUrl, (server.address() as AddressInfo).port),
            machineId: config.flyMachineId,
          },
          heartbeatMs: config.heartbeatMs,
          ttlMs: config.instanceTtlMs,
          logger,
          endUpstream: (session) => endUpstreamSession(deps, session),
        })
      : undefined;
  await instances?.start();
  const expiry = startSessionExpiry({ store, idleTtlMs: config.sessionIdleTtlMs, logger });
  let closing: Promise<void> | undefined;

  return {
    deps,
    url,
    server,
    metricsUrl,
    instances,
    expiry,
    close() {
      closing ??= (async () => {
        deps.lifecycle.draining = true;
        expiry.stop();
        await Promise.allSettled(shutdownHooks.map((hook) => hook()));
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ('closeAllConnections' in server) server.closeAllConnections();
        });
        if (metricsServer) await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
        // Before the store closes: the audit entries of the last requests are written.
        await deps.observe.close();
        // Before the upstream client closes: deregistering may DELETE upstream sessions left behind.
        await instances?.stop();
        deps.sessions.dispose();
        await deps.upstream.close();
        await bus.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/**
 * Listens with the request timeouts of issue 7 §9: a request whose headers (or whole body) have not arrived
 * in time gets 408 and its socket closed. Node checks the clocks every `connectionsCheckingInterval`
 * (default 30 s, too coarse for short timeouts), so that follows the shorter timeout.
 * Each request is offered to the faces' fast lanes (src/app.ts) before the Hono app.
 */
function listen(
  fetch: (request: Request, env?: unknown) => Response | Promise<Response>,
  port: number,
  config: Config,
  lanes: NodeLane[] = [],
): Promise<ServerType> {
  const { requestTimeoutMs, headersTimeoutMs } = config;
  const serverOptions = {
    requestTimeout: requestTimeoutMs,
    headersTimeout: headersTimeoutMs,
    connectionsCheckingInterval: Math.min(5_000, Math.max(100, Math.floor(headersTimeoutMs / 4))),
  };
  return new Promise<ServerType>((resolve, reject) => {
    const createServer = (options: ServerOptions, app: NodeListener) =>
      createHttpServer(
        options,
        lanes.length === 0
          ? app
          : (req, res) => {
              for (const lane of lanes) if (lane(req, res, app)) return;
              app(req, res);
            },
      );
    const s = serve(
      {
        fetch,
        port,
        hostname: config.host,
        serverOptions,
        createServer: createServer as typeof createHttpServer,
      },
      () => resolve(s),
    );
    s.once('error', reject);
  });
}

function urlOf(server: ServerType): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** MCPGATE_INSTANCE_URL as configured, except that port 0 (pick a free port) becomes the bound port. */
function boundInstanceUrl(configured: string, port: number): string {
  const url = new URL(configured);
  if (url.port !== '0') return configured;
  url.port = String(port);
  return url.origin;
}

/** The store's answer to `lapsed`: tokens revoked or gone, brains gone. */
async function lapsedPrincipals(
  store: Pick<Store, 'getToken' | 'getBrain'>,
  live: { tokenIds: string[]; brainIds: string[] },
): Promise<{ tokenIds: Set<string>; brainIds: Set<string> }> {
  const [tokens, brains] = await Promise.all([
    Promise.all(live.tokenIds.map((id) => store.getToken(id))),
    Promise.all(live.brainIds.map((id) => store.getBrain(id))),
  ]);
  return {
    tokenIds: new Set(live.tokenIds.filter((_, i) => !tokens[i] || tokens[i]!.revokedAt)),
    brainIds: new Set(live.brainIds.filter((_, i) => !brains[i])),
  };
}
