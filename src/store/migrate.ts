/**
 * Applies migrations/NNNN_*.sql in order (`mcpgate migrate`, Fly's release_command). Does I/O.
 *
 * The whole run holds a session-level `pg_advisory_lock` on one reserved connection, so two runs at once
 * (two deploys, two test workers) apply each file exactly once: the second waits, then finds nothing left.
 * Each file runs in its own transaction together with its `schema_migrations` row, so a failing file
 * leaves no trace and stops the run. Files are forward-only; a file that must run outside a transaction
 * (`create index concurrently`) does not belong here.
 *
 * Use the direct database URL, not a transaction-mode PgBouncer: session advisory locks need a session
 * (research/deploy.md §1.6).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres, { type ReservedSql, type Sql } from 'postgres';
import { GatewayError } from '../errors.js';
import { isUnavailable, toStoreError } from './postgres-errors.js';

/** The repository's migrations/: two levels up from both src/store/ (vitest) and dist/store/ (built). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Hashed server-side (`hashtextextended`) into the bigint advisory-lock key, so the key has a name. */
export const MIGRATION_LOCK = 'mcpgate:migrations';
const FILE_NAME = /^(\d{4})_[a-z0-9_-]+\.sql$/i;

export type RunMigrationsOptions = ({ sql: Sql } | { url: string }) & {
  /** Defaults to MIGRATIONS_DIR. */
  dir?: string;
  /** A pino Logger fits. */
  logger?: MigrationLogger;
};

export interface MigrationLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

interface Migration {
  name: string;
  text: string;
  checksum: string;
}

async function readMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const seen = new Map<string, string>();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_NAME.exec(file);
    // A misnamed file would otherwise be skipped without a word.
    if (!match) throw new GatewayError('ERR_CONFIG', `migration file ${file} is not named NNNN_name.sql`);
    const number = match[1]!;
    const other = seen.get(number);
    if (other) throw new GatewayError('ERR_CONFIG', `migrations ${other} and ${file} share number ${number}`);
    seen.set(number, file);
    const text = await readFile(join(dir, file), 'utf8');
    const checksum = createHash('sha256').update(text).digest('hex');
    migrations.push({ name: file.slice(0, -'.sql'.length), text, checksum });
  }
  return migrations;
}

async function applyPending(
  conn: ReservedSql,
  migrations: Migration[],
  logger: MigrationLogger | undefined,
): Promise<string[]> {
  const [table] = await conn`select to_regclass('schema_migrations') is not null as present`;
  if (!table!.present) {
    await conn`
      create table schema_migrations (
        name        text primary key,
        checksum    text not null,
        applied_at  timestamptz not null default now()
      )`;
  }
  const rows = await conn<{ name: string; checksum: string }[]>`select name, checksum from schema_migrations`;
  const applied = new Map(rows.map((r) => [r.name, r.checksum]));

  const done: string[] = [];
  for (const m of migrations) {
    const recorded = applied.get(m.name);
    if (recorded !== undefined) {
      if (recorded !== m.checksum) {
        logger?.warn({ migration: m.name }, 'applied migration file has changed since; it is not re-run');
      }
      continue;
    }
    // A reserved connection may run its own begin/commit (postgres.js refuses them on a pooled one).
    // `unsafe` without parameters uses the simple protocol, so a file may hold many statements.
    await conn.unsafe('begin');
    try {
      await conn.unsafe(m.text);
      await conn`insert into schema_migrations (name, checksum) values (${m.name}, ${m.checksum})`;
      await conn.unsafe('commit');
    } catch (err) {
      await conn.unsafe('rollback').catch(() => {});
      if (isUnavailable(err)) throw err;
      // The server's message names the failing statement's problem, which the operator needs; it quotes
      // the migration file, never runtime data.
      const reason = err instanceof Error ? err.message : String(err);
      throw new GatewayError('ERR_INTERNAL', `migration ${m.name} failed: ${reason}`, { cause: err });
    }
    logger?.info({ migration: m.name }, 'migration applied');
    done.push(m.name);
  }
  return done;
}

/**
 * Applies the pending migrations and returns their names (empty when the database is up to date).
 *
 * @example
 * const applied = await runMigrations({ url: config.databaseUrl, logger });
 */
export async function runMigrations(options: RunMigrationsOptions): Promise<string[]> {
  const migrations = await readMigrations(options.dir ?? MIGRATIONS_DIR);
  const sql =
    'url' in options
      ? postgres(options.url, { max: 1, connect_timeout: 10, onnotice: () => {} })
      : options.sql;
  try {
    const conn = await sql.reserve();
    try {
      await conn`select pg_advisory_lock(hashtextextended(${MIGRATION_LOCK}, 0))`;
      try {
        return await applyPending(conn, migrations, options.logger);
      } finally {
        // If the connection is gone, so is the lock: the server releases it with the session.
        await conn`select pg_advisory_unlock(hashtextextended(${MIGRATION_LOCK}, 0))`.catch(() => {});
      }
    } finally {
      conn.release();
    }
  } catch (err) {
    throw toStoreError(err, 'migrate');
  } finally {
    if ('url' in options) await sql.end({ timeout: 5 });
  }
}
