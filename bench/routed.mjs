// Scale-out benchmark (issue 5): the latency a routed legacy POST adds over a local one, and database
// statements per message in steady state.
//
// Two `dist/cli.js serve` processes (A and B) on one throwaway Postgres (initdb + pg_ctl in a temp dir,
// 127.0.0.1, a free port, run as the `postgres` user when we are root, stopped at the end), in front of the
// legacy benchmark's minimal upstream. One raw legacy client (bench/legacy-client.mjs) holds its SSE stream
// on A and times tools/calls (POST → reply on the stream) in alternating blocks: POSTs to A (local) and
// POSTs to B (routed: B forwards them, signed, to A). Postgres runs with `log_statement=all`, so every
// statement the gateways send is counted exactly from its log (no pg_stat_statements), by window: an idle
// window (heartbeats, reaper, bus self-checks only) and the message windows, of equal length.
//
// Usage: npm run build && node bench/routed.mjs [--calls 2000] [--block 100]   (about 45 s)
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openLegacy } from './legacy-client.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const CALLS = arg('calls', 2000);
const BLOCK = arg('block', 100);
const ADMIN = 'bench-admin-token-0123456789';
const SECRET = randomBytes(32).toString('base64');
const root = new URL('..', import.meta.url).pathname;
const children = new Set();
let cleanup = () => {};
process.on('exit', () => {
  for (const proc of children) proc.kill('SIGKILL');
  cleanup();
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1));
for (const event of ['uncaughtException', 'unhandledRejection'])
  process.on(event, (err) => {
    console.error(err);
    process.exit(1);
  });

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
const which = (command) =>
  execFileSync('sh', ['-c', `command -v ${command}`])
    .toString()
    .trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- Postgres -------------------------------------------------------------------------------------------
const asPostgres = process.getuid?.() === 0;
const pgRun = (argv) => {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  if (asPostgres) execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', quoted], { stdio: 'pipe' });
  else execFileSync(argv[0], argv.slice(1), { stdio: 'pipe' });
};
const dir = mkdtempSync(join(tmpdir(), 'mcpgate-bench-routed-'));
if (asPostgres) {
  const uid = Number(execFileSync('id', ['-u', 'postgres']));
  const gid = Number(execFileSync('id', ['-g', 'postgres']));
  chownSync(dir, uid, gid);
}
const data = join(dir, 'data');
const pgLog = join(dir, 'postgres.log');
const pgPort = await freePort();
pgRun([
  which('initdb'),
  '-D',
  data,
  '-U',
  'postgres',
  '-A',
  'trust',
  '-E',
  'UTF8',
  '--locale=C',
  '--no-sync',
]);
const settings = [
  `-c listen_addresses=127.0.0.1 -p ${pgPort} -k ${dir}`,
  '-c fsync=off -c synchronous_commit=off -c full_page_writes=off',
  // Every statement, with the time (ms) and application name, so windows and senders can be told apart.
  "-c log_statement=all -c log_line_prefix='%m|%a|' -c log_timezone=UTC -c logging_collector=off",
].join(' ');
pgRun([which('pg_ctl'), 'start', '-w', '-D', data, '-l', pgLog, '-o', settings]);
let pgStopped = false;
cleanup = () => {
  if (!pgStopped) {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGQUIT');
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
};
const adminUrl = `postgres://postgres@127.0.0.1:${pgPort}/postgres`;
const dbUrl = `postgres://postgres@127.0.0.1:${pgPort}/mcpgate`;
execFileSync('psql', [adminUrl, '-qc', 'create database mcpgate']);
execFileSync(process.execPath, [join(root, 'dist/cli.js'), 'migrate'], {
  env: { PATH: process.env.PATH, DATABASE_URL: dbUrl, MCPGATE_SECRET: SECRET },
  stdio: 'pipe',
});

// --- processes ------------------------------------------------------------------------------------------
function upstream() {
  const proc = spawn(process.execPath, [join(root, 'bench/legacy-upstream.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(proc);
  return new Promise((resolve) =>
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (line.startsWith('ready ')) resolve(`http://127.0.0.1:${line.split(' ')[1]}`);
    }),
  );
}

async function gateway() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, [join(root, 'dist/cli.js'), 'serve'], {
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: dbUrl,
      MCPGATE_SECRET: SECRET,
      MCPGATE_INSTANCE_URL: url,
      MCPGATE_ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(proc);
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, proc };
    await sleep(50);
  }
}

