/**
 * Several real gateway processes on one Postgres behind a load balancer that knows nothing about MCP
 * (issue 5 "Tests"): three `node cli.js serve` instances behind a round-robin proxy, server-everything
 * upstream, SDK v1 SSE and Streamable HTTP clients, and one translated session of each (issue 6: a
 * 2026-07-28-only SDK v2 upstream). Then the fly-replay path through a stand-in for Fly's proxy.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrations } from '../../src/store/migrate.js';
import { buildCli } from '../helpers/cli-build.js';
import { type EverythingServer, freePort, startEverything } from '../helpers/everything.js';
import { type FlyProxy, startFlyProxy } from '../helpers/fly-proxy.js';
import {
  clusterToolsAvailable,
  createTestDatabase,
  describePostgres,
  type RestartableCluster,
  startRestartableCluster,
  type TestDatabase,
  withDatabase,
} from '../helpers/postgres.js';
import { type RoundRobinProxy, startRoundRobinProxy } from '../helpers/round-robin-proxy.js';
import { startV2Server, type V2Server } from '../helpers/v2-server.js';

const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const MCPGATE_SECRET = randomBytes(32).toString('base64');
const TTL_MS = 3_000;

interface Instance {
  child: ChildProcessWithoutNullStreams;
  url: string;
  id: string;
  machineId: string | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Stops every gateway process still running (by pid, at the end of a suite). */
function killAll(instances: Instance[]): void {
  for (const i of instances)
    if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGKILL');
}

async function serve(
  cli: string,
  databaseUrl: string,
  machineId?: string,
  extraEnv: Record<string, string> = {},
): Promise<Instance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    MCPGATE_SECRET,
    MCPGATE_INSTANCE_URL: url,
    MCPGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    MCPGATE_HEARTBEAT_MS: '500',
    MCPGATE_INSTANCE_TTL_MS: String(TTL_MS),
    MCPGATE_DRAIN_TIMEOUT_MS: '10000',
    LOG_LEVEL: 'info',
  };
  if (machineId) env.FLY_MACHINE_ID = machineId;
  Object.assign(env, extraEnv);
  const child = spawn(process.execPath, [cli, 'serve'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  let buffered = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const id = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as { msg?: string; instanceId?: string };
          if (parsed.msg === 'gateway listening') resolve(String(parsed.instanceId));
        } catch {}
      }
    });
    void exited.then(({ code }) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
  });
  return { child, url, id, machineId, exited };
}

const text = (result: unknown) =>
  ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n');

