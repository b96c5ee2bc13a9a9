/**
 * Assembles a running gateway from a Config: store, secrets, bus, caches, app, HTTP server. Does I/O
 * (listens, connects to Postgres) but never touches `process`: the CLI owns signals and exit codes.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { createApp, type Face } from './app.js';
import { createTokenAuthenticator } from './auth/authenticator.js';
import { createSecretBox } from './auth/secrets.js';
import { generateId } from './auth/tokens.js';
import type { Config } from './config.js';
import { createLocalBus, type EventBus } from './events.js';
import type { GatewayDeps } from './http/context.js';
import { createInflight } from './http/inflight.js';
import type { Logger } from './log.js';
import { createUpstreamClient } from './proxy/upstream.js';
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
  /** This instance in the shared instance registry; present with the Postgres store (docs/scale-out.md). */
  instances: InstanceRegistry | undefined;
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
      : createMemoryStore());
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
  const deps: GatewayDeps = {
    config,
    store,
    secrets,
    logger,
    bus,
    auth: createTokenAuthenticator({ store, bus, ttlMs: config.authCacheMs }),
    brains: createBrainCache({ store, secrets, bus, ttlMs: config.authCacheMs }),
    upstream: createUpstreamClient({
      connectTimeoutMs: config.upstreamConnectTimeoutMs,
      firstByteTimeoutMs: config.upstreamFirstByteTimeoutMs,
      blockPrivateAddresses: config.blockPrivateUpstreams,
    }),
    sessions: createSessionRegistry({ bus, keepAliveMs: config.keepAliveMs }),
    lifecycle: {
      draining: false,
      onShutdown: (hook) => {
        shutdownHooks.push(hook);
      },
      inflight: createInflight(),
    },
    instanceId,
    fetch: options.fetch ?? fetch,
    now: () => new Date(),
  };
  const app = createApp(deps, options.faces ?? []);
  // Listening before serving, so no event published after boot is missed.
  await postgresBus?.start();

  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, store: store.kind, instanceId: deps.instanceId }, 'gateway listening');

  // Only a shared store has peers to register with and to reap.
  const instances =
    store.kind === 'postgres'
      ? createInstanceRegistry({
          store,
          self: {
            id: instanceId,
            url: boundInstanceUrl(config.instanceUrl, address.port),
            machineId: config.flyMachineId,
          },
          heartbeatMs: config.heartbeatMs,
          ttlMs: config.instanceTtlMs,
          logger,
          endUpstream: (session) => endUpstreamSession(deps, session),
        })
      : undefined;
  await instances?.start();
  let closing: Promise<void> | undefined;

  return {
    deps,
    url,
    server,
    instances,
    close() {
      closing ??= (async () => {
        deps.lifecycle.draining = true;
        await Promise.allSettled(shutdownHooks.map((hook) => hook()));
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          if ('closeAllConnections' in server) server.closeAllConnections();
        });
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

/** MCPGATE_INSTANCE_URL as configured, except that port 0 (pick a free port) becomes the bound port. */
function boundInstanceUrl(configured: string, port: number): string {
  const url = new URL(configured);
  if (url.port !== '0') return configured;
  url.port = String(port);
  return url.origin;
}
