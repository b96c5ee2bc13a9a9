/**
 * Postgres blinks (issue 5 §7), against a cluster of this file's own that it stops (`pg_ctl stop -m fast`)
 * and starts again on the same port. Two gateways share it, with the Postgres store, bus and instance
 * registry, as in production. While it is down: `/readyz` is 503, what needs the store gets a clear 503
 * at once, what is cached keeps serving. After: everything recovers by itself — pool, listener (with a
 * resync), events between instances — and no instance reaps a live peer over the outage.
 *
 * Also: a database that stops answering without closing anything (black-holed through a relay) costs a
 * request at most the query timeout, never a hang.
 */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrations } from '../../src/store/migrate.js';
import { createPostgresStore } from '../../src/store/postgres.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy, type RawLegacyClient } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import {
  clusterToolsAvailable,
  createTestDatabase,
  describePostgres,
  type RestartableCluster,
  startRestartableCluster,
  withDatabase,
} from '../helpers/postgres.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

const HEARTBEAT_MS = 200;
const TTL_MS = 1_500;
const QUERY_TIMEOUT_MS = 1_000;
const MCPGATE_SECRET = randomBytes(32).toString('base64');

async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const initialize = (id: number | string) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'blink', version: '1' } },
});
const echo = (id: number, message: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message } },
});

function mcp(gateway: TestGateway, token: string, body: unknown, sessionId?: string) {
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    accept: 'application/json, text/event-stream',
    'content-type': 'application/json',
  };
  if (sessionId) headers['mcp-session-id'] = sessionId;
  return fetch(`${gateway.url}/brains/mini/mcp`, { method: 'POST', headers, body: JSON.stringify(body) });
}

