/**
 * Owner routing of legacy POSTs between two in-process instances on one Postgres (issue 5 §2), the
 * internal route's refusals, and the hot path without the database (issue 5 §4): store calls are counted
 * on both instances while a known legacy session and a known pass-through session handle messages.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSecretBox } from '../../src/auth/secrets.js';
import { bodyHash, signInternalCall } from '../../src/routing/internal-token.js';
import { ownerRouting } from '../../src/routing/owner.js';
import { createPostgresStore } from '../../src/store/postgres.js';
import type { Store } from '../../src/store/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';

const SECRET = randomBytes(32);
const MCPGATE_SECRET = SECRET.toString('base64');

/** A Store whose every call is counted by method name (each one is at least one SQL statement). */
function counting(store: Store): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

const text = (result: unknown) =>
  ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n');

describePostgres('owner routing across instances', () => {
  let db: TestDatabase;
  let upstream: MiniUpstream;
  let a: TestGateway;
  let b: TestGateway;
  let storeA: { store: Store; calls: string[] };
  let storeB: { store: Store; calls: string[] };
  let token: string;
  let tokenId: string;
  let other: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    upstream = await startMiniUpstream();
    // Heartbeats far apart, so a measuring window holds none (they are per instance, not per message).
    const env = {
      DATABASE_URL: db.url,
      MCPGATE_SECRET,
      MCPGATE_HEARTBEAT_MS: '60000',
      MCPGATE_INSTANCE_TTL_MS: '120000',
      MCPGATE_AUTH_CACHE_MS: '60000',
    };
    storeA = counting(createPostgresStore({ url: db.url }));
    storeB = counting(createPostgresStore({ url: db.url }));
    a = await startTestGateway({ env, store: storeA.store });
    b = await startTestGateway({ env, store: storeB.store });
    ({ token, tokenId } = await a.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url }));
    ({ token: other } = await a.createToken('acme'));
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await db?.drop();
  });

  /** The stream on A; every POST alternates between A and B. */
  async function legacyClient(): Promise<{ client: Client; posts: string[] }> {
    const posts: string[] = [];
    let turn = 0;
    const balanced: typeof fetch = async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if ((init?.method ?? 'GET') === 'POST') {
        const to = turn++ % 2 === 0 ? a : b;
        url.host = new URL(to.url).host;
        posts.push(to === a ? 'a' : 'b');
      }
      return fetch(url, init);
    };
    const transport = new SSEClientTransport(new URL(`${a.url}/brains/mini/sse`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: balanced,
    });
    const client = new Client({ name: 'routed', version: '1' });
    await client.connect(transport);
    return { client, posts };
  }

  it('answers every call of a legacy client whose POSTs alternate between the owner and a peer', async () => {
    const { client, posts } = await legacyClient();
    for (let i = 0; i < 20; i++) {
      const result = await client.callTool({ name: 'echo', arguments: { message: `hi ${i}` } });
      expect(text(result)).toContain(`hi ${i}`);
    }
    expect(posts.filter((p) => p === 'b').length).toBeGreaterThanOrEqual(10);
    expect(ownerRouting(b.deps).stats.forward).toBeGreaterThanOrEqual(10);
    const exposition = await b.deps.observe.metrics.registry.metrics();
    const forwarded = /mcpgate_routed_forwards_total\{outcome="forward"\} (\d+)/.exec(exposition)?.[1];
    expect(Number(forwarded)).toBeGreaterThanOrEqual(10);
    await client.close();
  });

  it('refuses a routed POST for another token, another brain or an unknown session with the same 404', async () => {
    const { client } = await legacyClient();
    await client.callTool({ name: 'echo', arguments: { message: 'warm' } });
    const [sessionId] = (await a.deps.store.listSessions({ kind: 'legacy' })).map((s) => s.id);
    const post = (bearer: string, id: string, brain = 'mini') =>
      fetch(`${b.url}/brains/${brain}/messages?sessionId=${id}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
      });
    const unknown = await post(token, 'nope');
    expect(unknown.status).toBe(404);
    const unknownBody = await unknown.text();
    const foreign = await post(other, sessionId!);
    expect(foreign.status).toBe(404);
    expect(await foreign.text()).toBe(unknownBody);
    const own = await post(token, sessionId!);
    expect(own.status).toBe(202);
    await client.close();
  });

  it('refuses internal calls that are unsigned, wrongly signed, stale, for another instance or another body', async () => {
    const { client } = await legacyClient();
    await client.callTool({ name: 'echo', arguments: { message: 'warm' } });
    const [session] = await a.deps.store.listSessions({ kind: 'legacy' });
    const body = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const url = `${a.url}/internal/v1/sessions/mini/${session!.id}/messages`;
    const call = (auth: string | undefined, payload = body) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body: payload,
      });
    const claims = {
      from: b.deps.instanceId,
      to: a.deps.instanceId,
      sessionId: session!.id,
      brain: 'mini',
      tokenId,
      protocolVersion: undefined,
    };
    const key = createSecretBox(SECRET).signingKey;
    expect((await call(await signInternalCall(key, claims, body))).status).toBe(202);

    expect((await call(undefined)).status).toBe(401);
    const wrongKey = createSecretBox(randomBytes(32)).signingKey;
    expect((await call(await signInternalCall(wrongKey, claims, body))).status).toBe(401);
    expect((await call(await signInternalCall(key, { ...claims, to: 'inst_elsewhere' }, body))).status).toBe(
      401,
    );
    expect((await call(await signInternalCall(key, claims, body), `${body} `)).status).toBe(401);
    const stale = await new SignJWT({ bh: bodyHash(body), brain: 'mini', tok: tokenId })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(claims.from)
      .setAudience(claims.to)
      .setSubject(session!.id)
      .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key);
    expect((await call(stale)).status).toBe(401);
    // Valid, but for a token that does not hold the session: as unknown.
    expect((await call(await signInternalCall(key, { ...claims, tokenId: 'tok_other' }, body))).status).toBe(
      404,
    );
    await client.close();
  });

  it('costs no store call per message once a legacy and a pass-through session are known', async () => {
    const N = 30;
    const { client: legacy } = await legacyClient();
    let turn = 0;
    const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/brains/mini/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: async (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        url.host = new URL((turn++ % 2 === 0 ? a : b).url).host;
        return fetch(url, init);
      },
    });
    const modern = new Client({ name: 'passthrough', version: '1' });
    await modern.connect(transport);
    // Warm-up: both instances learn the session, its owner, the token, the brain.
    for (let i = 0; i < 4; i++) {
      await legacy.callTool({ name: 'echo', arguments: { message: `warm ${i}` } });
      await modern.callTool({ name: 'echo', arguments: { message: `warm ${i}` } });
    }
    storeA.calls.length = 0;
    storeB.calls.length = 0;
    const started = performance.now();
    for (let i = 0; i < N; i++) {
      expect(text(await legacy.callTool({ name: 'echo', arguments: { message: `l${i}` } }))).toContain(
        `l${i}`,
      );
      expect(text(await modern.callTool({ name: 'echo', arguments: { message: `m${i}` } }))).toContain(
        `m${i}`,
      );
    }
    const elapsed = performance.now() - started;
    // 2N messages each way through both instances; the window is well inside every cache TTL.
    expect(elapsed).toBeLessThan(30_000);
    // The audit log (issue 7 §4) writes in batches and prunes on a timer, off the request path: counted apart,
    // far below one per message.
    const isAudit = (call: string) => call === 'appendAudit' || call === 'pruneAudit';
    const audit = [...storeA.calls, ...storeB.calls].filter(isAudit).length;
    expect(audit).toBeLessThan((4 * N) / 10);
    expect({
      a: storeA.calls.filter((c) => !isAudit(c)),
      b: storeB.calls.filter((c) => !isAudit(c)),
    }).toEqual({
      a: [],
      b: [],
    });
    await legacy.close();
    await modern.close();
  });

  it('answers 404 once the owner is gone, so the client reconnects', async () => {
    const { client } = await legacyClient();
    await client.callTool({ name: 'echo', arguments: { message: 'a' } });
    await client.callTool({ name: 'echo', arguments: { message: 'b' } });
    const [session] = await a.deps.store.listSessions({ kind: 'legacy' });
    await a.close();
    const res = await fetch(`${b.url}/brains/mini/messages?sessionId=${session!.id}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
    });
    expect(res.status).toBe(404);
    await client.close().catch(() => {});
  });
});
