/**
 * Real Postgres for tests. Does I/O.
 *
 * Where the server comes from (resolved once per run by test/helpers/global-setup.ts):
 * - `TEST_DATABASE_URL`, when set (CI exports the cluster .ci/run starts);
 * - else a throwaway cluster: `initdb` + `pg_ctl` from PATH, in a temp dir, on 127.0.0.1 and a free port,
 *   run as the `postgres` user when we are root (initdb refuses root), stopped by its pid at teardown;
 * - else none: Postgres suites are skipped and the run says so loudly (and fails under `CI=true`).
 *
 * Each test file clones its own database from a migrated template (`createTestDatabase`), the
 * graphile-worker way, so files run in parallel without seeing each other's rows.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { describe, inject } from 'vitest';
import { runMigrations } from '../../src/store/migrate.js';

/** What global-setup hands every test file; null when no Postgres could be had. */
export interface PostgresContext {
  /** Admin URL on the server's `postgres` database (create/drop database). */
  url: string;
  /** The migrated template database each test file clones. */
  template: string;
  /** Prefix of this run's test databases, so teardown can drop what a crashed file left. */
  prefix: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresContext | null;
  }
}

export const SKIP_BANNER = 'SKIPPED: Postgres suites — set TEST_DATABASE_URL or install PostgreSQL';

export interface PostgresServer {
  url: string;
  /** How the server was found, for the run's log line. */
  source: string;
  stop(): Promise<void>;
}

const quiet = { onnotice: () => {} };

