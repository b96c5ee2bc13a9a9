/**
 * The event bus across instances: Postgres LISTEN/NOTIFY (issue 5 §5). Does I/O: two connections of its
 * own, one that listens and one that notifies, on DATABASE_LISTEN_URL (a direct, session-mode URL:
 * PgBouncer in transaction mode drops notifications, research/deploy.md §1.6).
 *
 * - `publish` hands the event to this instance's subscribers at once, then sends
 *   `pg_notify(channel, {from, event})`; every other instance delivers it locally, and the sender ignores
 *   its own echo by `from`.
 * - Delivery is at-most-once: a notification sent while a listener is disconnected is never redelivered
 *   (deploy.md §2.3). So after every LISTEN but the first, subscribers get `{type: 'resync'}` and drop
 *   what they cached. postgres.js re-listens by itself after a connection loss; a connection that is
 *   silently dead (half-open TCP) is found by a periodic self-check — a NOTIFY to ourselves that must
 *   come back — and replaced.
 */
import postgres, { type Sql } from 'postgres';
import { GatewayError } from '../errors.js';
import { createLocalBus, type EventBus, type GatewayEvent } from '../events.js';
import type { Logger } from '../log.js';
import { reconnectDelaySeconds } from './postgres.js';

export const EVENTS_CHANNEL = 'mcpgate_events';

/** NOTIFY payloads must be shorter than 8000 bytes (PostgreSQL `NOTIFY`; measured in deploy.md §2.2). */
export const MAX_PAYLOAD_BYTES = 7999;

const EVENT_TYPES = new Set<GatewayEvent['type']>([
  'token.revoked',
  'brain.changed',
  'brain.deleted',
  'brain.notify',
  'session.changed',
  'resync',
]);

/** What travels on the channel: an event, or a self-check nonce only its sender cares about. */
type Envelope = { from: string; event: GatewayEvent } | { from: string; check: number };

export interface PostgresBusOptions {
  url: string;
  /** Marks this instance's notifications so it can ignore their echo. */
  instanceId: string;
  logger: Logger;
  channel?: string;
  /** How often the listener checks that it still hears itself; 0 turns the check off. Default 10000. */
  selfCheckMs?: number;
  /** How long a self-check waits for its echo before the listener is replaced. Default 5000. */
  selfCheckTimeoutMs?: number;
  /** How long `publish` waits for `pg_notify` before giving up on other instances. Default 2000. */
  publishTimeoutMs?: number;
  /** After a failed first LISTEN, how long before the next attempt. Default 1000. */
  retryMs?: number;
  /**
   * How long one attempt to LISTEN may take. postgres.js retries a connection that closes during its
   * handshake without end, so an attempt is bounded here. Default 5000.
   */
  listenTimeoutMs?: number;
}

export interface PostgresBus extends EventBus {
  /**
   * Starts listening. Resolves once LISTEN is registered, or as soon as the first attempt failed (the
   * database may be down at boot): attempts then go on in the background, and the first success emits
   * 'resync'.
   */
  start(): Promise<void>;
}

/** The listener reconnects on this backoff: up to 2 s, so it is back soon after Postgres is. */
const listenerDelaySeconds = (retries: number) => (0.5 + Math.random() / 2) * Math.min(0.1 * 2 ** retries, 2);

const noop = () => {};

/** The listener connection's `application_name` (pg_stat_activity); Postgres keeps 63 bytes. */
export const listenerName = (instanceId: string) => `mcpgate-listen ${instanceId}`.slice(0, 63);

function parseEnvelope(payload: string): Envelope | undefined {
  try {
    const value = JSON.parse(payload) as Partial<Record<'from' | 'event' | 'check', unknown>>;
    if (typeof value?.from !== 'string') return undefined;
    if (typeof value.check === 'number') return { from: value.from, check: value.check };
    const type = (value.event as { type?: unknown } | undefined)?.type;
    if (EVENT_TYPES.has(type as GatewayEvent['type'])) {
      return { from: value.from, event: value.event as GatewayEvent };
    }
  } catch {}
  return undefined;
}

