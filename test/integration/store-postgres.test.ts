/**
 * The Postgres store against a real server: the shared contract, plus what only Postgres does (its own
 * pool, constraint errors, an unreachable server).
 */
import { createServer, type Server } from 'node:net';
import postgres, { type Sql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayError, isGatewayError } from '../../src/errors.js';
import { createPostgresStore } from '../../src/store/postgres.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';
import { describeStoreContract } from './store.contract.js';

describePostgres('store: postgres', () => {
  let db: TestDatabase;
  let sql: Sql;
  beforeAll(async () => {
    db = await createTestDatabase();
    sql = postgres(db.url, { onnotice: () => {} });
  });
  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  describeStoreContract('postgres', async () => {
    await sql`truncate orgs, brains, tokens, sessions, last_init_params, instances, audit_log`;
    return createPostgresStore({ sql });
  });

  it('refuses a session on a missing brain with ERR_NOT_FOUND (a foreign key the memory store lacks)', async () => {
    await sql`truncate orgs, brains, tokens, sessions, last_init_params, instances`;
    const store = createPostgresStore({ sql });
    const err = await store
      .putSession({
        id: 's1',
        brain: 'ghost',
        kind: 'legacy',
        org: 'acme',
        tokenId: 'tok1',
        ownerInstance: 'inst-a',
        upstreamSessionId: null,
        protocolVersion: null,
        initParams: {},
      })
      .catch((e: unknown) => e);
    expect(isGatewayError(err, 'ERR_NOT_FOUND')).toBe(true);
  });

  it('opens its own pool from a URL (prepare on or off) and closes it', async () => {
    for (const prepare of [true, false]) {
      const store = createPostgresStore({ url: db.url, prepare, max: 2 });
      await store.ping();
      await store.createOrg({ slug: `own-${prepare}`, name: null });
      expect((await store.getOrg(`own-${prepare}`))?.slug).toBe(`own-${prepare}`);
      await store.close();
      const err = await store.getOrg('x').catch((e: unknown) => e);
      expect(isGatewayError(err, 'ERR_STORE_UNAVAILABLE')).toBe(true);
    }
  });

  it('keeps the shared pool open when it was handed one', async () => {
    const store = createPostgresStore({ sql });
    await store.close();
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
  });
});

describe('store: postgres, server unreachable', () => {
  const password = 'hunter2-not-in-messages';
  let server: Server | undefined;
  afterAll(() => server?.close());

  async function freePortThenClosed(): Promise<number> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    return port;
  }

  it('ping and queries reject with ERR_STORE_UNAVAILABLE at once on a closed port, without secrets', async () => {
    const port = await freePortThenClosed();
    const store = createPostgresStore({ url: `postgres://mcpgate:${password}@127.0.0.1:${port}/mcpgate` });
    try {
      const started = Date.now();
      const err = (await store.ping().catch((e: unknown) => e)) as GatewayError;
      expect(isGatewayError(err, 'ERR_STORE_UNAVAILABLE')).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(err.status).toBe(503);
      expect(err.expose).toBe(false);
      expect(err.message).not.toContain(password);

      const query = (await store.findTokenByHash('a-token-hash').catch((e: unknown) => e)) as GatewayError;
      expect(isGatewayError(query, 'ERR_STORE_UNAVAILABLE')).toBe(true);
      expect(query.message).not.toContain(password);
      expect(query.message).not.toContain('a-token-hash');
    } finally {
      await store.close();
    }
  });

  it('ping gives up after its timeout when the server accepts but never answers', async () => {
    server = createServer(() => {});
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    // A connect_timeout far beyond the ping's, to show the ping does not wait for it.
    const sql = postgres(`postgres://mcpgate@127.0.0.1:${port}/mcpgate`, { connect_timeout: 30 });
    const store = createPostgresStore({ sql, pingTimeoutMs: 200 });
    try {
      const started = Date.now();
      const err = await store.ping().catch((e: unknown) => e);
      expect(isGatewayError(err, 'ERR_STORE_UNAVAILABLE')).toBe(true);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await sql.end({ timeout: 0 });
      server.close();
    }
  });
});