/** The same server URL, pointing at another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const shellQuote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

/** Runs a PostgreSQL tool, as the `postgres` user when we are root. Rejects with its output on failure. */
function runTool(asPostgres: boolean, argv: string[]): Promise<void> {
  const [command, args] = asPostgres
    ? ['su', ['postgres', '-s', '/bin/sh', '-c', argv.map(shellQuote).join(' ')]]
    : [argv[0]!, argv.slice(1)];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${argv[0]} exited with ${code}:\n${output}`)),
    );
  });
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

interface ClusterPaths {
  asPostgres: boolean;
  initdb: string;
  pgCtl: string;
  dir: string;
  data: string;
}

/** pg_ctl start of an initialised data directory on `port`; rejects if the server does not come up. */
function pgCtlStart(o: ClusterPaths, port: number): Promise<void> {
  const settings = [
    `-c listen_addresses=127.0.0.1 -p ${port} -k ${o.dir}`,
    // Throwaway data: durability off for speed.
    '-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300',
  ].join(' ');
  const log = join(o.dir, 'postgres.log');
  return runTool(o.asPostgres, [o.pgCtl, 'start', '-w', '-t', '60', '-D', o.data, '-l', log, '-o', settings]);
}

/** initdb, then pg_ctl start on a free port; answers the port. */
async function initAndStart(o: ClusterPaths): Promise<number> {
  const initOptions = '-U postgres -A trust -E UTF8 --locale=C --no-sync'.split(' ');
  await runTool(o.asPostgres, [o.initdb, '-D', o.data, ...initOptions]);
  // A port found free can be taken before the server binds it; try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await pgCtlStart(o, port);
      return port;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}

/** A cluster a test can take down and bring back (issue 5 §7: "Postgres blinks"). */
export interface RestartableCluster extends PostgresServer {
  /** `pg_ctl stop -m fast`: open connections are closed, new ones refused, until `resume`. */
  pause(): Promise<void>;
  /** Starts the same data directory again, on the same port. */
  resume(): Promise<void>;
}

/** True when initdb and pg_ctl are on PATH (a dedicated cluster can be started). */
export function clusterToolsAvailable(): boolean {
  return onPath('initdb') !== undefined && onPath('pg_ctl') !== undefined;
}

/**
 * A throwaway cluster of the test's own, apart from the run's shared server, so stopping it disturbs no
 * other test file. Rejects when initdb/pg_ctl are missing (check `clusterToolsAvailable` first).
 */
export async function startRestartableCluster(): Promise<RestartableCluster> {
  const initdb = onPath('initdb');
  const pgCtl = onPath('pg_ctl');
  if (!initdb || !pgCtl) throw new Error('initdb and pg_ctl are not on PATH');
  const asPostgres = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'mcpgate-pg-blink-'));
  if (asPostgres) {
    const id = promisify(execFile);
    const uid = Number((await id('id', ['-u', 'postgres'])).stdout);
    const gid = Number((await id('id', ['-g', 'postgres'])).stdout);
    await chown(dir, uid, gid);
  }
  const paths: ClusterPaths = { asPostgres, initdb, pgCtl, dir, data: join(dir, 'data') };
  const port = await initAndStart(paths).catch(async (err) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const pidFile = join(paths.data, 'postmaster.pid');
  // The pid changes across restarts: read it when needed.
  const killNow = () => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGQUIT');
    } catch {}
  };
  process.once('exit', killNow);
  const stopServer = (mode: 'fast' | 'immediate') =>
    runTool(asPostgres, [pgCtl, 'stop', '-w', '-t', '60', '-D', paths.data, '-m', mode]);

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    source: `dedicated cluster (port ${port}, ${dir})`,
    pause: () => stopServer('fast'),
    resume: () => pgCtlStart(paths, port),
    async stop() {
      process.off('exit', killNow);
      if (existsSync(pidFile)) await stopServer('fast').catch(killNow);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a throwaway cluster, or returns undefined when initdb/pg_ctl are not on PATH. */
export async function startThrowawayCluster(): Promise<PostgresServer | undefined> {
  const initdb = onPath('initdb');
  const pgCtl = onPath('pg_ctl');
  if (!initdb || !pgCtl) return undefined;

  const asPostgres = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'mcpgate-pg-'));
  if (asPostgres) {
    const id = promisify(execFile);
    const uid = Number((await id('id', ['-u', 'postgres'])).stdout);
    const gid = Number((await id('id', ['-g', 'postgres'])).stdout);
    await chown(dir, uid, gid);
  }
  const data = join(dir, 'data');
  let port: number;
  try {
    port = await initAndStart({ asPostgres, initdb, pgCtl, dir, data });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const pidFile = join(data, 'postmaster.pid');
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  // If the run dies before teardown, do not leave a server behind (SIGQUIT: immediate shutdown).
  const killNow = () => {
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {}
  };
  process.once('exit', killNow);

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    source: `throwaway cluster (pid ${pid}, port ${port}, ${dir})`,
    async stop() {
      process.off('exit', killNow);
      // SIGINT is the fast shutdown. The server is not our child, so wait for its pid file to go rather
      // than for an exit event; fall back to an immediate shutdown if it lingers.
      try {
        process.kill(pid, 'SIGINT');
      } catch {}
      if (!(await waitFor(() => !existsSync(pidFile), 30_000))) killNow();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** TEST_DATABASE_URL, else a throwaway cluster, else undefined. */
export async function findPostgres(env = process.env): Promise<PostgresServer | undefined> {
  if (env.TEST_DATABASE_URL) {
    return { url: env.TEST_DATABASE_URL, source: 'TEST_DATABASE_URL', stop: async () => {} };
  }
  return startThrowawayCluster();
}

/** Creates the run's template database on `server` and migrates it. */
export async function prepareTemplate(server: PostgresServer, runId: string): Promise<PostgresContext> {
  const context = { url: server.url, template: `mcpgate_tpl_${runId}`, prefix: `mcpgate_test_${runId}_` };
  const admin = postgres(server.url, { ...quiet, max: 1 });
  try {
    await admin`create database ${admin(context.template)}`;
  } finally {
    await admin.end();
  }
  await runMigrations({ url: withDatabase(server.url, context.template) });
  return context;
}

/** Drops the template and any test database of this run that a file did not drop. */
export async function dropRunDatabases(context: PostgresContext): Promise<void> {
  const admin = postgres(context.url, { ...quiet, max: 1 });
  try {
    const rows = await admin<{ datname: string }[]>`
      select datname from pg_database where datname = ${context.template} or starts_with(datname, ${context.prefix})`;
    for (const { datname } of rows) await admin`drop database if exists ${admin(datname)} with (force)`;
  } finally {
    await admin.end();
  }
}

/** `describe` for suites that need Postgres: skipped (and announced by global setup) when there is none. */
export function describePostgres(name: string, body: () => void): void {
  describe.skipIf(inject('postgres') === null)(`[postgres] ${name}`, body);
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file: a clone of the migrated template, or an empty one with
 * `{ migrated: false }` (migration tests).
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const context = inject('postgres');
  if (!context) throw new Error('no Postgres for this run: wrap the suite in describePostgres');
  const name = `${context.prefix}${randomBytes(6).toString('hex')}`;
  const admin = postgres(context.url, { ...quiet, max: 1 });
  try {
    await (options.migrated === false
      ? admin`create database ${admin(name)}`
      : admin`create database ${admin(name)} template ${admin(context.template)}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(context.url, name),
    async drop() {
      const dropper = postgres(context.url, { ...quiet, max: 1 });
      try {
        await dropper`drop database if exists ${dropper(name)} with (force)`;
      } finally {
        await dropper.end();
      }
    },
  };
}
