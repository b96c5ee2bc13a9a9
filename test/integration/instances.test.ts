/**
 * The instance registry and the reaper on a real Postgres (issue 5 §1): gateways register and heartbeat;
 * an instance that falls silent is reaped by a live one within TTL + one heartbeat, with its legacy
 * sessions, and a real upstream (test/helpers/mini-upstream.ts) receives a DELETE for each upstream
 * session, with the brain's credentials. Short heartbeats and TTLs keep the waits under two seconds.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { drainAndClose } from '../../src/sessions/drain.js';
import { createPostgresStore } from '../../src/store/postgres.js';
import type { NewSession, Store } from '../../src/store/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const HEARTBEAT_MS = 200;
const TTL_MS = 1_000;
const BRAIN_SECRET = 'Bearer brain-credential-7';
/** Shared by every gateway here, as by every instance of a deployment (it seals brain credentials). */
const MCPGATE_SECRET = randomBytes(32).toString('base64');

async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describePostgres('instances: registry, heartbeat and reaper', () => {
  let db: TestDatabase;
  let upstream: MiniUpstream;
  /** A store of our own, to look at (and plant) rows the way a peer would. */
  let peer: Store;
  const gateways: TestGateway[] = [];
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    upstream = await startMiniUpstream();
    peer = createPostgresStore({ url: db.url, max: 2 });
    await peer.createOrg({ slug: 'acme', name: null });
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.close()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await peer?.close();
    await upstream?.close();
    await db?.drop();
  });

  async function startGateway(url = db.url, env: Record<string, string> = {}) {
    const gateway = await startTestGateway({
      store: createPostgresStore({ url, max: 4 }),
      env: {
        MCPGATE_SECRET,
        MCPGATE_HEARTBEAT_MS: String(HEARTBEAT_MS),
        MCPGATE_INSTANCE_TTL_MS: String(TTL_MS),
        ...env,
      },
    });
    gateways.push(gateway);
    return gateway;
  }

  /** A brain on the mini upstream with credentials, created once. */
  async function brain(gateway: TestGateway): Promise<string> {
    if (!(await peer.getBrain('mini'))) {
      await gateway.provision({
        org: 'acme',
        brain: 'mini',
        upstreamUrl: upstream.url,
        upstreamHeaders: { authorization: BRAIN_SECRET },
      });
    }
    return 'mini';
  }

  const legacy = (id: string, owner: string, extra: Partial<NewSession> = {}): NewSession => ({
    id,
    brain: 'mini',
    kind: 'legacy',
    org: 'acme',
    tokenId: 'tok_x',
    ownerInstance: owner,
    upstreamSessionId: null,
    protocolVersion: null,
    initParams: null,
    ...extra,
  });

  const deletesOf = (sessionId: string) =>
    upstream.requests.filter((r) => r.method === 'DELETE' && r.sessionId === sessionId);

  it('registers a gateway with its bound URL and boot id, heartbeats, is marked draining by a drain, deregisters', async () => {
    const gateway = await startGateway();
    const row = await peer.getInstance(gateway.deps.instanceId);
    expect(row).toMatchObject({ url: gateway.url, bootId: gateway.instances!.bootId, draining: false });
    await until(
      async () => (await peer.getInstance(gateway.deps.instanceId))!.heartbeatAt > row!.heartbeatAt,
      'a heartbeat',
    );
    // SIGTERM's drain marks the instance draining for its peers while work is in flight, then deregisters.
    const work = gateway.deps.lifecycle.inflight.begin();
    const drained = drainAndClose(gateway, { timeoutMs: 5_000, logger: createLogger({ level: 'silent' }) });
    await until(
      async () => (await peer.getInstance(gateway.deps.instanceId))?.draining,
      'draining on record',
    );
    work();
    expect(await drained).toMatchObject({ idle: true });
    expect(await peer.getInstance(gateway.deps.instanceId)).toBeUndefined();
  });

  it('reaps a silent instance within TTL + one heartbeat: legacy sessions go, each upstream session gets a DELETE', async () => {
    const live = await startGateway();
    await brain(live);
    const dead = await peer.registerInstance({ id: 'inst-dead', url: 'http://127.0.0.1:9', bootId: 'b0' });
    await peer.putSession(
      legacy('s-1', 'inst-dead', { upstreamSessionId: 'up-1', protocolVersion: '2025-06-18' }),
    );
    await peer.putSession(legacy('s-2', 'inst-dead'));
    await peer.putSession(legacy('s-3', 'inst-dead', { kind: 'passthrough', upstreamSessionId: 's-3' }));
    await peer.putSession(legacy('s-4', live.deps.instanceId, { upstreamSessionId: 'up-4' }));

    await until(async () => !(await peer.getInstance('inst-dead')), 'the reaper', TTL_MS + 3_000);
    const silentFor = Date.now() - dead.heartbeatAt.getTime();
    expect(silentFor).toBeGreaterThanOrEqual(TTL_MS);
    expect(silentFor).toBeLessThan(TTL_MS + HEARTBEAT_MS + 500);

    const del = await upstream.waitFor((r) => r.method === 'DELETE' && r.sessionId === 'up-1');
    expect(del.headers.authorization).toBe(BRAIN_SECRET);
    expect(del.headers['mcp-protocol-version']).toBe('2025-06-18');
    const left = (await peer.listSessions({ brain: 'mini' })).map((s) => s.id);
    // The dead instance's pass-through session stays: any instance serves it (issue 5 §3).
    expect(left).toEqual(['s-3', 's-4']);
    expect(deletesOf('s-3')).toEqual([]);
    expect(deletesOf('up-4')).toEqual([]);
    expect(live.logs.some((l) => l.includes('reaped silent instances') && l.includes('inst-dead'))).toBe(
      true,
    );
  });

  it('two live instances reaping at once remove a dead one once: one DELETE per session', async () => {
    const a = await startGateway();
    const b = await startGateway();
    await brain(a);
    await peer.registerInstance({ id: 'inst-gone', url: 'http://127.0.0.1:9', bootId: 'b1' });
    for (const n of [1, 2, 3]) {
      await peer.putSession(legacy(`g-${n}`, 'inst-gone', { upstreamSessionId: `up-g-${n}` }));
    }
    await until(async () => !(await peer.getInstance('inst-gone')), 'the reaper', TTL_MS + 3_000);
    for (const n of [1, 2, 3])
      await upstream.waitFor((r) => r.method === 'DELETE' && r.sessionId === `up-g-${n}`);

    // Let both beat (and reap) a few more times before counting.
    const beats = async (g: TestGateway) =>
      (await peer.getInstance(g.deps.instanceId))!.heartbeatAt.getTime();
    const after = Math.max(await beats(a), await beats(b)) + 3 * HEARTBEAT_MS;
    await until(async () => (await beats(a)) > after && (await beats(b)) > after, 'more beats');

    for (const n of [1, 2, 3]) expect(deletesOf(`up-g-${n}`), `DELETEs of up-g-${n}`).toHaveLength(1);
    const reapLines = [...a.logs, ...b.logs].filter(
      (l) => l.includes('reaped silent instances') && l.includes('inst-gone'),
    );
    expect(reapLines).toHaveLength(1);
  });

  it('reaps an instance cut off from the database; it registers again once back, and its client carries on', async () => {
    const u = new URL(db.url);
    const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
    proxies.push(proxy);
    const cutOff = await startGateway(proxy.via(db.url));
    const live = await startGateway();
    await brain(live);
    const { token } = await live.createToken('acme');

    const client = await openLegacy(cutOff.url, 'mini', token);
    await handshake(client);
    const session = await until(async () => {
      const s = await peer.getSession('mini', client.sessionId);
      return s?.upstreamSessionId ? s : undefined;
    }, 'the upstream session id on record');

    proxy.refuse(true);
    proxy.cut();
    await until(async () => !(await peer.getInstance(cutOff.deps.instanceId)), 'the reaper', TTL_MS + 3_000);
    await upstream.waitFor((r) => r.method === 'DELETE' && r.sessionId === session.upstreamSessionId);
    expect(await peer.getSession('mini', client.sessionId)).toBeUndefined();

    proxy.refuse(false);
    await until(async () => peer.getInstance(cutOff.deps.instanceId), 'registration again');
    expect(cutOff.logs.some((l) => l.includes('instance was reaped by a peer'))).toBe(true);
    // The upstream session was ended under the live client: the bridge re-initializes and answers.
    const reply = await client.call(7, 'tools/call', { name: 'echo', arguments: { message: 'still here' } });
    expect(reply.result).toEqual({ content: [{ type: 'text', text: 'echo: still here' }] });
    client.close();
  });
});
