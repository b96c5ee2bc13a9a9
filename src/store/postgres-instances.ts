/**
 * The instance half of the Postgres Store: registration, heartbeats, draining, and the reaper's delete.
 * Does I/O. Every time is the database's clock (`now()`), so instances with skewed clocks still agree on
 * who is silent (docs/scale-out.md).
 */
import type { Sql } from 'postgres';
import { guard } from './postgres-errors.js';
import { type SessionRow, sessionColumns, toSession } from './postgres-sessions.js';
import type { InstanceRecord, NewInstance, ReapedInstances, SessionRecord, Store } from './types.js';

interface InstanceRow {
  id: string;
  url: string;
  machine_id: string | null;
  boot_id: string;
  heartbeat_at: Date;
  draining: boolean;
  started_at: Date;
}

const toInstance = (r: InstanceRow): InstanceRecord => ({
  id: r.id,
  url: r.url,
  machineId: r.machine_id,
  bootId: r.boot_id,
  heartbeatAt: r.heartbeat_at,
  draining: r.draining,
  startedAt: r.started_at,
});

/**
 * Names the reaper's transaction-scoped advisory lock (hashed server-side, as migrate.ts names its own).
 * Transaction-scoped, so it also holds behind a transaction-mode PgBouncer (research/deploy.md §4).
 */
export const REAPER_LOCK = 'mcpgate:reaper';

export type InstanceQueries = Pick<
  Store,
  | 'registerInstance'
  | 'heartbeatInstance'
  | 'setInstanceDraining'
  | 'getInstance'
  | 'listInstances'
  | 'deleteInstance'
  | 'reapDeadInstances'
>;

export function createInstanceQueries(sql: Sql): InstanceQueries {
  const byId = (a: InstanceRecord, b: InstanceRecord) => a.id.localeCompare(b.id);

  return {
    registerInstance: (input: NewInstance) =>
      guard('registerInstance', async () => {
        const [row] = await sql<InstanceRow[]>`
          insert into instances (id, url, machine_id, boot_id)
          values (${input.id}, ${input.url}, ${input.machineId ?? null}, ${input.bootId})
          on conflict (id) do update set
            url = excluded.url, machine_id = excluded.machine_id, boot_id = excluded.boot_id,
            heartbeat_at = now(), draining = false,
            started_at = now()
          returning *`;
        return toInstance(row!);
      }),
    heartbeatInstance: (id) =>
      guard('heartbeatInstance', async () => {
        const rows = await sql`update instances set heartbeat_at = now() where id = ${id} returning id`;
        return rows.length > 0;
      }),
    setInstanceDraining: (id, draining) =>
      guard('setInstanceDraining', async () => {
        await sql`update instances set draining = ${draining} where id = ${id}`;
      }),
    getInstance: (id) =>
      guard('getInstance', async () => {
        const [row] = await sql<InstanceRow[]>`select * from instances where id = ${id}`;
        return row && toInstance(row);
      }),
    listInstances: () =>
      guard('listInstances', async () => {
        const rows = await sql<InstanceRow[]>`select * from instances`;
        return rows.map(toInstance).sort(byId);
      }),
    deleteInstance: (id) =>
      guard('deleteInstance', () =>
        sql.begin(async (tx) => {
          await tx`delete from instances where id = ${id}`;
          const rows = await tx<SessionRow[]>`
            delete from sessions where owner_instance = ${id} and kind = 'legacy'
            returning ${sessionColumns(tx)}`;
          return rows.map(toSession);
        }),
      ),
    reapDeadInstances: ({ silentForMs, except }) =>
      guard('reapDeadInstances', () =>
        sql.begin(async (tx): Promise<ReapedInstances> => {
          const [lock] = await tx<{ locked: boolean }[]>`
            select pg_try_advisory_xact_lock(hashtextextended(${REAPER_LOCK}, 0)) as locked`;
          // Another instance is reaping right now; it will have removed the same rows.
          if (!lock?.locked) return { instances: [], sessions: [] };
          const cutoff = tx`now() - make_interval(secs => ${silentForMs / 1000}::double precision)`;
          const dead = await tx<InstanceRow[]>`
            delete from instances where heartbeat_at < ${cutoff} and id <> ${except ?? ''} returning *`;
          // Dead instances are gone from `instances` by now (same transaction), so one rule covers both
          // their sessions and sessions of owners never registered (or removed without their sessions).
          const deadIds = dead.map((d) => d.id);
          const sessions = await tx<SessionRow[]>`
            delete from sessions s
             where s.kind = 'legacy' and s.owner_instance <> ${except ?? ''}
               and not exists (select 1 from instances i where i.id = s.owner_instance)
               and (s.owner_instance = any(${deadIds}::text[]) or s.last_seen_at < ${cutoff})
            returning ${sessionColumns(tx)}`;
          const bySession = (a: SessionRecord, b: SessionRecord) =>
            a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id);
          return {
            instances: dead.map(toInstance).sort(byId),
            sessions: sessions.map(toSession).sort(bySession),
          };
        }),
      ),
  };
}
