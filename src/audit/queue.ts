/**
 * The audit log's write side (issue 7 §4): an in-memory queue flushed to the Store in batches by a
 * background task. Does I/O (the store), never on the request path.
 *
 * - `record()` only appends to an array: no await, no throw, nothing a request waits for.
 * - A batch is written when `batchSize` entries are waiting (on the next turn of the event loop, after the
 *   request that filled it) or every `flushMs`, whichever comes first; one write at a time.
 * - Bounded: past `queueMax` waiting entries new ones are dropped and counted
 *   (`mcpgate_audit_dropped_total`). A failed write puts its batch back while there is room and is retried
 *   on the next tick; the log says so once per outage.
 * - With `retentionDays`, records older than that are pruned about once an hour.
 */
import { isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuditEntry, Store } from '../store/types.js';

export interface AuditLog {
  /** Queues one entry; never blocks, never throws. */
  record(entry: AuditEntry): void;
  /** Writes everything queued now (tests, shutdown). Resolves even when the store refuses. */
  flush(): Promise<void>;
  readonly queued: number;
  /** Stops the timer and writes what is left. */
  close(): Promise<void>;
}

interface Counter {
  inc(value?: number): void;
}

export interface AuditLogOptions {
  store: Pick<Store, 'appendAudit' | 'pruneAudit'>;
  logger: Logger;
  enabled: boolean;
  batchSize: number;
  flushMs: number;
  queueMax: number;
  /** 0: never prune. */
  retentionDays: number;
  counters: { written: Counter; dropped: Counter; failed: Counter };
  now?: () => number;
}

const PRUNE_EVERY_MS = 3_600_000;
const DAY_MS = 86_400_000;

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { store, logger, batchSize, queueMax, counters } = options;
  const now = options.now ?? Date.now;
  let queue: AuditEntry[] = [];
  let writing: Promise<void> | undefined;
  let scheduled = false;
  let failing = false;
  let lastPrune = 0;
  let closed = false;

  /** One batch; false when the store refused it (the batch is back in the queue, room permitting). */
  async function writeBatch(): Promise<boolean> {
    const batch = queue.length <= batchSize ? queue : queue.slice(0, batchSize);
    queue = batch === queue ? [] : queue.slice(batchSize);
    try {
      await store.appendAudit(batch);
      counters.written.inc(batch.length);
      if (failing) logger.info('audit log: writing again');
      failing = false;
      return true;
    } catch (err) {
      counters.failed.inc();
      if (isGatewayError(err, 'ERR_VALIDATION')) {
        // The store will never take this batch as it is (text it cannot hold): retrying would stall the
        // log for good. Its entries are dropped, counted, and the queue moves on.
        counters.dropped.inc(batch.length);
        logger.error({ entries: batch.length }, 'audit log: a batch the store refuses was dropped');
        return true;
      }
      const room = Math.max(0, queueMax - queue.length);
      if (room < batch.length) counters.dropped.inc(batch.length - room);
      queue = [...batch.slice(0, room), ...queue];
      if (!failing)
        logger.warn({ code: (err as { code?: string }).code }, 'audit log: write failed; retrying');
      failing = true;
      return false;
    }
  }

  async function prune(): Promise<void> {
    lastPrune = now();
    try {
      const pruned = await store.pruneAudit(new Date(now() - options.retentionDays * DAY_MS));
      if (pruned > 0) logger.debug({ pruned }, 'audit log: old records pruned');
    } catch (err) {
      logger.warn({ code: (err as { code?: string }).code }, 'audit log: prune failed');
    }
  }

  async function run(): Promise<void> {
    while (queue.length > 0 && (await writeBatch()));
    if (options.retentionDays > 0 && now() - lastPrune >= PRUNE_EVERY_MS) await prune();
  }

  function flush(): Promise<void> {
    // Cleared in a later tick than it is set, even when there was nothing to do.
    writing ??= run().finally(() => {
      writing = undefined;
    });
    return writing;
  }

  const timer = options.enabled ? setInterval(() => void flush(), options.flushMs) : undefined;
  timer?.unref();

  return {
    record(entry) {
      if (!options.enabled || closed) return;
      if (queue.length >= queueMax) {
        counters.dropped.inc();
        return;
      }
      queue.push(entry);
      if (queue.length >= batchSize && !scheduled && !writing) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          void flush();
        });
      }
    },
    async flush() {
      // A write in progress may have started before the latest entries: wait for it, then write the rest.
      if (writing) await writing;
      await flush();
    },
    get queued() {
      return queue.length;
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      if (writing) await writing;
      if (queue.length > 0) await flush();
    },
  };
}
