// Legacy HTTP+SSE bridge benchmark (issue 4), one run, same raw client for every path:
//   direct  — Streamable HTTP straight to the upstream (the floor)
//   gateway — mcpgate's legacy face (built dist/), SSE stream + POST /messages
//   naive   — SSEServerTransport piped into StreamableHTTPClientTransport per client (SDK)
//   raw floor — the smallest bridge on bare node:http + undici, no checks (./legacy-raw-floor.mjs)
// all in front of the same minimal upstream (bench/legacy-upstream.mjs), each server in its own process.
// Reports p50/p99 per tools/call at 1 client, throughput at 20 and 50 clients, and RSS per idle legacy
// session at 1,000 sessions (each with its upstream GET stream open).
//
// Usage: npm run build && node bench/legacy.mjs [--seconds 3] [--calls 2000] [--latency-rounds 3]
//        [--best-of 4] [--idle 1000] [--idle-only]   (about 3 minutes with the defaults)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { cpuSeconds } from './cpu.mjs';
import { openDirect, openLegacy } from './legacy-client.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const SECONDS = arg('seconds', 3);
/** Rounds of alternating 2 s windows at 20 clients for the best-of figures (interference only ever adds). */
const BEST_OF = arg('best-of', 4);
const IDLE = arg('idle', 1000);
const LATENCY_CALLS = arg('calls', 2000);
/** Rounds of latency measurement, every path in each (see loadRuns). */
const LATENCY_ROUNDS = arg('latency-rounds', 3);
const IDLE_ONLY = process.argv.includes('--idle-only');
const IDLE_SETTLE_MS = 6_000;

const children = new Set();
// Never leave servers behind, whatever ends the run.
process.on('exit', () => {
  for (const proc of children) proc.kill('SIGKILL');
});
process.on('uncaughtException', (err) => {
  console.error(err);
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  console.error(err);
  process.exit(1);
});

