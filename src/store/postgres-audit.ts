/**
 * The audit half of the Postgres Store (issue 7 §4): batched appends, keyset paging, pruning. Does I/O.
 *
 * A batch is one multi-row insert (the queue in src/audit/queue.ts flushes up to MCPGATE_AUDIT_BATCH_SIZE
 * records at a time). Ids come from an identity column and are read back as strings (bigint), the cursor
 * `GET /admin/v1/audit` pages with.
 */
import type { Sql } from 'postgres';
import { guard } from './postgres-errors.js';
import type { AuditEntry, AuditRecord, Store } from './types.js';

interface AuditRow {
  id: string;
  at: Date;
  org: string;
  brain: string;
  token_id: string;
  session: string | null;
  face: string;
  method: string | null;
  name: string | null;
  status: number;
  latency_ms: number;
  request_id: string;
}

const toRecord = (r: AuditRow): AuditRecord => ({
  id: String(r.id),
  at: r.at,
  org: r.org,
  brain: r.brain,
  tokenId: r.token_id,
  session: r.session,
  face: r.face,
  method: r.method,
  name: r.name,
  status: r.status,
  latencyMs: r.latency_ms,
  requestId: r.request_id,
});

const toRow = (e: AuditEntry) => ({
  at: e.at,
  org: e.org,
  brain: e.brain,
  token_id: e.tokenId,
  session: e.session,
  face: e.face,
  method: e.method,
  name: e.name,
  status: e.status,
  latency_ms: e.latencyMs,
  request_id: e.requestId,
});

type AuditQueries = Pick<Store, 'appendAudit' | 'listAudit' | 'pruneAudit'>;

export function createAuditQueries(sql: Sql): AuditQueries {
  return {
    appendAudit: (entries) =>
      guard('appendAudit', async () => {
        if (entries.length === 0) return;
        await sql`insert into audit_log ${sql(entries.map(toRow))}`;
      }),
    listAudit: (query) =>
      guard('listAudit', async () => {
        const where = [sql`true`];
        if (query.org !== undefined) where.push(sql`org = ${query.org}`);
        if (query.brain !== undefined) where.push(sql`brain = ${query.brain}`);
        if (query.since !== undefined) where.push(sql`at >= ${query.since}`);
        if (query.after !== undefined) where.push(sql`id > ${query.after}::bigint`);
        const condition = where.reduce((all, one) => sql`${all} and ${one}`);
        const rows = await sql<AuditRow[]>`
          select id::text as id, at, org, brain, token_id, session, face, method, name, status, latency_ms,
                 request_id
            from audit_log where ${condition} order by audit_log.id limit ${query.limit}`;
        return rows.map(toRecord);
      }),
    pruneAudit: (before) =>
      guard('pruneAudit', async () => {
        const result = await sql`delete from audit_log where at < ${before}`;
        return result.count;
      }),
  };
}
