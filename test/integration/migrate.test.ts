/**
 * runMigrations against a real server: idempotent, safe to run twice at once, one transaction per file.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres, { type Sql } from 'postgres';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import { MIGRATION_LOCK, MIGRATIONS_DIR, runMigrations } from '../../src/store/migrate.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';

const shipped = async () =>
  (await readdir(MIGRATIONS_DIR))
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => f.slice(0, -'.sql'.length));

describe('runMigrations without a server', () => {
  it('is found next to the module and holds the initial schema', async () => {
    expect(existsSync(join(MIGRATIONS_DIR, '0001_init.sql'))).toBe(true);
    expect(await shipped()).toContain('0001_init');
  });

  it('rejects with ERR_STORE_UNAVAILABLE when the server cannot be reached', async () => {
    const err = await runMigrations({ url: 'postgres://mcpgate@127.0.0.1:1/mcpgate' }).catch(
      (e: unknown) => e,
    );
    expect(isGatewayError(err, 'ERR_STORE_UNAVAILABLE')).toBe(true);
  });
});

describePostgres('runMigrations', () => {
  let db: TestDatabase;
  let sql: Sql;
  const databases: TestDatabase[] = [];
  beforeEach(async () => {
    db = await createTestDatabase({ migrated: false });
    databases.push(db);
    sql = postgres(db.url, { onnotice: () => {} });
  });
  afterEach(async () => {
    await sql.end();
  });
  afterAll(async () => {
    for (const d of databases) await d.drop();
  });

  const recorded = async () =>
    (await sql<{ name: string }[]>`select name from schema_migrations order by name`).map((r) => r.name);

  it('applies every shipped migration once; a second run applies nothing', async () => {
    const all = await shipped();
    expect(await runMigrations({ url: db.url })).toEqual(all);
    expect(await runMigrations({ url: db.url })).toEqual([]);
    expect(await runMigrations({ sql })).toEqual([]);
    expect(await recorded()).toEqual(all);
    const tables = await sql<{ name: string }[]>`
      select table_name as name from information_schema.tables where table_schema = 'public' order by 1`;
    expect(tables.map((t) => t.name)).toEqual([
      'audit_log',
      'brains',
      'instances',
      'last_init_params',
      'orgs',
      'schema_migrations',
      'sessions',
      'tokens',
    ]);
  });

  it('two concurrent runs on separate connections both succeed and apply each file once', async () => {
    const all = await shipped();
    // Hold the lock so that both runs are certainly waiting on it at the same time.
    const holder = await sql.reserve();
    await holder`select pg_advisory_lock(hashtextextended(${MIGRATION_LOCK}, 0))`;
    const runs = Promise.all([runMigrations({ url: db.url }), runMigrations({ url: db.url })]);
    const waiting = async () =>
      (
        await sql<{ n: number }[]>`
        select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`
      )[0]!.n;
    while ((await waiting()) < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    await holder`select pg_advisory_unlock(hashtextextended(${MIGRATION_LOCK}, 0))`;
    holder.release();

    const [a, b] = await runs;
    expect([...a, ...b].sort()).toEqual(all);
    expect(await recorded()).toEqual(all);
    // Both runs let go of the lock.
    const [{ held }] = await sql<{ held: number }[]>`
      select count(*)::int as held from pg_locks where locktype = 'advisory'`;
    expect(held).toBe(0);
  });

  describe('with its own migration files', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'mcpgate-migrations-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('rolls back a failing file whole and stops there', async () => {
      await writeFile(join(dir, '0001_first.sql'), 'create table first (id int);');
      await writeFile(
        join(dir, '0002_broken.sql'),
        'create table second (id int);\ninsert into second values (1);\nselect 1 / 0;',
      );
      await writeFile(join(dir, '0003_later.sql'), 'create table third (id int);');

      const err = await runMigrations({ sql, dir }).catch((e: unknown) => e);
      expect(isGatewayError(err, 'ERR_INTERNAL')).toBe(true);
      expect((err as Error).message).toContain('0002_broken');
      expect(await recorded()).toEqual(['0001_first']);
      const [tables] = await sql`
        select to_regclass('first') is not null as first, to_regclass('second') is not null as second,
               to_regclass('third') is not null as third`;
      expect(tables).toEqual({ first: true, second: false, third: false });

      // Fixed, the run carries on from the failed file.
      await writeFile(join(dir, '0002_broken.sql'), 'create table second (id int);');
      expect(await runMigrations({ sql, dir })).toEqual(['0002_broken', '0003_later']);
    });

    it('refuses misnamed files and duplicate numbers instead of skipping them', async () => {
      await writeFile(join(dir, '0001_ok.sql'), 'select 1;');
      await writeFile(join(dir, '1_typo.sql'), 'select 1;');
      const misnamed = await runMigrations({ sql, dir }).catch((e: unknown) => e);
      expect(isGatewayError(misnamed, 'ERR_CONFIG')).toBe(true);

      await rm(join(dir, '1_typo.sql'));
      await writeFile(join(dir, '0001_again.sql'), 'select 1;');
      const duplicate = await runMigrations({ sql, dir }).catch((e: unknown) => e);
      expect(isGatewayError(duplicate, 'ERR_CONFIG')).toBe(true);
      const [{ present }] = await sql`select to_regclass('schema_migrations') is not null as present`;
      expect(present).toBe(false);
    });

    it('warns when an applied file has changed, without running it again', async () => {
      await writeFile(join(dir, '0001_first.sql'), 'create table first (id int);');
      expect(await runMigrations({ sql, dir })).toEqual(['0001_first']);
      await writeFile(join(dir, '0001_first.sql'), 'create table first (id bigint);');
      const warnings: unknown[] = [];
      const logger = { info: () => {}, warn: (obj: unknown) => warnings.push(obj) };
      expect(await runMigrations({ sql, dir, logger })).toEqual([]);
      expect(warnings).toEqual([{ migration: '0001_first' }]);
    });
  });
});
