// Pass-through benchmark (issue 3): one tools/call per request through (a) nothing — the upstream
// directly, (b) a bare nginx hop, (c) the gateway built in dist/ — in one run, same client, same upstream;
// plus (d) the smallest Node hop on the gateway's stack (./node-floor.mjs) and (e) the smallest Node hop
// at all (./raw-floor.mjs, bare node:http), to tell the runtime's cost from the gateway's.
// Reports p50/p99 at 1 client and throughput at 20 and 50 concurrent clients, as a Markdown table.
//
//   npm run build && node bench/passthrough.mjs [--seconds 3]   (about 90 s)
//
// Every server is a child process on 127.0.0.1, stopped by pid at the end.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, withChildren } from './cpu.mjs';
import { drive, percentile } from './load.mjs';
import { startNginx, waitForPort } from './nginx.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 3;
const ADMIN = 'bench-admin-token-0123456789';
const children = [];
/** Stopped at the end whatever happens (nginx is not our direct child's child, so it needs its own stop). */
const cleanups = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startChild(args, env, port) {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  await waitForPort(port, () => child.exitCode !== null && new Error(`${args[0]} exited: ${stderr}`));
  return child;
}

async function admin(base, method, path, body) {
  const res = await fetch(`${base}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function main() {
  const upstreamPort = await freePort();
  const upstream = await startChild(['bench/upstream.mjs', String(upstreamPort)], {}, upstreamPort);
  const direct = `http://127.0.0.1:${upstreamPort}/mcp`;

  const gatewayPort = await freePort();
  const gatewayEnv = {
    PORT: String(gatewayPort),
    HOST: '127.0.0.1',
    MCPGATE_ADMIN_TOKEN: ADMIN,
    LOG_LEVEL: 'warn',
  };
  delete process.env.DATABASE_URL;
  const gateway = await startChild(
    [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), 'dist/cli.js', 'serve'],
    gatewayEnv,
    gatewayPort,
  );
  const gatewayBase = `http://127.0.0.1:${gatewayPort}`;
  await admin(gatewayBase, 'POST', '/orgs', { slug: 'bench' });
  await admin(gatewayBase, 'POST', '/orgs/bench/brains', {
    id: 'bench',
    upstreamUrl: direct,
    upstreamHeaders: { 'x-upstream-key': 'bench-secret' },
  });
  await admin(gatewayBase, 'POST', '/orgs/bench/brains', {
    id: 'bench-sse',
    upstreamUrl: `${direct}?sse`,
    upstreamHeaders: { 'x-upstream-key': 'bench-secret' },
  });
  const { token } = await admin(gatewayBase, 'POST', '/orgs/bench/tokens', {});

  const nginx = await startNginx({ port: await freePort(), upstreamPort });
  if (nginx) cleanups.push(() => nginx.stop());
  const floorPort = await freePort();
  const floor = await startChild(['bench/node-floor.mjs', String(floorPort), direct], {}, floorPort);
  const rawPort = await freePort();
  const raw = await startChild(['bench/raw-floor.mjs', String(rawPort), direct], {}, rawPort);
  // The hop's own processes, whose CPU per request is reported next to the timings. Each hop is driven
  // twice: the upstream answering JSON, and answering with a one-event SSE stream (the SDK default).
  const hops = [
    ['direct', direct, []],
    ...(nginx ? [['nginx hop', nginx.url, withChildren(nginx.pid)]] : []),
  ];
  const targets = [
    ...hops.map(([name, url, pids]) => [name, url, pids, 'JSON']),
    ['raw node floor', `http://127.0.0.1:${rawPort}/mcp`, [raw.pid], 'JSON'],
    ['node floor', `http://127.0.0.1:${floorPort}/mcp`, [floor.pid], 'JSON'],
    ['mcpgate', `${gatewayBase}/brains/bench/mcp`, [gateway.pid], 'JSON'],
    ...hops.map(([name, url, pids]) => [name, `${url}?sse`, pids, 'SSE']),
    ['mcpgate', `${gatewayBase}/brains/bench-sse/mcp`, [gateway.pid], 'SSE'],
  ];
  const key = (name, shape) => `${name} (${shape})`;

  // CPU per request of the hop, the upstream and this load client, over the measured window only.
  const measure = async (url, hop, clients) => {
    const cpu = {};
    const onMeasure = () => {
      const before = {
        hop: cpuSeconds(hop),
        upstream: cpuSeconds([upstream.pid]),
        client: process.cpuUsage(),
      };
      return (requests) => {
        const per = (seconds) =>
          seconds === undefined || Number.isNaN(seconds) ? undefined : (seconds * 1e6) / requests;
        const client = process.cpuUsage(before.client);
        cpu.hop = hop.length ? per(cpuSeconds(hop) - before.hop) : 0;
        cpu.upstream = per(cpuSeconds([upstream.pid]) - before.upstream);
        cpu.client = per((client.user + client.system) / 1e6);
      };
    };
    const result = await drive({ url, token, clients, seconds: SECONDS, onMeasure });
    return { ...result, cpu };
  };

  // Single-client latency drifts with the machine (CPU frequency, neighbours), so the targets take
  // turns in short rounds and each one's samples are pooled, rather than each measured in one block.
  const ROUNDS = 4;
  const pooled = Object.fromEntries(targets.map(([name, , , shape]) => [key(name, shape), []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, url, , shape] of targets) {
      const seconds = SECONDS / ROUNDS;
      const r = await drive({ url, token, clients: 1, seconds, warmupSeconds: round ? 0.2 : 1 });
      pooled[key(name, shape)].push(...r.samples);
    }
  }
  const results = {};
  for (const [name, url, hop, shape] of targets) {
    const samples = pooled[key(name, shape)].sort((a, b) => a - b);
    const one = { p50: percentile(samples, 50), p99: percentile(samples, 99) };
    const c20 = await measure(url, hop, 20);
    const c50 = await measure(url, hop, 50);
    results[key(name, shape)] = { one, c20, c50 };
    process.stderr.write(`${key(name, shape)}: done\n`);
  }

  const ms = (v) => v.toFixed(3);
  const us = (v) => (v === undefined ? 'n/a' : String(Math.round(v)));
  const rows = [
    '| upstream answers | target | p50 1 client (ms) | p99 1 client (ms) | added p50 (ms) | req/s @20 | × direct @20 | req/s @50 | × direct @50 | p50 @50 (ms) | hop CPU µs/req @20 |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, , , shape] of targets) {
    const r = results[key(name, shape)];
    const base = results[key('direct', shape)];
    rows.push(
      `| ${shape} | ${name} | ${ms(r.one.p50)} | ${ms(r.one.p99)} | ${name === 'direct' ? '—' : ms(r.one.p50 - base.one.p50)} | ` +
        `${Math.round(r.c20.rps)} | ${(r.c20.rps / base.c20.rps).toFixed(2)} | ${Math.round(r.c50.rps)} | ` +
        `${(r.c50.rps / base.c50.rps).toFixed(2)} | ${ms(r.c50.p50)} | ${us(r.c20.cpu.hop)} |`,
    );
  }
  const machine =
    `node ${process.version}, ${availableParallelism()} CPUs (nproc); 1 client: ${SECONDS} s per target in ` +
    `${ROUNDS} interleaved rounds; 20/50 clients: ${SECONDS} s each after 1 s warm-up`;
  const cpu = results[key('direct', 'JSON')].c20.cpu;
  process.stdout.write(`${machine}\n\n${rows.join('\n')}\n`);
  process.stdout.write(
    `\nCPU per request @20 clients (µs): upstream ${us(cpu.upstream)}, load client ${us(cpu.client)} (direct run).\n`,
  );
  if (!nginx) process.stdout.write('\nnginx not installed: the nginx hop was skipped.\n');
}

try {
  await main();
} finally {
  for (const cleanup of cleanups) await cleanup();
  for (const child of children) {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
}