function within<T>(promise: PromiseLike<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/**
 * @example
 * const bus = createPostgresBus({ url: config.databaseListenUrl, instanceId, logger });
 * await bus.start();
 * bus.subscribe((event) => { if (event.type === 'resync') cache.clear(); });
 */
export function createPostgresBus(options: PostgresBusOptions): PostgresBus {
  const { url, instanceId, logger } = options;
  const channel = options.channel ?? EVENTS_CHANNEL;
  const selfCheckMs = options.selfCheckMs ?? 10_000;
  const selfCheckTimeoutMs = options.selfCheckTimeoutMs ?? 5_000;
  const publishTimeoutMs = options.publishTimeoutMs ?? 2_000;
  const retryMs = options.retryMs ?? 1_000;
  const listenTimeoutMs = options.listenTimeoutMs ?? 5_000;
  const local = createLocalBus();

  const notifier = postgres(url, {
    max: 1,
    prepare: false,
    connect_timeout: 5,
    idle_timeout: 300,
    max_lifetime: 600,
    backoff: reconnectDelaySeconds,
    onnotice: noop,
    connection: { application_name: 'mcpgate-notify' },
  });
  /** The current listener; replaced whole when it fails to start or stops hearing itself. */
  let listener: Sql | undefined;
  let listens = 0;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let checkTimer: NodeJS.Timeout | undefined;
  let checkNonce = 0;
  let echo: { nonce: number; heard(): void } | undefined;

  const notify = (envelope: Envelope) =>
    within(notifier`select pg_notify(${channel}, ${JSON.stringify(envelope)})`, publishTimeoutMs);

  const onNotify = (payload: string) => {
    const envelope = parseEnvelope(payload);
    if (!envelope) {
      logger.warn({ channel }, 'event bus: ignored a malformed notification');
      return;
    }
    if (envelope.from !== instanceId) {
      if ('event' in envelope) local.emitLocal(envelope.event);
      return;
    }
    if ('check' in envelope && echo?.nonce === envelope.check) echo.heard();
  };

  const onListen = () => {
    listens++;
    if (listens === 1) {
      logger.debug({ channel }, 'event bus listening');
      return;
    }
    // Anything sent while we were not listening is lost: every cache starts over.
    logger.info({ channel }, 'event bus listening again; caches dropped');
    local.emitLocal({ type: 'resync' });
  };

  async function openListener(): Promise<boolean> {
    const sql = postgres(url, {
      max: 1,
      connect_timeout: 5,
      backoff: listenerDelaySeconds,
      onnotice: noop,
      // Names the instance, so operators (and tests) can tell each instance's listener apart.
      connection: { application_name: listenerName(instanceId) },
    });
    listener = sql;
    try {
      await within(sql.listen(channel, onNotify, onListen), listenTimeoutMs);
      return true;
    } catch (err) {
      // postgres.js would keep retrying this LISTEN by itself; a fresh instance per attempt keeps exactly
      // one listener alive, whatever happens.
      if (listener === sql) listener = undefined;
      void sql.end({ timeout: 0 }).catch(noop);
      logger.warn(
        { code: (err as { code?: string }).code ?? String(err) },
        'event bus: LISTEN failed; retrying',
      );
      return false;
    }
  }

  async function listenUntilListening(): Promise<void> {
    retryTimer = undefined;
    if (closed || (await openListener()) || closed) return;
    retryTimer = setTimeout(() => void listenUntilListening(), retryMs);
    retryTimer.unref();
  }

  /** Replaces a listener that no longer hears its own notifications (half-open connection). */
  async function selfCheck(): Promise<void> {
    if (closed || !listener || echo) return;
    const nonce = ++checkNonce;
    let timer: NodeJS.Timeout | undefined;
    const heard = new Promise<boolean>((resolve) => {
      echo = { nonce, heard: () => resolve(true) };
      timer = setTimeout(() => resolve(false), selfCheckTimeoutMs);
    });
    try {
      await notify({ from: instanceId, check: nonce });
    } catch {
      // The database itself is unreachable; the listener reconnects by itself once it is back.
      clearTimeout(timer);
      echo = undefined;
      return;
    }
    const ok = await heard;
    clearTimeout(timer);
    echo = undefined;
    if (ok || closed) return;
    logger.warn({ channel }, 'event bus: listener stopped hearing itself; reconnecting');
    const stale = listener;
    listener = undefined;
    void stale?.end({ timeout: 0 }).catch(noop);
    await listenUntilListening();
  }

  return {
    async start() {
      if (!(await openListener())) {
        // Events may be missed until the first LISTEN succeeds, so that one resyncs too.
        listens = 1;
        retryTimer = setTimeout(() => void listenUntilListening(), retryMs);
        retryTimer.unref();
      }
      if (selfCheckMs > 0) {
        checkTimer = setInterval(() => void selfCheck(), selfCheckMs);
        checkTimer.unref();
      }
    },

    async publish(event) {
      const envelope = { from: instanceId, event };
      if (Buffer.byteLength(JSON.stringify(envelope)) > MAX_PAYLOAD_BYTES) {
        throw new GatewayError(
          'ERR_PAYLOAD_TOO_LARGE',
          `event too large for the bus (NOTIFY payloads are under ${MAX_PAYLOAD_BYTES + 1} bytes)`,
        );
      }
      // Here first, without waiting on the database: the sender never waits for its own round trip.
      local.emitLocal(event);
      try {
        await notify(envelope);
      } catch (err) {
        // At-most-once: other instances fall back on their cache TTLs (and resync when they re-listen).
        logger.warn(
          { type: event.type, code: (err as { code?: string }).code ?? String(err) },
          'event bus: NOTIFY failed; other instances miss this event',
        );
      }
    },

    subscribe: (handler) => local.subscribe(handler),

    async close() {
      closed = true;
      clearTimeout(retryTimer);
      clearInterval(checkTimer);
      await Promise.allSettled([listener?.end({ timeout: 1 }), notifier.end({ timeout: 1 })]);
      listener = undefined;
      await local.close();
    },
  };
}
