/**
 * The Postgres Store (postgres.js): the production store, shared by every instance. Does I/O.
 *
 * Orgs, brains and tokens live here; sessions and last-initialize params in postgres-sessions.ts; error
 * mapping in postgres-errors.ts. The schema is migrations/*.sql, applied by `mcpgate migrate` (migrate.ts),
 * never by this module. Behaviour matches the memory store (one contract suite runs against both), with
 * timestamps from the database clock so every instance agrees on them.
 */
import postgres, { type Sql } from 'postgres';
import { GatewayError } from '../errors.js';
import { createAuditQueries } from './postgres-audit.js';
import { guard, storeUnavailable, withDeadline } from './postgres-errors.js';
import { createInstanceQueries } from './postgres-instances.js';
import { createSessionQueries } from './postgres-sessions.js';
import type {
  Brain,
  BrainEra,
  BrainPatch,
  NewBrain,
  NewToken,
  Org,
  OrgPatch,
  Store,
  TokenRecord,
} from './types.js';

export type PostgresStoreOptions = (
  | {
      /** `postgres://` URL. Behind PgBouncer in transaction mode, pass `prepare: false` (README). */
      url: string;
      prepare?: boolean;
      /** Pool size; the default is 10. */
      max?: number;
    }
  | {
      /** An existing postgres.js instance (tests); the store never ends it. */
      sql: Sql;
    }
) & {
  /** How long `ping()` waits for `select 1`; default 2000. */
  pingTimeoutMs?: number;
  /** How long any other call may take before it fails with ERR_STORE_UNAVAILABLE; default 5000. */
  queryTimeoutMs?: number;
};

/**
 * Seconds a connection waits before its next attempt after `retries` failures. postgres.js's default grows
 * to 20 s, and a query arriving meanwhile waits for it; 50 ms doubling up to 1 s keeps failures fast during
 * an outage and recovery quick after it (issue 5 §7).
 */
export function reconnectDelaySeconds(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 1);
}

/**
 * Client options: fail a connection attempt within seconds rather than postgres.js's default 30, and
 * recycle connections within the limits Fly's proxy in front of Managed Postgres keeps (research/deploy.md
 * §1.6: idle 300 s, lifetime 600 s).
 */
const CLIENT_OPTIONS = {
  connect_timeout: 5,
  idle_timeout: 300,
  max_lifetime: 600,
  onnotice: () => {},
  connection: { application_name: 'mcpgate' },
  backoff: reconnectDelaySeconds,
} as const;

interface OrgRow {
  slug: string;
  name: string | null;
  rate_limit_per_minute: number | null;
  rate_limit_burst: number | null;
  created_at: Date;
}

interface BrainRow {
  id: string;
  org: string;
  upstream_url: string;
  upstream_headers_enc: string | null;
  upstream_header_names: string[];
  connect_timeout_ms: number | null;
  first_byte_timeout_ms: number | null;
  era: BrainEra;
  created_at: Date;
  updated_at: Date;
}

