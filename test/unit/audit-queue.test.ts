/**
 * The audit write queue (issue 7 §4): batches by size and by time, never blocks a request, bounded with
 * drop-and-count, retries a refused batch, writes the rest on close.
 */
import { describe, expect, it } from 'vitest';
import { createAuditLog } from '../../src/audit/queue.js';
import { GatewayError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { AuditEntry } from '../../src/store/types.js';

const entry = (n: number): AuditEntry => ({
  at: new Date(),
  org: 'acme',
  brain: 'b1',
  tokenId: 'tok',
  session: null,
  face: 'mcp',
  method: 'tools/call',
  name: 'echo',
  status: 200,
  latencyMs: 1,
  requestId: `r${n}`,
});

function counter() {
  return {
    n: 0,
    inc(v = 1) {
      this.n += v;
    },
  };
}

function setup(
  options: {
    batchSize?: number;
    flushMs?: number;
    queueMax?: number;
    failing?: () => boolean;
    refuses?: (entries: AuditEntry[]) => boolean;
  } = {},
) {
  const batches: AuditEntry[][] = [];
  const counters = { written: counter(), dropped: counter(), failed: counter() };
  let pendingWrite: (() => void) | undefined;
  let hold = false;
  const log = createAuditLog({
    store: {
      async appendAudit(entries) {
        if (hold) await new Promise<void>((resolve) => (pendingWrite = resolve));
        if (options.failing?.()) throw Object.assign(new Error('down'), { code: 'ERR_STORE_UNAVAILABLE' });
        if (options.refuses?.(entries)) throw new GatewayError('ERR_VALIDATION', 'text with a NUL character');
        batches.push([...entries]);
      },
      async pruneAudit() {
        return 0;
      },
    },
    logger: createLogger({ level: 'silent' }),
    enabled: true,
    batchSize: options.batchSize ?? 3,
    flushMs: options.flushMs ?? 60_000,
    queueMax: options.queueMax ?? 100,
    retentionDays: 0,
    counters,
  });
  return {
    log,
    batches,
    counters,
    hold(on: boolean) {
      hold = on;
      if (!on) pendingWrite?.();
    },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('audit queue', () => {
  it('writes a batch as soon as batchSize entries wait, on a later turn than the request', async () => {
    const { log, batches, counters } = setup({ batchSize: 3 });
    log.record(entry(1));
    log.record(entry(2));
    log.record(entry(3));
    expect(batches).toEqual([]);
    await turn();
    await turn();
    expect(batches.map((b) => b.map((e) => e.requestId))).toEqual([['r1', 'r2', 'r3']]);
    expect(counters.written.n).toBe(3);
    await log.close();
  });

  it('writes a partial batch every flushMs', async () => {
    const { log, batches } = setup({ batchSize: 100, flushMs: 20 });
    log.record(entry(1));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(batches.flat().map((e) => e.requestId)).toEqual(['r1']);
    await log.close();
  });

  it('drops and counts past queueMax while a write is stuck; nothing blocks', async () => {
    const { log, batches, counters, hold } = setup({ batchSize: 2, queueMax: 4 });
    hold(true);
    log.record(entry(1));
    log.record(entry(2));
    await turn();
    // r1, r2 are being written; r3..r6 fill the queue; r7, r8 are dropped.
    for (let n = 3; n <= 8; n++) log.record(entry(n));
    expect(counters.dropped.n).toBe(2);
    expect(log.queued).toBe(4);
    hold(false);
    await log.flush();
    expect(batches.flat().map((e) => e.requestId)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    await log.close();
  });

  it('keeps a refused batch and writes it once the store is back', async () => {
    let down = true;
    const { log, batches, counters } = setup({ batchSize: 10, failing: () => down });
    log.record(entry(1));
    log.record(entry(2));
    await log.flush();
    expect(counters.failed.n).toBe(1);
    expect(log.queued).toBe(2);
    down = false;
    log.record(entry(3));
    await log.flush();
    expect(batches.flat().map((e) => e.requestId)).toEqual(['r1', 'r2', 'r3']);
    await log.close();
  });

  it('drops a batch the store can never take (ERR_VALIDATION) and writes the ones after it', async () => {
    const { log, batches, counters } = setup({
      batchSize: 2,
      refuses: (entries) => entries.some((e) => e.method === 'bad\u0000'),
    });
    log.record({ ...entry(1), method: 'bad\u0000' });
    log.record(entry(2));
    log.record(entry(3));
    await log.flush();
    expect(counters.dropped.n).toBe(2);
    expect(log.queued).toBe(0);
    expect(batches.flat().map((e) => e.requestId)).toEqual(['r3']);
    await log.close();
  });

  it('keeps writing after flushes that found nothing to do', async () => {
    const { log, batches } = setup({ batchSize: 100 });
    await log.flush();
    await log.flush();
    log.record(entry(1));
    await log.flush();
    expect(batches.flat().map((e) => e.requestId)).toEqual(['r1']);
    await log.close();
  });

  it('close writes what is left, and records nothing afterwards', async () => {
    const { log, batches } = setup({ batchSize: 100 });
    log.record(entry(1));
    await log.close();
    log.record(entry(2));
    expect(batches.flat().map((e) => e.requestId)).toEqual(['r1']);
    expect(log.queued).toBe(0);
  });
});
