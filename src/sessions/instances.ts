/**
 * This instance in the shared instance registry (issue 5 §1, docs/scale-out.md): it registers at boot,
 * heartbeats, marks itself draining on SIGTERM and removes itself on shutdown. Every beat also runs the
 * reaper, which removes instances silent for longer than the TTL with their legacy sessions and ends
 * those sessions' upstream sessions. The store makes the reaper one-at-a-time across instances (an
 * advisory lock), so this module needs no coordination of its own. I/O through the Store and the
 * upstream client.
 *
 * A reaper only trusts silence it could have heard: it reaps once its own heartbeats have gone through
 * without a gap for a whole TTL. Otherwise, after a database outage longer than the TTL, the first
 * instance back would reap every other live instance, whose heartbeats failed for the same reason.
 */
import { randomUUID } from 'node:crypto';
import type { GatewayDeps } from '../http/context.js';
import type { Logger } from '../log.js';
import { upstreamRequestHeaders } from '../proxy/headers.js';
import type { ReapedInstances, SessionRecord, Store } from '../store/types.js';

export interface InstanceRegistryOptions {
  store: Store;
  /** `machineId`: FLY_MACHINE_ID, so peers can `fly-replay` to this instance (src/routing/owner.ts). */
  self: { id: string; url: string; machineId?: string | undefined };
  heartbeatMs: number;
  /** Silent for longer than this → reaped. */
  ttlMs: number;
  logger: Logger;
  /** Ends the upstream session of a reaped legacy session; must not throw. */
  endUpstream(session: SessionRecord): Promise<void>;
  bootId?: string;
  /** Monotonic clock in ms (tests). */
  now?: () => number;
}

export interface InstanceRegistry {
  readonly bootId: string;
  /**
   * Registers and starts beating. A store that cannot be reached is logged, and registration is retried
   * on every beat, so a gateway can boot while Postgres is down.
   */
  start(): Promise<void>;
  /** One heartbeat, then one reaper pass: what the timer runs. Never throws. */
  beat(): Promise<ReapedInstances | undefined>;
  /** Marks this instance draining (peers stop routing new work to it). Never throws. */
  markDraining(): Promise<void>;
  /** Stops beating and removes this instance with its remaining legacy sessions. Never throws. */
  stop(): Promise<void>;
}

const codeOf = (err: unknown) => (err as { code?: string }).code ?? String(err);

/**
 * @example
 * const instances = createInstanceRegistry({ store, self: { id, url }, heartbeatMs: 5000, ttlMs: 15000,
 *   logger, endUpstream: (s) => endUpstreamSession(deps, s) });
 * await instances.start();
 */
export function createInstanceRegistry(options: InstanceRegistryOptions): InstanceRegistry {
  const { store, self, logger } = options;
  const bootId = options.bootId ?? randomUUID();
  let registered = false;
  let draining = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<ReapedInstances | undefined> | undefined;
  const now = options.now ?? (() => performance.now());
  /** Start of the current run of heartbeats without a failure or a gap longer than the TTL. */
  let heardSince: number | undefined;
  let lastHeard = Number.NEGATIVE_INFINITY;
  const cleanups = new Set<Promise<unknown>>();

  async function register(): Promise<void> {
    await store.registerInstance({ id: self.id, url: self.url, machineId: self.machineId ?? null, bootId });
    if (draining) await store.setInstanceDraining(self.id, true);
    registered = true;
  }

  /** Ends upstream sessions in the background, so a slow upstream never delays the next heartbeat. */
  function endUpstreams(sessions: SessionRecord[]): void {
    const pending = Promise.allSettled(
      sessions.filter((s) => s.upstreamSessionId !== null).map((s) => options.endUpstream(s)),
    );
    cleanups.add(pending);
    void pending.finally(() => cleanups.delete(pending));
  }

  async function beatOnce(): Promise<ReapedInstances | undefined> {
    try {
      if (!registered) {
        await register();
        logger.info({ instanceId: self.id, url: self.url }, 'instance registered');
      } else if (!(await store.heartbeatInstance(self.id))) {
        // A peer reaped us (we were silent too long: a stall, or the database was away from us).
        logger.warn({ instanceId: self.id }, 'instance was reaped by a peer; registering again');
        await register();
      }
    } catch (err) {
      heardSince = undefined;
      logger.warn({ code: codeOf(err) }, 'instance heartbeat failed');
      return undefined;
    }
    const at = now();
    if (heardSince === undefined || at - lastHeard > options.ttlMs) heardSince = at;
    lastHeard = at;
    if (stopped || at - heardSince < options.ttlMs) return undefined;
    try {
      const reaped = await store.reapDeadInstances({ silentForMs: options.ttlMs, except: self.id });
      if (reaped.instances.length > 0 || reaped.sessions.length > 0) {
        logger.warn(
          { instances: reaped.instances.map((i) => i.id), sessions: reaped.sessions.length },
          'reaped silent instances and their sessions',
        );
      }
      endUpstreams(reaped.sessions);
      return reaped;
    } catch (err) {
      logger.warn({ code: codeOf(err) }, 'instance reaper failed');
      return undefined;
    }
  }

  const beat = () => {
    // One beat at a time: a slow database must not pile them up.
    beating ??= beatOnce().finally(() => {
      beating = undefined;
    });
    return beating;
  };

  return {
    bootId,
    async start() {
      await beat();
      if (stopped) return;
      timer = setInterval(() => void beat(), options.heartbeatMs);
      timer.unref();
    },
    beat,
    async markDraining() {
      draining = true;
      try {
        await store.setInstanceDraining(self.id, true);
      } catch (err) {
        logger.warn({ code: codeOf(err) }, 'could not mark the instance draining');
      }
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await beating;
      try {
        endUpstreams(await store.deleteInstance(self.id));
      } catch (err) {
        // Peers reap us after the TTL instead.
        logger.warn({ code: codeOf(err) }, 'could not deregister the instance');
      }
      await Promise.allSettled([...cleanups]);
    },
  };
}

const UPSTREAM_DELETE_TIMEOUT_MS = 5_000;

/**
 * `DELETE`s a session's upstream session (2025-11-25 §Session Management) with the brain's credentials.
 * Best effort: any failure (brain gone, upstream down, store down) is logged at debug and swallowed.
 */
export async function endUpstreamSession(
  deps: Pick<GatewayDeps, 'brains' | 'upstream' | 'logger'>,
  session: SessionRecord,
): Promise<void> {
  if (session.upstreamSessionId === null) return;
  try {
    const brain = await deps.brains.get(session.brain);
    if (!brain) return;
    const extra: Record<string, string> = { 'mcp-session-id': session.upstreamSessionId };
    if (session.protocolVersion) extra['mcp-protocol-version'] = session.protocolVersion;
    const res = await deps.upstream.request(
      {
        url: brain.upstreamUrl,
        connectTimeoutMs: brain.connectTimeoutMs,
        firstByteTimeoutMs: brain.firstByteTimeoutMs,
      },
      {
        method: 'DELETE',
        headers: upstreamRequestHeaders(new Headers(), brain.upstreamHeaders, extra),
        signal: AbortSignal.timeout(UPSTREAM_DELETE_TIMEOUT_MS),
      },
    );
    await res.body?.cancel();
  } catch (err) {
    deps.logger.debug(
      { brain: session.brain, code: codeOf(err) },
      'upstream DELETE of a reaped session failed',
    );
  }
}
