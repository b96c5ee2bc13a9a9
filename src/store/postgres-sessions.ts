/**
 * The session half of the Postgres Store: live sessions and each token's last `initialize` params. Does I/O.
 *
 * JSON values travel as text (`::text::jsonb` in, `::text` out) so that SQL null can stand for "not set"
 * (undefined) while a JSON `null` stays null, exactly as the memory store keeps them. postgres.js would
 * otherwise read both back as null, and its `sql.json(null)` writes SQL null.
 */
import type { Sql, TransactionSql } from 'postgres';
import { GatewayError } from '../errors.js';
import { guard } from './postgres-errors.js';
import type { NewSession, SessionFilter, SessionKind, SessionPatch, SessionRecord, Store } from './types.js';

export interface SessionRow {
  brain_id: string;
  id: string;
  kind: SessionKind;
  org: string;
  token_id: string;
  owner_instance: string;
  upstream_session_id: string | null;
  protocol_version: string | null;
  init_params: string | null;
  created_at: Date;
  last_seen_at: Date;
}

const toJsonText = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));
const fromJsonText = (text: string | null): unknown => (text === null ? undefined : JSON.parse(text));

export const toSession = (r: SessionRow): SessionRecord => ({
  id: r.id,
  brain: r.brain_id,
  kind: r.kind,
  org: r.org,
  tokenId: r.token_id,
  ownerInstance: r.owner_instance,
  upstreamSessionId: r.upstream_session_id,
  protocolVersion: r.protocol_version,
  initParams: fromJsonText(r.init_params),
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
});

export type SessionQueries = Pick<
  Store,
  | 'putSession'
  | 'getSession'
  | 'updateSession'
  | 'touchSession'
  | 'deleteSession'
  | 'listSessions'
  | 'expireIdleSessions'
  | 'getLastInitParams'
  | 'setLastInitParams'
>;

/** Idle sessions deleted per statement, and statements per expiry pass. */
const EXPIRE_BATCH_SIZE = 1000;
const EXPIRE_BATCHES = 100;

/** The select list `toSession` reads (init_params as text: see the module header). */
export const sessionColumns = (sql: Sql | TransactionSql) => sql`
  brain_id, id, kind, org, token_id, owner_instance, upstream_session_id, protocol_version,
  init_params::text as init_params, created_at, last_seen_at`;

export function createSessionQueries(sql: Sql): SessionQueries {
  const columns = () => sessionColumns(sql);

  return {
    putSession: (input: NewSession) =>
      guard(
        'putSession',
        async () => {
          // An existing (brain, id) is replaced wholesale, timestamps included, as in the memory store.
          const [row] = await sql<SessionRow[]>`
            insert into sessions (brain_id, id, kind, org, token_id, owner_instance, upstream_session_id,
                                  protocol_version, init_params)
            values (${input.brain}, ${input.id}, ${input.kind}, ${input.org}, ${input.tokenId},
                    ${input.ownerInstance}, ${input.upstreamSessionId}, ${input.protocolVersion},
                    ${toJsonText(input.initParams)}::text::jsonb)
            on conflict (brain_id, id) do update set
              kind = excluded.kind, org = excluded.org, token_id = excluded.token_id,
              owner_instance = excluded.owner_instance, upstream_session_id = excluded.upstream_session_id,
              protocol_version = excluded.protocol_version, init_params = excluded.init_params,
              created_at = excluded.created_at, last_seen_at = excluded.last_seen_at
            returning ${columns()}`;
          return toSession(row!);
        },
        {
          // Postgres refuses a session on a brain that does not exist (the memory store does not check).
          '23503': (cause) => new GatewayError('ERR_NOT_FOUND', `brain ${input.brain} not found`, { cause }),
        },
      ),
    getSession: (brain, id) =>
      guard('getSession', async () => {
        const [row] = await sql<SessionRow[]>`
          select ${columns()} from sessions where brain_id = ${brain} and id = ${id}`;
        return row && toSession(row);
      }),
    updateSession: (brain, id, patch: SessionPatch) =>
      guard('updateSession', async () => {
        const sets = [sql`last_seen_at = now()`];
        if (patch.upstreamSessionId !== undefined)
          sets.push(sql`upstream_session_id = ${patch.upstreamSessionId}`);
        if (patch.protocolVersion !== undefined) sets.push(sql`protocol_version = ${patch.protocolVersion}`);
        if (patch.initParams !== undefined)
          sets.push(sql`init_params = ${toJsonText(patch.initParams)}::text::jsonb`);
        const assignments = sets.reduce((list, set) => sql`${list}, ${set}`);
        await sql`update sessions set ${assignments} where brain_id = ${brain} and id = ${id}`;
      }),
    touchSession: (brain, id, at) =>
      guard('touchSession', async () => {
        await sql`
          update sessions set last_seen_at = coalesce(${at ?? null}::timestamptz, now())
           where brain_id = ${brain} and id = ${id}`;
      }),
    deleteSession: (brain, id) =>
      guard('deleteSession', async () => {
        const rows = await sql`delete from sessions where brain_id = ${brain} and id = ${id} returning id`;
        return rows.length > 0;
      }),
    expireIdleSessions: ({ kinds, before }) =>
      guard('expireIdleSessions', async () => {
        const expirable = kinds.filter((kind) => kind !== 'legacy');
        if (expirable.length === 0) return 0;
        // In batches, each one short (the statement deadline), at most EXPIRE_BATCHES a call: a backlog
        // (the first pass after an upgrade) drains over several passes. `kind <> 'legacy'` is spelled
        // out so the partial index of migration 0005 applies whatever the parameters.
        let expired = 0;
        for (let batch = 0; batch < EXPIRE_BATCHES; batch++) {
          const { count } = await sql`
            delete from sessions
             where ctid in (
               select ctid from sessions
                where kind <> 'legacy' and kind in ${sql(expirable)} and last_seen_at < ${before}
                limit ${EXPIRE_BATCH_SIZE})`;
          expired += count;
          if (count < EXPIRE_BATCH_SIZE) break;
        }
        return expired;
      }),
    listSessions: (filter: SessionFilter = {}) =>
      guard('listSessions', async () => {
        const conditions = [sql`true`];
        if (filter.org !== undefined) conditions.push(sql`org = ${filter.org}`);
        if (filter.brain !== undefined) conditions.push(sql`brain_id = ${filter.brain}`);
        if (filter.kind !== undefined) conditions.push(sql`kind = ${filter.kind}`);
        if (filter.ownerInstance !== undefined)
          conditions.push(sql`owner_instance = ${filter.ownerInstance}`);
        const where = conditions.reduce((all, condition) => sql`${all} and ${condition}`);
        const rows = await sql<SessionRow[]>`
          select ${columns()} from sessions where ${where} order by created_at, brain_id, id`;
        return rows.map(toSession);
      }),

    getLastInitParams: (tokenId, brain) =>
      guard('getLastInitParams', async () => {
        const [row] = await sql<{ params: string | null }[]>`
          select params::text as params from last_init_params
           where token_id = ${tokenId} and brain_id = ${brain}`;
        return row && fromJsonText(row.params);
      }),
    setLastInitParams: (tokenId, brain, params) =>
      guard('setLastInitParams', async () => {
        await sql`
          insert into last_init_params (token_id, brain_id, params)
          values (${tokenId}, ${brain}, ${toJsonText(params)}::text::jsonb)
          on conflict (token_id, brain_id) do update set params = excluded.params, updated_at = now()`;
      }),
  };
}
