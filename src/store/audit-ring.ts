/**
 * The memory store's audit log (issue 7 §4: "the memory store keeps a bounded ring"): the last `capacity`
 * entries, one column per field. Pure.
 *
 * Why columns: under load the ring holds seconds of traffic (10,000 entries by default), so every entry
 * outlives two young-generation collections and is copied into the old generation. Kept as one object and
 * one Date each, that cost the legacy bridge ~20 µs of CPU per message in bench/legacy.mjs (bench/RESULTS.md,
 * third session). In columns an entry is two numbers and references to strings that exist anyway (org,
 * brain, token id, session ref, face, method, name); only its request id is its own.
 */
import type { AuditEntry, AuditQuery, AuditRecord } from './types.js';

export interface AuditRing {
  append(entry: AuditEntry): void;
  list(query: AuditQuery): AuditRecord[];
  /** Forgets entries older than `before`; returns how many. */
  prune(before: Date): number;
}

export function createAuditRing(capacity: number): AuditRing {
  // Slot `seq % capacity` holds entry `seq` (1-based); `at` is NaN in a pruned slot.
  const at: number[] = [];
  const latencyMs: number[] = [];
  const status: number[] = [];
  const org: string[] = [];
  const brain: string[] = [];
  const tokenId: string[] = [];
  const session: Array<string | null> = [];
  const face: string[] = [];
  const method: Array<string | null> = [];
  const name: Array<string | null> = [];
  const requestId: string[] = [];
  let seq = 0;

  const oldest = () => seq - Math.min(seq, capacity) + 1;

  return {
    append(entry) {
      seq++;
      const i = seq % capacity;
      at[i] = entry.at.getTime();
      latencyMs[i] = entry.latencyMs;
      status[i] = entry.status;
      org[i] = entry.org;
      brain[i] = entry.brain;
      tokenId[i] = entry.tokenId;
      session[i] = entry.session;
      face[i] = entry.face;
      method[i] = entry.method;
      name[i] = entry.name;
      requestId[i] = entry.requestId;
    },
    list(query) {
      const out: AuditRecord[] = [];
      const after = query.after === undefined ? 0 : Number(query.after);
      const since = query.since?.getTime();
      for (let s = Math.max(after + 1, oldest()); s <= seq && out.length < query.limit; s++) {
        const i = s % capacity;
        if (Number.isNaN(at[i])) continue;
        if (query.org !== undefined && org[i] !== query.org) continue;
        if (query.brain !== undefined && brain[i] !== query.brain) continue;
        if (since !== undefined && at[i]! < since) continue;
        out.push({
          id: String(s),
          at: new Date(at[i]!),
          org: org[i]!,
          brain: brain[i]!,
          tokenId: tokenId[i]!,
          session: session[i] ?? null,
          face: face[i]!,
          method: method[i] ?? null,
          name: name[i] ?? null,
          status: status[i]!,
          latencyMs: latencyMs[i]!,
          requestId: requestId[i]!,
        });
      }
      return out;
    },
    prune(before) {
      const cutoff = before.getTime();
      let pruned = 0;
      for (let s = oldest(); s <= seq; s++) {
        const i = s % capacity;
        if (at[i]! < cutoff) {
          at[i] = Number.NaN;
          pruned++;
        }
      }
      return pruned;
    },
  };
}