const admin = (base: string, method: string, path: string, body?: unknown) =>
  fetch(`${base}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function provision(base: string, upstreamUrl: string): Promise<void> {
  expect((await admin(base, 'POST', '/orgs', { slug: 'acme' })).status).toBe(201);
  expect((await admin(base, 'POST', '/orgs/acme/brains', { id: 'ev', upstreamUrl })).status).toBe(201);
}

async function newToken(base: string): Promise<{ token: string; id: string }> {
  const res = await admin(base, 'POST', '/orgs/acme/tokens', {});
  return (await res.json()) as { token: string; id: string };
}

async function legacyClient(base: string, token: string) {
  const transport = new SSEClientTransport(new URL(`${base}/brains/ev/sse`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'e2e-legacy', version: '1' });
  const logs: unknown[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params.data);
  });
  await client.connect(transport);
  return { client, transport, logs };
}

/** The instance holding the client's (only) legacy session. */
async function ownerOf(base: string, instances: Instance[]): Promise<Instance> {
  const res = await admin(base, 'GET', '/sessions?brain=ev');
  const sessions = (await res.json()) as Array<{ kind: string; ownerInstance: string }>;
  const legacy = sessions.filter((s) => s.kind === 'legacy');
  expect(legacy).toHaveLength(1);
  return instances.find((i) => i.id === legacy[0]!.ownerInstance)!;
}

/** Where the SSE transport POSTs: replaced when its EventSource reconnects (a new legacy session). */
const endpointOf = (transport: SSEClientTransport) =>
  (transport as unknown as { _endpoint?: URL })._endpoint?.href;

const waitUntil = async (check: () => Promise<boolean>, ms: number) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
};

describePostgres('three gateway processes behind a round-robin balancer (real processes)', () => {
  let cli: string;
  let db: TestDatabase;
  let everything: EverythingServer;
  let modern: V2Server;
  let instances: Instance[] = [];
  let proxy: RoundRobinProxy;
  let token: string;

  beforeAll(async () => {
    [cli, db, everything, modern] = await Promise.all([
      buildCli(),
      createTestDatabase(),
      startEverything(),
      startV2Server(),
    ]);
    instances = await Promise.all([0, 1, 2].map(() => serve(cli, db.url)));
    // Like Fly's proxy with a failing check, the balancer skips an instance whose /readyz is not 200.
    proxy = await startRoundRobinProxy({
      targets: instances.map((i) => ({ url: i.url })),
      readyPath: '/readyz',
    });
    await provision(proxy.url, everything.url);
    const brain = { id: 'modern', upstreamUrl: modern.url };
    expect((await admin(proxy.url, 'POST', '/orgs/acme/brains', brain)).status).toBe(201);
    ({ token } = await newToken(proxy.url));
  }, 180_000);

  afterAll(async () => {
    killAll(instances);
    await proxy?.close();
    await everything?.stop();
    await modern?.close();
    await db?.drop();
  });

  it('answers 200 calls of a legacy client whose POSTs land on all three instances; pushes arrive', async () => {
    const { client, logs } = await legacyClient(proxy.url, token);
    await client.setLoggingLevel('debug');
    const before = proxy.log.length;
    for (let i = 0; i < 200; i++) {
      expect(text(await client.callTool({ name: 'echo', arguments: { message: `m${i}` } }))).toBe(
        `Echo: m${i}`,
      );
    }
    const posts = proxy.log.slice(before).filter((l) => l.method === 'POST' && l.path.includes('/messages'));
    expect(new Set(posts.map((p) => p.target)).size).toBe(3);
    expect(posts.every((p) => p.status === 202)).toBe(true);
    // Pushes: progress notifications of a long-running operation.
    const progress: number[] = [];
    await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(progress.length).toBeGreaterThanOrEqual(1);
    // Admin notify sent to an instance that does not hold the session: delivered through the owner, counted.
    const owner = await ownerOf(proxy.url, instances);
    const elsewhere = instances.find((i) => i !== owner)!;
    const notified = await admin(elsewhere.url, 'POST', '/brains/ev/notify', {
      level: 'info',
      data: 'hello all',
    });
    expect(notified.status).toBe(200);
    expect(await notified.json()).toEqual({ delivered: 1 });
    expect(await waitUntil(async () => logs.includes('hello all'), 2_000)).toBe(true);
    await client.close();
  }, 120_000);

  it('serves a Streamable HTTP session through every instance; its token binding holds everywhere', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${proxy.url}/brains/ev/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const client = new Client({ name: 'e2e-modern', version: '1' });
    await client.connect(transport);
    for (let i = 0; i < 9; i++) {
      expect(text(await client.callTool({ name: 'echo', arguments: { message: `s${i}` } }))).toBe(
        `Echo: s${i}`,
      );
    }
    const sessionId = transport.sessionId!;
    const { token: another } = await newToken(proxy.url);
    for (const instance of instances) {
      const res = await fetch(`${instance.url}/brains/ev/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${another}`,
          'mcp-session-id': sessionId,
          'mcp-protocol-version': '2025-06-18',
          accept: 'application/json, text/event-stream',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(res.status).toBe(404);
      await res.body?.cancel();
    }
    await client.close();
  }, 60_000);

  it('translates for v1 clients of a 2026-07-28-only upstream; elicitation answers cross instances', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${proxy.url}/brains/modern/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const legacyTransport = new SSEClientTransport(new URL(`${proxy.url}/brains/modern/sse`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const clients = [transport, legacyTransport].map((t) => {
      const name = t === transport ? 'e2e-translated' : 'e2e-translated-legacy';
      const client = new Client({ name, version: '1' }, { capabilities: { elicitation: {} } });
      client.setRequestHandler(ElicitRequestSchema, async () => ({
        action: 'accept',
        content: { ok: true },
      }));
      return client;
    });
    const [client, legacy] = clients as [Client, Client];
    await client.connect(transport);
    expect(transport.sessionId).toMatch(/^t-/);
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe('echo: hi');
    const before = proxy.log.length;
    for (const env of ['one', 'two', 'three']) {
      // A lost answer would leave the call waiting: fail on that, not on the test's timeout.
      const confirmed = await client.callTool({ name: 'confirm', arguments: { env } }, undefined, {
        timeout: 10_000,
      });
      expect(text(confirmed)).toBe(`confirmed=true env=${env}`);
    }
    // Each call's stream (200) is held by one instance; its answer POST (202) went to another. The last
    // 202 can reach the balancer's log after the call's result reached the client: wait for it.
    const logged = () =>
      proxy.log.slice(before).filter((l) => l.method === 'POST' && l.path.startsWith('/brains/modern/mcp'));
    await expect.poll(() => logged().length).toBe(6);
    const posts = logged();
    const streams = posts.filter((p) => p.status === 200);
    const answers = posts.filter((p) => p.status === 202);
    expect([streams.length, answers.length]).toEqual([3, 3]);
    for (let i = 0; i < 3; i++) expect(answers[i]!.target).not.toBe(streams[i]!.target);
    expect(new Set(posts.map((p) => p.target)).size).toBe(3);

    // The legacy face: the SSE stream on one instance, its POSTs (the answer included) on all three.
    const legacyBefore = proxy.log.length;
    await legacy.connect(legacyTransport);
    expect(text(await legacy.callTool({ name: 'echo', arguments: { message: 'old' } }))).toBe('echo: old');
    expect(text(await legacy.callTool({ name: 'confirm', arguments: { env: 'sse' } }))).toBe(
      'confirmed=true env=sse',
    );
    const messages = proxy.log.slice(legacyBefore).filter((l) => l.path.includes('/messages'));
    expect(messages.every((l) => l.status === 202)).toBe(true);
    expect(new Set(messages.map((l) => l.target)).size).toBe(3);
    await transport.terminateSession();
    await Promise.all(clients.map((c) => c.close()));
  }, 30_000);

  it('refuses a revoked token on all three instances within 2 s', async () => {
    const doomed = await newToken(proxy.url);
    const initialize = (base: string) =>
      fetch(`${base}/brains/ev/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${doomed.token}`,
          accept: 'application/json, text/event-stream',
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'x', version: '1' },
          },
        }),
      });
    // Every instance has the token cached before the revocation.
    for (const i of instances) {
      const res = await initialize(i.url);
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
    const revokedAt = Date.now();
    expect((await admin(instances[0]!.url, 'DELETE', `/tokens/${doomed.id}`)).status).toBeLessThan(300);
    for (const i of instances) {
      const refused = await waitUntil(
        async () => {
          const res = await initialize(i.url);
          await res.body?.cancel();
          return res.status === 401;
        },
        2_000 - (Date.now() - revokedAt),
      );
      expect(refused).toBe(true);
    }
    expect(Date.now() - revokedAt).toBeLessThan(2_000);
  }, 30_000);

  it('SIGTERM of the owner mid-conversation: calls accepted before it complete; the same client reconnects and carries on', async () => {
    const first = await legacyClient(proxy.url, token);
    await first.client.callTool({ name: 'echo', arguments: { message: 'before' } });
    const owner = await ownerOf(proxy.url, instances);
    const endpointBefore = endpointOf(first.transport);
    const before = proxy.log.length;
    // A slow call and a few quick ones, all accepted (202) before the SIGTERM.
    const slow = first.client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } },
      undefined,
      { timeout: 20_000 },
    );
    const quick = [0, 1, 2].map((i) =>
      first.client.callTool({ name: 'echo', arguments: { message: `q${i}` } }),
    );
    const posted = () =>
      proxy.log.slice(before).filter((l) => l.method === 'POST' && l.status === 202).length;
    expect(await waitUntil(async () => posted() === 4, 2_000)).toBe(true);
    owner.child.kill('SIGTERM');
    // While the owner drains (/readyz 503, no new streams), a new client is served by the others.
    await new Promise((r) => setTimeout(r, 300));
    const late = await legacyClient(proxy.url, token);
    expect(text(await late.client.callTool({ name: 'echo', arguments: { message: 'late' } }))).toBe(
      'Echo: late',
    );
    expect(text(await slow)).toMatch(/Long running operation completed/i);
    expect((await Promise.all(quick)).map(text)).toEqual(['Echo: q0', 'Echo: q1', 'Echo: q2']);
    expect((await owner.exited).code).toBe(0);
    instances = instances.filter((i) => i !== owner);
    // The stream closed with the owner. The client's EventSource reconnects by itself after the `retry:`
    // the gateway sent (1 s) with a new GET /sse, which the balancer sends to a live instance (the
    // drained one no longer listens); the new endpoint replaces the old one, with no new initialize (the
    // bridge re-initializes upstream with the token's last initialize). The very same Client carries on.
    expect(await waitUntil(async () => endpointOf(first.transport) !== endpointBefore, 10_000)).toBe(true);
    for (let i = 0; i < 6; i++) {
      expect(text(await first.client.callTool({ name: 'echo', arguments: { message: `after${i}` } }))).toBe(
        `Echo: after${i}`,
      );
    }
    const reconnects = proxy.log.slice(before).filter((l) => l.method === 'GET' && l.path.includes('/sse'));
    expect(reconnects.map((l) => l.status)).toEqual([200, 200]);
    expect(reconnects.every((l) => l.target !== owner.url)).toBe(true);
    await late.client.close();
    await first.client.close();
  }, 60_000);

  it('kill -9 of the owner: the same client reconnects and carries on; the dead instance’s sessions are reaped', async () => {
    const first = await legacyClient(proxy.url, token);
    for (let i = 0; i < 4; i++)
      await first.client.callTool({ name: 'echo', arguments: { message: `k${i}` } });
    const owner = await ownerOf(proxy.url, instances);
    const endpointBefore = endpointOf(first.transport);
    owner.child.kill('SIGKILL');
    await owner.exited;
    const killedAt = Date.now();
    // The client's stream dropped with the process; its EventSource reconnects through the balancer, which
    // skips the dead instance (connection refused), and the same client's next call succeeds.
    expect(await waitUntil(async () => endpointOf(first.transport) !== endpointBefore, 10_000)).toBe(true);
    for (let i = 0; i < 6; i++) {
      expect(text(await first.client.callTool({ name: 'echo', arguments: { message: `back${i}` } }))).toBe(
        `Echo: back${i}`,
      );
    }
    const survivor = instances.find((i) => i !== owner)!;
    const reaped = await waitUntil(async () => {
      const res = await admin(survivor.url, 'GET', '/sessions?brain=ev');
      const sessions = (await res.json()) as Array<{ kind: string; ownerInstance: string }>;
      // Pass-through sessions belong to the upstream and the token, not to an instance: never reaped.
      return sessions.filter((s) => s.kind === 'legacy').every((s) => s.ownerInstance !== owner.id);
    }, 30_000);
    expect(reaped).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    instances = instances.filter((i) => i !== owner);
    await first.client.close();
  }, 60_000);
});

describePostgres('fly-replay through a stand-in for Fly’s proxy (real processes)', () => {
  let db: TestDatabase;
  let everything: EverythingServer;
  let instances: Instance[] = [];
  let proxy: FlyProxy;
  let token: string;

  beforeAll(async () => {
    const [cli, database, upstream] = await Promise.all([
      buildCli(),
      createTestDatabase(),
      startEverything(),
    ]);
    db = database;
    everything = upstream;
    instances = await Promise.all(
      ['0e286039f42e86', '148e21ea7e6089', '3d8d9e1a9f2718'].map((m) => serve(cli, db.url, m)),
    );
    proxy = await startFlyProxy(instances.map((i) => ({ url: i.url, machineId: i.machineId! })));
    await provision(proxy.url, everything.url);
    ({ token } = await newToken(proxy.url));
  }, 180_000);

  afterAll(async () => {
    killAll(instances);
    await proxy?.close();
    await everything?.stop();
    await db?.drop();
  });

  it('replays POSTs that land on a non-owner to the owner Machine; every call is answered', async () => {
    const { client } = await legacyClient(proxy.url, token);
    for (let i = 0; i < 30; i++) {
      expect(text(await client.callTool({ name: 'echo', arguments: { message: `f${i}` } }))).toBe(
        `Echo: f${i}`,
      );
    }
    const owner = await ownerOf(proxy.url, instances);
    expect(proxy.replays.length).toBeGreaterThanOrEqual(10);
    expect(proxy.replays.every((r) => r.ok && r.to === owner.machineId)).toBe(true);
    await client.close();
  }, 60_000);
});

describe.skipIf(!clusterToolsAvailable())(
  '[postgres] Postgres stopped and restarted under three gateway processes (real processes)',
  () => {
    let cluster: RestartableCluster;
    let everything: EverythingServer;
    let instances: Instance[] = [];
    let proxy: RoundRobinProxy;

    beforeAll(async () => {
      const [cli, dedicated, upstream] = await Promise.all([
        buildCli(),
        startRestartableCluster(),
        startEverything(),
      ]);
      cluster = dedicated;
      everything = upstream;
      const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
      await sql`create database mcpgate`;
      await sql.end();
      const url = withDatabase(cluster.url, 'mcpgate');
      await runMigrations({ url });
      // Cached tokens and brains outlive the outage; a store call fails within 1 s while it lasts.
      const extra = { MCPGATE_AUTH_CACHE_MS: '60000', DATABASE_QUERY_TIMEOUT_MS: '1000' };
      instances = await Promise.all([0, 1, 2].map(() => serve(cli, url, undefined, extra)));
      proxy = await startRoundRobinProxy({
        targets: instances.map((i) => ({ url: i.url })),
        readyPath: '/readyz',
      });
      await provision(proxy.url, everything.url);
    }, 180_000);

    afterAll(async () => {
      killAll(instances);
      await proxy?.close();
      await everything?.stop();
      await cluster?.stop();
    });

    it('established sessions keep serving, /readyz is 503 on all three, store-bound requests get 503; all recovers', async () => {
      const { token } = await newToken(proxy.url);
      const { token: unseen } = await newToken(proxy.url);
      const legacy = await legacyClient(proxy.url, token);
      const modern = new Client({ name: 'e2e-modern', version: '1' });
      await modern.connect(
        new StreamableHTTPClientTransport(new URL(`${proxy.url}/brains/ev/mcp`), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      // Every instance has seen both sessions (owner, token, brain, binding cached).
      for (let i = 0; i < 6; i++) {
        await legacy.client.callTool({ name: 'echo', arguments: { message: `w${i}` } });
        await modern.callTool({ name: 'echo', arguments: { message: `w${i}` } });
      }

      await cluster.pause();
      const downAt = Date.now();
      for (const i of instances) {
        const notReady = await waitUntil(async () => {
          const res = await fetch(`${i.url}/readyz`);
          await res.body?.cancel();
          return res.status === 503;
        }, 3_000);
        expect(notReady).toBe(true);
      }
      // A token no instance has seen needs the store: a clear 503 from whichever instance gets it.
      const refused = await fetch(`${proxy.url}/brains/ev/sse`, {
        headers: { authorization: `Bearer ${unseen}`, accept: 'text/event-stream' },
      });
      expect(refused.status).toBe(503);
      expect(await refused.text()).toMatch(/unavailable|store/i);
      // Established sessions keep serving, on every instance, for the whole outage (10 s, as the issue asks).
      let calls = 0;
      while (Date.now() - downAt < 10_000) {
        expect(
          text(await legacy.client.callTool({ name: 'echo', arguments: { message: `down${calls}` } })),
        ).toBe(`Echo: down${calls}`);
        expect(text(await modern.callTool({ name: 'echo', arguments: { message: `down${calls}` } }))).toBe(
          `Echo: down${calls}`,
        );
        calls++;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(calls).toBeGreaterThanOrEqual(9);

      await cluster.resume();
      const upAt = Date.now();
      for (const i of instances) {
        const ready = await waitUntil(async () => {
          const res = await fetch(`${i.url}/readyz`);
          await res.body?.cancel();
          return res.status === 200;
        }, 10_000);
        expect(ready).toBe(true);
      }
      expect(Date.now() - upAt).toBeLessThan(10_000);
      // What needed the store works again; the established sessions never stopped; no live peer was reaped.
      const late = await legacyClient(proxy.url, unseen);
      expect(text(await late.client.callTool({ name: 'echo', arguments: { message: 'up' } }))).toBe(
        'Echo: up',
      );
      expect(text(await legacy.client.callTool({ name: 'echo', arguments: { message: 'up' } }))).toBe(
        'Echo: up',
      );
      expect(text(await modern.callTool({ name: 'echo', arguments: { message: 'up' } }))).toBe('Echo: up');
      const sql = postgres(withDatabase(cluster.url, 'mcpgate'), { max: 1, onnotice: () => {} });
      const rows = await sql`select id from instances`;
      await sql.end();
      expect(rows.map((r) => r.id).sort()).toEqual(instances.map((i) => i.id).sort());
      await late.client.close();
      await legacy.client.close();
      await modern.close();
    }, 90_000);
  },
);