describe.skipIf(!clusterToolsAvailable())(
  '[postgres] Postgres blinks: a cluster stopped and started again',
  () => {
    let cluster: RestartableCluster;
    let upstream: MiniUpstream;
    let a: TestGateway;
    let b: TestGateway;
    let legacy: RawLegacyClient | undefined;

    beforeAll(async () => {
      cluster = await startRestartableCluster();
      const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
      await admin`create database mcpgate`;
      await admin.end();
      const url = withDatabase(cluster.url, 'mcpgate');
      await runMigrations({ url });
      upstream = await startMiniUpstream();
      const env = {
        DATABASE_URL: url,
        MCPGATE_SECRET,
        // Long enough that only events (or a resync) can drop a cached token or brain here.
        MCPGATE_AUTH_CACHE_MS: '60000',
        MCPGATE_HEARTBEAT_MS: String(HEARTBEAT_MS),
        MCPGATE_INSTANCE_TTL_MS: String(TTL_MS),
        DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
      };
      a = await startTestGateway({ env });
      b = await startTestGateway({ env });
    }, 120_000);
    afterAll(async () => {
      legacy?.close();
      await a?.close();
      await b?.close();
      await upstream?.close();
      await cluster?.stop();
    });

    it('serves from cache and answers 503 while Postgres is down, and recovers by itself when it is back', async () => {
      const { token: cached, tokenId: cachedId } = await a.provision({
        org: 'acme',
        brain: 'mini',
        upstreamUrl: upstream.url,
      });
      const { token: fresh } = await a.createToken('acme');

      // Established before the blink: a pass-through session and a legacy session on A.
      const init = await mcp(a, cached, initialize(1));
      expect(init.status).toBe(200);
      const sessionId = init.headers.get('mcp-session-id')!;
      await init.body?.cancel();
      legacy = await openLegacy(a.url, 'mini', cached);
      await handshake(legacy);
      expect((await mcp(a, cached, echo(2, 'before'), sessionId)).status).toBe(200);
      const resyncs: number[] = [];
      a.deps.bus.subscribe((event) => {
        if (event.type === 'resync') resyncs.push(Date.now());
      });

      await cluster.pause();
      const downAt = Date.now();

      const ready = await fetch(`${a.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'store not reachable' });

      // A token never seen here needs the store: a clear JSON-RPC 503, at once.
      let started = Date.now();
      const refused = await mcp(a, fresh, initialize(3));
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBeTruthy();
      expect(await refused.json()).toEqual({
        jsonrpc: '2.0',
        id: null,
        error: {
          code: expect.any(Number),
          message: 'Service unavailable: the gateway store is not reachable',
        },
      });
      expect(Date.now() - started).toBeLessThan(QUERY_TIMEOUT_MS + 500);
      const adminDown = await a.admin('GET', '/orgs');
      expect(adminDown.status).toBe(503);
      expect(((await adminDown.json()) as { error: { code: string } }).error.code).toBe(
        'ERR_STORE_UNAVAILABLE',
      );

      // What is cached keeps serving: the pass-through session, and the legacy session.
      started = Date.now();
      const during = await mcp(a, cached, echo(4, 'during'), sessionId);
      expect(during.status).toBe(200);
      expect(await during.json()).toMatchObject({ result: { content: [{ text: 'echo: during' }] } });
      expect(Date.now() - started).toBeLessThan(1_000);
      const legacyDuring = await legacy.call(5, 'tools/call', {
        name: 'echo',
        arguments: { message: 'legacy' },
      });
      expect(legacyDuring.result).toEqual({ content: [{ type: 'text', text: 'echo: legacy' }] });

      // Down for longer than the instance TTL: every heartbeat failed, on both instances.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, downAt + 2 * TTL_MS - Date.now())));
      expect((await fetch(`${a.url}/readyz`)).status).toBe(503);

      await cluster.resume();
      const upAt = Date.now();
      await until(async () => (await fetch(`${a.url}/readyz`)).status === 200, 'A ready again');
      await until(async () => (await fetch(`${b.url}/readyz`)).status === 200, 'B ready again');
      const readyAfterMs = Date.now() - upAt;
      expect(readyAfterMs).toBeLessThan(5_000);
      const answered = await until(async () => {
        const res = await mcp(a, fresh, initialize(6));
        await res.body?.cancel();
        return res.status === 200;
      }, 'the fresh token to work');
      expect(answered).toBe(true);
      // The listener came back by itself and told the caches to start over (notifications were lost).
      await until(async () => resyncs.some((at) => at >= upAt), 'a resync on A');

      // Nobody reaped a live peer over the outage: wait out a TTL and a few beats after the return.
      const instanceStore = createPostgresStore({ url: withDatabase(cluster.url, 'mcpgate'), max: 1 });
      try {
        await new Promise((resolve) => setTimeout(resolve, TTL_MS + 3 * HEARTBEAT_MS));
        const ids = (await instanceStore.listInstances()).map((i) => i.id).sort();
        expect(ids).toEqual([a.deps.instanceId, b.deps.instanceId].sort());
        expect(await instanceStore.getSession('mini', legacy.sessionId)).toBeDefined();
        expect(a.logs.some((l) => l.includes('reaped silent instances'))).toBe(false);
        expect(b.logs.some((l) => l.includes('reaped silent instances'))).toBe(false);
      } finally {
        await instanceStore.close();
      }

      // Events flow between instances again: revoked through B, refused by A within 2 s (its cache
      // would have kept the token for a minute), and A's live session of that token closes.
      expect((await mcp(a, cached, echo(7, 'after'), sessionId)).status).toBe(200);
      expect((await b.admin('DELETE', `/tokens/${cachedId}`)).status).toBe(204);
      const revokedAt = Date.now();
      await until(
        async () => (await mcp(a, cached, echo(8, 'revoked'), sessionId)).status === 401,
        'A to refuse',
      );
      expect(Date.now() - revokedAt).toBeLessThan(2_000);
      await legacy.ended;
    });
  },
);

describePostgres('Postgres that stops answering (black-holed)', () => {
  it('fails a store call after the query timeout instead of hanging', async () => {
    const db = await createTestDatabase();
    const u = new URL(db.url);
    const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
    const store = createPostgresStore({ url: proxy.via(db.url), max: 1, queryTimeoutMs: 300 });
    try {
      await store.ping();
      proxy.freeze();
      const started = Date.now();
      const err = (await store.findTokenByHash('x').catch((e: unknown) => e)) as { code?: string };
      expect(err.code).toBe('ERR_STORE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(1_000);
      const ping = (await store.ping().catch((e: unknown) => e)) as { code?: string };
      expect(ping.code).toBe('ERR_STORE_UNAVAILABLE');
    } finally {
      proxy.cut();
      await store.close();
      await proxy.close();
      await db.drop();
    }
  });
});