const [upstreamUrl, a, b] = await Promise.all([upstream(), gateway(), gateway()]);
const admin = async (path, body) => {
  const res = await fetch(`${a.url}/admin/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
};
await admin('/orgs', { slug: 'bench' });
await admin('/orgs/bench/brains', { id: 'b', upstreamUrl });
const { token } = await admin('/orgs/bench/tokens', {});

// One SSE stream on A; POSTs either to A (local) or to B (routed to A).
const open = (postOrigin) => openLegacy({ origin: a.url, postOrigin, ssePath: '/brains/b/sse', token });
const local = await open(a.url);
console.error('local session open');
const routed = await open(b.url);
console.error('routed session open');

// Warm-up: caches (token, brain, owner) on both instances, JIT.
for (let i = 0; i < 300; i++) {
  await local.call();
  await routed.call();
}

// --- statement counting from the Postgres log -----------------------------------------------------------
const stamp = () => Date.now();
function statements(from, to) {
  const counts = new Map();
  let total = 0;
  for (const line of readFileSync(pgLog, 'utf8').split('\n')) {
    const m =
      /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (\w+)\|([^|]*)\|LOG: {2}(?:statement|execute [^:]*): (.*)$/.exec(
        line,
      );
    if (!m) continue;
    const at = Date.parse(`${m[1].replace(' ', 'T')}Z`);
    if (at < from || at >= to || m[3] === 'psql') continue;
    total++;
    const shape = m[4].replace(/\s+/g, ' ').slice(0, 60) || '(multi-line: the reaper pass)';
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
  }
  return { total, counts };
}

// Idle window: no messages; what the instances send on their own (heartbeats, reaper, bus self-check).
console.error('warmed up; idle window');
const IDLE_MS = 15_000;
const idleFrom = stamp();
await sleep(IDLE_MS);
const idleTo = stamp();

// Message windows: alternating blocks, local and routed.
// Node closes keep-alive sockets idle for 5 s: fresh clients (and sessions) for the message windows.
local.close();
routed.close();
const [local2, routed2] = [await open(a.url), await open(b.url)];
for (let i = 0; i < 50; i++) {
  await local2.call();
  await routed2.call();
}
await sleep(1_500); // their session writes and audit batch land before the window
console.error('message windows');
const times = { local: [], routed: [] };
const busyFrom = stamp();
for (let done = 0; done < CALLS; done += BLOCK) {
  for (let i = 0; i < BLOCK; i++) times.local.push(await local2.call());
  for (let i = 0; i < BLOCK; i++) times.routed.push(await routed2.call());
}
stamp();
await sleep(1_500); // the last audit batch (MCPGATE_AUDIT_FLUSH_MS = 1 s) lands in the window's tail
const tailTo = stamp();

const pct = (list, p) => {
  const sorted = [...list].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const fmt = (ms) => `${ms.toFixed(3)} ms`;
const idle = statements(idleFrom, idleTo);
const busy = statements(busyFrom, tailTo);
const messages = times.local.length + times.routed.length;
const idleRate = idle.total / (idleTo - idleFrom);
const background = idleRate * (tailTo - busyFrom);

console.log(
  `load average before/after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(`calls: ${times.local.length} local + ${times.routed.length} routed, blocks of ${BLOCK}`);
for (const kind of ['local', 'routed'])
  console.log(`${kind.padEnd(6)} p50 ${fmt(pct(times[kind], 50))}  p99 ${fmt(pct(times[kind], 99))}`);
console.log(
  `added by routing: p50 ${fmt(pct(times.routed, 50) - pct(times.local, 50))}  p99 ${fmt(pct(times.routed, 99) - pct(times.local, 99))}`,
);
console.log(
  `idle window ${IDLE_MS / 1000} s: ${idle.total} statements (${(idleRate * 1000).toFixed(2)}/s, both instances)`,
);
console.log(
  `message window ${((tailTo - busyFrom) / 1000).toFixed(1)} s, ${messages} messages: ${busy.total} statements, ` +
    `${background.toFixed(1)} expected from the idle rate → ${((busy.total - background) / messages).toFixed(4)} per message`,
);
const shapes = (c) =>
  [...c.counts]
    .sort((x, y) => y[1] - x[1])
    .slice(0, 8)
    .map(([s, n]) => `    ${String(n).padStart(5)}  ${s}`)
    .join('\n');
console.log(`  idle window statements:\n${shapes(idle)}`);
console.log(`  message window statements:\n${shapes(busy)}`);

local2.close();
routed2.close();
for (const proc of [a.proc, b.proc]) proc.kill('SIGTERM');
await sleep(1_000);
pgRun([which('pg_ctl'), 'stop', '-m', 'fast', '-D', data]);
pgStopped = true;
process.exit(0);