interface TokenRow {
  id: string;
  org: string;
  name: string | null;
  hash: string;
  brains: string[] | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

const toOrg = (r: OrgRow): Org => ({
  slug: r.slug,
  name: r.name,
  rateLimitPerMinute: r.rate_limit_per_minute,
  rateLimitBurst: r.rate_limit_burst,
  createdAt: r.created_at,
});

const toBrain = (r: BrainRow): Brain => ({
  id: r.id,
  org: r.org,
  upstreamUrl: r.upstream_url,
  upstreamHeadersEnc: r.upstream_headers_enc,
  upstreamHeaderNames: r.upstream_header_names,
  connectTimeoutMs: r.connect_timeout_ms,
  firstByteTimeoutMs: r.first_byte_timeout_ms,
  era: r.era,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toToken = (r: TokenRow): TokenRecord => ({
  id: r.id,
  org: r.org,
  name: r.name,
  hash: r.hash,
  brains: r.brains,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  createdAt: r.created_at,
});

/**
 * The memory store's order (`localeCompare`), applied here too so a listing reads the same whichever store
 * is configured, independent of the database's collation. Admin listings are small.
 */
const byKey =
  <T>(key: (item: T) => string) =>
  (a: T, b: T) =>
    key(a).localeCompare(key(b));

const orgNotFound = (org: string, cause?: unknown) =>
  new GatewayError('ERR_NOT_FOUND', `org ${org} not found`, { cause });

/**
 * Creates the Postgres Store. Connects lazily: the first query opens the pool.
 *
 * @example
 * const store = createPostgresStore({ url: config.databaseUrl, prepare: config.databasePrepare });
 * await store.ping();
 */
export function createPostgresStore(options: PostgresStoreOptions): Store {
  const owned = 'url' in options;
  const sql: Sql = owned
    ? postgres(options.url, { ...CLIENT_OPTIONS, max: options.max ?? 10, prepare: options.prepare ?? true })
    : options.sql;
  const pingTimeoutMs = options.pingTimeoutMs ?? 2000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5000;

  const store: Store = {
    kind: 'postgres',

    createOrg: ({ slug, name }) =>
      guard(
        'createOrg',
        async () => {
          const [row] = await sql<OrgRow[]>`
            insert into orgs (slug, name) values (${slug}, ${name}) returning *`;
          return toOrg(row!);
        },
        {
          '23505': (cause) =>
            new GatewayError('ERR_CONFLICT', `org ${slug} already exists`, { field: 'slug', cause }),
        },
      ),
    getOrg: (slug) =>
      guard('getOrg', async () => {
        const [row] = await sql<OrgRow[]>`select * from orgs where slug = ${slug}`;
        return row && toOrg(row);
      }),
    listOrgs: () =>
      guard('listOrgs', async () => {
        const rows = await sql<OrgRow[]>`select * from orgs`;
        return rows.map(toOrg).sort(byKey((o) => o.slug));
      }),
    updateOrg: (slug, patch: OrgPatch) =>
      guard('updateOrg', async () => {
        // Undefined fields are left alone; null clears (as in the memory store).
        const sets = [];
        if (patch.name !== undefined) sets.push(sql`name = ${patch.name}`);
        if (patch.rateLimitPerMinute !== undefined)
          sets.push(sql`rate_limit_per_minute = ${patch.rateLimitPerMinute}`);
        if (patch.rateLimitBurst !== undefined) sets.push(sql`rate_limit_burst = ${patch.rateLimitBurst}`);
        if (sets.length === 0) {
          const [row] = await sql<OrgRow[]>`select * from orgs where slug = ${slug}`;
          return row && toOrg(row);
        }
        const assignments = sets.reduce((list, set) => sql`${list}, ${set}`);
        const [row] = await sql<OrgRow[]>`update orgs set ${assignments} where slug = ${slug} returning *`;
        return row && toOrg(row);
      }),

    createBrain: (input: NewBrain) =>
      guard(
        'createBrain',
        async () => {
          // insert … select from orgs: a missing org inserts nothing and reads as ERR_NOT_FOUND before any
          // duplicate id is considered, the order the memory store checks in.
          const [row] = await sql<BrainRow[]>`
            insert into brains (id, org, upstream_url, upstream_headers_enc, upstream_header_names,
                                connect_timeout_ms, first_byte_timeout_ms, era)
            select ${input.id}, slug, ${input.upstreamUrl}, ${input.upstreamHeadersEnc}::text,
                   ${input.upstreamHeaderNames}::text[], ${input.connectTimeoutMs ?? null}::integer,
                   ${input.firstByteTimeoutMs ?? null}::integer, ${input.era ?? 'auto'}
              from orgs where slug = ${input.org}
            returning *`;
          if (!row) throw orgNotFound(input.org);
          return toBrain(row);
        },
        {
          '23505': (cause) =>
            new GatewayError('ERR_CONFLICT', `brain ${input.id} already exists`, { field: 'id', cause }),
          // The org was deleted between the select and the insert.
          '23503': (cause) => orgNotFound(input.org, cause),
        },
      ),
    getBrain: (id) =>
      guard('getBrain', async () => {
        const [row] = await sql<BrainRow[]>`select * from brains where id = ${id}`;
        return row && toBrain(row);
      }),
    listBrains: (org) =>
      guard('listBrains', async () => {
        const rows = await (org === undefined
          ? sql<BrainRow[]>`select * from brains`
          : sql<BrainRow[]>`select * from brains where org = ${org}`);
        return rows.map(toBrain).sort(byKey((b) => b.id));
      }),
    updateBrain: (id, patch: BrainPatch) =>
      guard('updateBrain', async () => {
        // Undefined fields are left alone; null clears a nullable one (as in the memory store).
        const sets = [sql`updated_at = now()`];
        if (patch.upstreamUrl !== undefined) sets.push(sql`upstream_url = ${patch.upstreamUrl}`);
        if (patch.upstreamHeadersEnc !== undefined)
          sets.push(sql`upstream_headers_enc = ${patch.upstreamHeadersEnc}`);
        if (patch.upstreamHeaderNames !== undefined)
          sets.push(sql`upstream_header_names = ${patch.upstreamHeaderNames}::text[]`);
        if (patch.connectTimeoutMs !== undefined)
          sets.push(sql`connect_timeout_ms = ${patch.connectTimeoutMs}`);
        if (patch.firstByteTimeoutMs !== undefined)
          sets.push(sql`first_byte_timeout_ms = ${patch.firstByteTimeoutMs}`);
        if (patch.era !== undefined) sets.push(sql`era = ${patch.era}`);
        const assignments = sets.reduce((list, set) => sql`${list}, ${set}`);
        const [row] = await sql<BrainRow[]>`update brains set ${assignments} where id = ${id} returning *`;
        return row && toBrain(row);
      }),
    deleteBrain: (id) =>
      guard('deleteBrain', async () => {
        // Its sessions go with it: sessions.brain_id references brains on delete cascade.
        const rows = await sql`delete from brains where id = ${id} returning id`;
        return rows.length > 0;
      }),

    createToken: (input: NewToken) =>
      guard(
        'createToken',
        async () => {
          const [row] = await sql<TokenRow[]>`
            insert into tokens (id, org, name, hash, brains, expires_at)
            select ${input.id}, slug, ${input.name}::text, ${input.hash}, ${input.brains}::text[],
                   ${input.expiresAt}::timestamptz
              from orgs where slug = ${input.org}
            returning *`;
          if (!row) throw orgNotFound(input.org);
          return toToken(row);
        },
        {
          '23505': (cause) => new GatewayError('ERR_CONFLICT', 'token already exists', { cause }),
          '23503': (cause) => orgNotFound(input.org, cause),
        },
      ),
    getToken: (id) =>
      guard('getToken', async () => {
        const [row] = await sql<TokenRow[]>`select * from tokens where id = ${id}`;
        return row && toToken(row);
      }),
    findTokenByHash: (hash) =>
      guard('findTokenByHash', async () => {
        const [row] = await sql<TokenRow[]>`select * from tokens where hash = ${hash}`;
        return row && toToken(row);
      }),
    revokeToken: (id, at) =>
      guard('revokeToken', async () => {
        // One statement, so the token is never revoked while its sessions survive.
        const [row] = await sql<{ revoked: number }[]>`
          with revoked as (
            update tokens set revoked_at = coalesce(${at ?? null}::timestamptz, now())
             where id = ${id} and revoked_at is null
            returning id
          ), closed as (
            delete from sessions where token_id in (select id from revoked)
          )
          select count(*)::int as revoked from revoked`;
        return row!.revoked > 0;
      }),

    ...createSessionQueries(sql),
    ...createInstanceQueries(sql),
    ...createAuditQueries(sql),

    async ping() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new GatewayError('ERR_STORE_UNAVAILABLE', 'store unavailable (ping timed out)')),
          pingTimeoutMs,
        );
      });
      try {
        await Promise.race([sql`select 1`, timeout]);
      } catch (err) {
        throw err instanceof GatewayError ? err : storeUnavailable(err);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (owned) await sql.end({ timeout: 5 });
    },
  };
  return withDeadlines(store, queryTimeoutMs);
}

/** Every call but `ping` (its own, shorter timeout) and `close` bounded by `withDeadline`. */
function withDeadlines(store: Store, ms: number): Store {
  const bounded: Record<string, unknown> = { ...store };
  for (const [name, value] of Object.entries(store)) {
    if (typeof value !== 'function' || name === 'ping' || name === 'close') continue;
    bounded[name] = (...args: unknown[]) => withDeadline(value(...args) as Promise<unknown>, ms, name);
  }
  return bounded as unknown as Store;
}