function child(script, args = [], nodeArgs = []) {
  const proc = spawn(process.execPath, [...nodeArgs, new URL(script, import.meta.url).pathname, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const lines = createInterface({ input: proc.stdout });
  const waiters = [];
  lines.on('line', (line) => {
    const i = waiters.findIndex((w) => line.startsWith(w.prefix));
    if (i !== -1) waiters.splice(i, 1)[0].resolve(line.split(' ').slice(1));
  });
  const next = (prefix) => new Promise((resolve) => waiters.push({ prefix, resolve }));
  return {
    pid: proc.pid,
    ready: next('ready'),
    ask: (command, prefix) => {
      const answer = next(prefix);
      proc.stdin.write(`${command}\n`);
      return answer;
    },
    stop: async () => {
      proc.kill('SIGTERM');
      if (proc.exitCode === null) await once(proc, 'exit');
    },
  };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const round = (n, d = 3) => Number(n.toFixed(d));

async function latency(open) {
  const session = await open();
  for (let i = 0; i < 500; i++) await session.call();
  const samples = [];
  for (let i = 0; i < LATENCY_CALLS; i++) samples.push(await session.call());
  session.close();
  samples.sort((a, b) => a - b);
  return { p50: round(percentile(samples, 50)), p99: round(percentile(samples, 99)) };
}

/** Calls/s with `clients` concurrent sessions, and the CPU µs per call of the processes in `pids`. */
async function throughput(open, clients, pids, seconds = SECONDS) {
  const sessions = await Promise.all(Array.from({ length: clients }, () => open()));
  const loop = async (session, until, counter) => {
    while (performance.now() < until) {
      await session.call();
      counter.n++;
    }
  };
  await Promise.all(sessions.map((s) => loop(s, performance.now() + 1000, { n: 0 })));
  const counter = { n: 0 };
  const cpu0 = cpuSeconds(pids);
  const start = performance.now();
  await Promise.all(sessions.map((s) => loop(s, start + seconds * 1000, counter)));
  const rps = counter.n / ((performance.now() - start) / 1000);
  const cpu = cpu0 === undefined ? undefined : Math.round(((cpuSeconds(pids) - cpu0) * 1e6) / counter.n);
  for (const s of sessions) s.close();
  return { rps: Math.round(rps), cpu };
}

/**
 * RSS per idle legacy session: a fresh upstream and a fresh bridge process (so the heap the load runs
 * grew does not hide the sessions' cost), one warm-up session, then `IDLE` sessions each with its
 * upstream GET stream open and no traffic, RSS after a full GC on both sides of the opening.
 */
async function idleRss(script, argsFor, openFor) {
  const upstream = child('./legacy-upstream.mjs');
  const [port] = await upstream.ready;
  // The young generation pinned at its usual grown size: left to grow, its one-time growth under the
  // opening burst (tens of MiB) would be billed to the sessions.
  const server = child(script, argsFor(`http://127.0.0.1:${port}/mcp`), [
    '--expose-gc',
    '--min-semi-space-size=16',
    '--max-semi-space-size=16',
  ]);
  const open = openFor(await server.ready);
  const streams = async () => Number((await upstream.ask('streams', 'streams'))[0]);
  const openAll = async () => {
    const sessions = [];
    for (let i = 0; i < IDLE; i += 50) {
      sessions.push(...(await Promise.all(Array.from({ length: Math.min(50, IDLE - i) }, () => open()))));
    }
    // Each bridged session holds one upstream GET stream: wait until all are open.
    while ((await streams()) < IDLE) await new Promise((r) => setTimeout(r, 20));
    return sessions;
  };
  const warm = await open();
  warm.close();
  while ((await streams()) > 0) await new Promise((r) => setTimeout(r, 20));
  const beforeAll = await server.ask('rss', 'rss');
  const before = Number(beforeAll[0]);
  const sessions = await openAll();
  // Idle means no traffic: the clients' POST connections go, and the bridge's pooled upstream POST
  // connections reach their keep-alive timeout (4-5 s), leaving each session its SSE stream and its
  // upstream GET stream.
  for (const s of sessions) s.closePoster();
  await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
  const afterAll = await server.ask('rss', 'rss');
  const after = Number(afterAll[0]);
  const delta = (key) => {
    const i = afterAll.indexOf(key);
    return i === -1
      ? undefined
      : round((Number(afterAll[i + 1]) - Number(beforeAll[i + 1])) / IDLE / 1024, 1);
  };
  for (const s of sessions) s.close();
  await server.stop();
  await upstream.stop();
  return {
    before,
    after,
    perSessionKiB: round((after - before) / IDLE / 1024, 1),
    heapKiB: delta('heap'),
    externalKiB: delta('external'),
  };
}

const progress = (text) => process.stderr.write(`[legacy bench] ${text}\n`);

/** Latency at 1 client, then throughput at 20 and 50, every path in turn, all against one upstream. */
async function loadRuns() {
  const upstream = child('./legacy-upstream.mjs');
  const [upstreamPort] = await upstream.ready;
  const upstreamOrigin = `http://127.0.0.1:${upstreamPort}`;
  const upstreamUrl = `${upstreamOrigin}/mcp`;
  // BENCH_NODE_ARGS (e.g. `--cpu-prof`) go to the gateway's process only, as in bench/passthrough.mjs.
  const gatewayArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const gateway = child('./legacy-gateway.mjs', [upstreamUrl], ['--expose-gc', ...gatewayArgs]);
  const naive = child('./legacy-naive.mjs', [upstreamUrl], ['--expose-gc']);
  const floor = child('./legacy-raw-floor.mjs', [upstreamUrl]);
  const [gatewayUrl, token] = await gateway.ready;
  const [naivePort] = await naive.ready;
  const [floorPort] = await floor.ready;
  const paths = {
    direct: { open: () => openDirect({ origin: upstreamOrigin, path: '/mcp' }), pid: upstream.pid },
    gateway: {
      open: () => openLegacy({ origin: gatewayUrl, ssePath: '/brains/b/sse', token }),
      pid: gateway.pid,
    },
    naive: {
      open: () => openLegacy({ origin: `http://127.0.0.1:${naivePort}`, ssePath: '/sse' }),
      pid: naive.pid,
    },
    'raw floor': {
      open: () => openLegacy({ origin: `http://127.0.0.1:${floorPort}`, ssePath: '/sse' }),
      pid: floor.pid,
    },
  };
  const results = {};
  // Latency in rounds, the paths in turn within each (the machine drifts over a run): the table shows
  // each path's median round, and the added p50 is the median of the rounds' gateway − direct.
  const rounds = Object.fromEntries(Object.keys(paths).map((name) => [name, []]));
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    for (const [name, { open }] of Object.entries(paths)) {
      rounds[name].push(await latency(open));
      progress(`${name} latency round ${round + 1}: ${JSON.stringify(rounds[name].at(-1))}`);
    }
  }
  const middle = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  for (const name of Object.keys(paths)) {
    results[name] = {
      latency: {
        p50: middle(rounds[name].map((l) => l.p50)),
        p99: middle(rounds[name].map((l) => l.p99)),
      },
    };
  }
  const added = (name) => round(middle(rounds[name].map((l, i) => l.p50 - rounds.direct[i].p50)));
  results.addedP50 = { gateway: added('gateway'), naive: added('naive'), 'raw floor': added('raw floor') };
  for (const clients of [20, 50]) {
    for (const [name, { open, pid }] of Object.entries(paths)) {
      const { rps, cpu } = await throughput(open, clients, [pid]);
      results[name][`rps${clients}`] = rps;
      results[name][`cpu${clients}`] = cpu;
      progress(
        `${name} @${clients}: ${rps} calls/s, ${cpu} µs CPU per call (${name === 'direct' ? 'upstream' : name})`,
      );
    }
  }
  // Best of: the three paths in turn, 2 s windows at 20 clients, lowest CPU and highest calls/s kept.
  for (const name of Object.keys(paths)) results[name].best = { cpu20: Infinity, rps20: 0 };
  for (let round = 0; round < BEST_OF; round++) {
    for (const [name, { open, pid }] of Object.entries(paths)) {
      const { rps, cpu } = await throughput(open, 20, [pid], 2);
      const best = results[name].best;
      best.cpu20 = Math.min(best.cpu20, cpu ?? Infinity);
      best.rps20 = Math.max(best.rps20, rps);
    }
  }
  progress(
    `best of ${BEST_OF}: ${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.best])))}`,
  );
  await gateway.stop();
  await naive.stop();
  await floor.stop();
  await upstream.stop();
  return results;
}

const results = IDLE_ONLY ? undefined : await loadRuns();
const gatewayIdle = await idleRss(
  './legacy-gateway.mjs',
  (url) => [url],
  ([url, tok]) =>
    () =>
      openLegacy({ origin: url, ssePath: '/brains/b/sse', token: tok }),
);
progress(`gateway idle ${JSON.stringify(gatewayIdle)}`);
const naiveIdle = await idleRss(
  './legacy-naive.mjs',
  (url) => [url],
  ([port]) =>
    () =>
      openLegacy({ origin: `http://127.0.0.1:${port}`, ssePath: '/sse' }),
);
progress(`naive idle ${JSON.stringify(naiveIdle)}`);

const mib = (bytes) => round(bytes / 2 ** 20, 1);
if (results) {
  const r = results;
  console.log(
    '\n| path | p50 ms (1 client) | p99 ms | calls/s @20 | calls/s @50 | CPU µs/call @20 (server) |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const name of ['direct', 'gateway', 'naive', 'raw floor']) {
    const x = r[name];
    console.log(`| ${name} | ${x.latency.p50} | ${x.latency.p99} | ${x.rps20} | ${x.rps50} | ${x.cpu20} |`);
  }
  console.log(
    `\nadded p50 over direct (median of ${LATENCY_ROUNDS} rounds): gateway ${r.addedP50.gateway} ms (target ≤ 0.3), raw floor ${r.addedP50['raw floor']} ms, naive ${r.addedP50.naive} ms`,
  );
  console.log(
    `gateway / naive throughput @20: ${round(r.gateway.rps20 / r.naive.rps20, 1)}× (target ≥ 5×); @50: ${round(r.gateway.rps50 / r.naive.rps50, 1)}×`,
  );
  console.log(`naive / gateway CPU per call @20: ${round(r.naive.cpu20 / r.gateway.cpu20, 1)}×`);
  const b = (name) => r[name].best;
  console.log(
    `best of ${BEST_OF} (20 clients, 2 s windows): CPU µs/call direct-upstream ${b('direct').cpu20}, gateway ${b('gateway').cpu20}, naive ${b('naive').cpu20}; calls/s direct ${b('direct').rps20}, gateway ${b('gateway').rps20}, naive ${b('naive').rps20} → gateway/naive ${round(b('gateway').rps20 / b('naive').rps20, 1)}× calls/s, ${round(b('naive').cpu20 / b('gateway').cpu20, 1)}× less CPU`,
  );
}
for (const [name, idle] of [
  ['gateway', gatewayIdle],
  ['naive', naiveIdle],
]) {
  console.log(
    `idle ${name}: ${IDLE} sessions ${mib(idle.before)} → ${mib(idle.after)} MiB RSS = ${idle.perSessionKiB} KiB/session (heap ${idle.heapKiB ?? '?'} KiB, external ${idle.externalKiB ?? '?'} KiB)`,
  );
}
console.log(
  JSON.stringify({ results, gatewayIdle, naiveIdle, seconds: SECONDS, calls: LATENCY_CALLS, idle: IDLE }),
);
