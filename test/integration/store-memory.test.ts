import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import { describeStoreContract } from './store.contract.js';

describeStoreContract('memory', () => createMemoryStore());

describe('memory store audit ring', () => {
  it('keeps only the newest `auditCapacity` records, and paging past the ring starts at the oldest kept', async () => {
    const store = createMemoryStore({ auditCapacity: 5 });
    const at = new Date();
    const entry = (n: number) => ({
      at,
      org: 'acme',
      brain: 'b1',
      tokenId: 'tok1',
      session: null,
      face: 'mcp',
      method: 'ping',
      name: null,
      status: 200,
      latencyMs: 1,
      requestId: `req-${n}`,
    });
    await store.appendAudit(Array.from({ length: 12 }, (_, n) => entry(n)));
    const kept = await store.listAudit({ limit: 100 });
    expect(kept.map((r) => r.requestId)).toEqual(['req-7', 'req-8', 'req-9', 'req-10', 'req-11']);
    const fromStale = await store.listAudit({ limit: 2, after: '1' });
    expect(fromStale.map((r) => r.requestId)).toEqual(['req-7', 'req-8']);
  });
});
