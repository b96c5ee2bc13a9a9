/**
 * Legacy session lifecycle on both stores: client disconnect mid-call → upstream DELETE and the record
 * gone; upstream session lost → re-initialized with the stored params, the call retried once; revoked
 * token / deleted brain / shutdown end live streams; draining refuses new ones; keep-alive comments;
 * admin notify; a client that never reads is disconnected (bounded buffer).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import { storeFactories } from '../helpers/stores.js';

/** For state with no event to wait on (store rows, registry size): check often, give up after a while. */
async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(storeFactories())('legacy session lifecycle ($name store)', ({ skip, create }) => {
  let upstream: MiniUpstream;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;
  let closed = false;

  /** The first request from index `from` on (past or future) matching. */
  const since = (from: number, match: (r: MiniUpstream['requests'][number]) => boolean) =>
    upstream.waitFor((r) => upstream.requests.indexOf(r) >= from && match(r));

  const legacySessions = async () => {
    const res = await gateway.admin('GET', '/sessions?brain=mini');
    return ((await res.json()) as Array<{ id: string; kind: string }>).filter((s) => s.kind === 'legacy');
  };

  beforeAll(async () => {
    if (skip) return;
    const made = await create();
    drop = made.drop;
    upstream = await startMiniUpstream();
    gateway = await startTestGateway({ store: made.store, env: { MCPGATE_KEEPALIVE_MS: '200' } });
    ({ token } = await gateway.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url }));
  });

  afterAll(async () => {
    if (skip) return;
    if (!closed) await gateway?.close();
    await upstream?.close();
    await drop?.();
  });

  test.skipIf(skip)(
    'client disconnect mid-call → call aborted, upstream DELETE, session record gone',
    async () => {
      const client = await openLegacy(gateway.url, 'mini', token);
      await handshake(client);
      expect((await legacySessions()).map((s) => s.id)).toContain(client.sessionId);
      await client.post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'slow' } });
      const sent = await upstream.waitFor((r) => r.body?.id === 3);
      const aborted = new Promise((resolve) => upstream.events.once('slow-aborted', resolve));
      client.close();
      await aborted;
      const deleted = await upstream.waitFor((r) => r.method === 'DELETE' && r.sessionId === sent.sessionId);
      expect(deleted.sessionId).toBeDefined();
      await until(async () => !(await legacySessions()).some((s) => s.id === client.sessionId));
    },
  );

  test.skipIf(skip)(
    'upstream session lost (restart) → re-initialized with stored params, call retried',
    async () => {
      const client = await openLegacy(gateway.url, 'mini', token);
      await handshake(client, { name: 'restart-client', version: '3' });
      const before = upstream.requests.length;
      upstream.forget();
      const reply = await client.call(4, 'tools/call', { name: 'echo', arguments: { message: 'again' } });
      expect(reply.result).toMatchObject({ content: [{ text: 'echo: again' }] });
      const reinit = upstream.requests.slice(before).find((r) => r.body?.method === 'initialize')!;
      expect(reinit.body?.params).toMatchObject({ clientInfo: { name: 'restart-client', version: '3' } });
      // Nothing unsolicited reached the client: its initialize reply and this reply only.
      expect(client.messages.map((m) => m.id)).toEqual(['init-1', 4]);
      client.close();
    },
  );

  test.skipIf(skip)(
    'a token revoked while events were missed loses its sessions at the resync; others keep theirs',
    async () => {
      const doomed = await gateway.createToken('acme');
      const lost = await openLegacy(gateway.url, 'mini', doomed.token);
      const kept = await openLegacy(gateway.url, 'mini', token);
      await handshake(lost);
      await handshake(kept);
      // Revoked in the store without an event, as when the bus listener was away at that moment.
      expect(await gateway.deps.store.revokeToken(doomed.tokenId)).toBe(true);
      await gateway.deps.bus.publish({ type: 'resync' });
      await lost.ended;
      const reply = await kept.call(5, 'tools/call', { name: 'echo', arguments: { message: 'still' } });
      expect(reply.result).toMatchObject({ content: [{ text: 'echo: still' }] });
      kept.close();
    },
  );

  test.skipIf(skip)('keep-alive comments arrive on an idle stream', async () => {
    const client = await openLegacy(gateway.url, 'mini', token);
    expect(await client.nextComment()).toBe('keepalive');
    client.close();
  });

  test.skipIf(skip)('admin notify reaches every live session of the brain → {delivered}', async () => {
    const a = await openLegacy(gateway.url, 'mini', token);
    const b = await openLegacy(gateway.url, 'mini', token);
    const seenA = a.next((m) => m.method === 'notifications/message');
    const seenB = b.next((m) => m.method === 'notifications/message');
    const res = await gateway.admin('POST', '/brains/mini/notify', {
      level: 'warning',
      logger: 'ops',
      data: { msg: 'hi' },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { delivered: number }).delivered).toBeGreaterThanOrEqual(2);
    expect((await seenA).params).toEqual({ level: 'warning', logger: 'ops', data: { msg: 'hi' } });
    expect((await seenB).params).toEqual({ level: 'warning', logger: 'ops', data: { msg: 'hi' } });
    const bad = await gateway.admin('POST', '/brains/mini/notify', { level: 'loud', data: 1 });
    expect(bad.status).toBe(400);
    const missing = await gateway.admin('POST', '/brains/nope/notify', { level: 'info', data: 1 });
    expect(missing.status).toBe(404);
    a.close();
    b.close();
  });

  test.skipIf(skip)(
    'a client that never reads is disconnected once its buffer passes the bound',
    async () => {
      await until(() => gateway.deps.sessions.size === 0); // earlier tests' sessions have closed
      const url = new URL(gateway.url);
      const socket = connect(Number(url.port), url.hostname);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        `GET /brains/mini/sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      socket.pause(); // never read: the kernel buffers fill, then the gateway's
      const closed = new Promise((resolve) => socket.once('close', resolve));
      await until(() => gateway.deps.sessions.size === 1);
      const data = 'x'.repeat(256 * 1024);
      let pushes = 0;
      while (gateway.deps.sessions.size === 1 && pushes < 400) {
        await gateway.admin('POST', '/brains/mini/notify', { level: 'info', data });
        pushes++;
      }
      expect(gateway.deps.sessions.size).toBe(0);
      expect(pushes * data.length).toBeGreaterThan(1024 * 1024); // more than the bound was offered
      expect(gateway.logs.some((l) => l.includes('legacy client stopped reading; disconnected'))).toBe(true);
      socket.resume();
      socket.on('data', () => {});
      await closed;
    },
  );

  test.skipIf(skip)('one message larger than the buffer bound still reaches a reading client', async () => {
    const client = await openLegacy(gateway.url, 'mini', token);
    await handshake(client);
    const reply = await client.call(8, 'tools/call', { name: 'big', arguments: { bytes: 3 * 1024 * 1024 } });
    expect((reply.result as { content: Array<{ text: string }> }).content[0]!.text).toHaveLength(
      3 * 1024 * 1024,
    );
    client.close();
  });

  test.skipIf(skip)('revoking the token ends its live streams', async () => {
    const { token: doomed, tokenId } = await gateway.createToken('acme');
    const client = await openLegacy(gateway.url, 'mini', doomed);
    expect((await gateway.admin('DELETE', `/tokens/${tokenId}`)).status).toBe(204);
    await client.ended;
  });

  test.skipIf(skip)('deleting the brain ends its streams and DELETEs upstream', async () => {
    const other = await startMiniUpstream();
    const { token: t } = await gateway.provision({ org: 'acme', brain: 'gone', upstreamUrl: other.url });
    const client = await openLegacy(gateway.url, 'gone', t);
    await handshake(client);
    expect((await gateway.admin('DELETE', '/brains/gone')).status).toBe(204);
    await client.ended;
    await other.waitFor((r) => r.method === 'DELETE');
    await other.close();
  });

  test.skipIf(skip)(
    'draining sends new streams away (200, retry:, no endpoint); shutdown ends live ones and DELETEs upstream',
    async () => {
      const from = upstream.requests.length;
      const client = await openLegacy(gateway.url, 'mini', token);
      await handshake(client);
      const sid = (await since(from, (r) => r.method === 'GET')).sessionId;
      gateway.deps.lifecycle.draining = true;
      const refused = await fetch(`${gateway.url}/brains/mini/sse`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(refused.status).toBe(200);
      const said = await refused.text();
      expect(said).toMatch(/^retry: \d+$/m);
      expect(said).not.toContain('event: endpoint');
      closed = true;
      await gateway.close();
      await client.ended;
      expect(upstream.requests.some((r) => r.method === 'DELETE' && r.sessionId === sid)).toBe(true);
    },
  );
});

describe('legacy session set-up race', () => {
  test('a client that leaves while its session is being stored leaves nothing behind', async () => {
    // Hold the store write until the gateway has seen the client's socket close.
    const store = createMemoryStore();
    const putSession = store.putSession.bind(store);
    let entered!: () => void;
    let release!: () => void;
    const inPut = new Promise<void>((resolve) => (entered = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    store.putSession = async (session) => {
      entered();
      await gate;
      return putSession(session);
    };
    const upstream = await startMiniUpstream();
    const gateway = await startTestGateway({ store });
    const { token } = await gateway.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url });
    const url = new URL(gateway.url);
    gateway.server.once('connection', (socket) => socket.once('close', release));
    const socket = connect(Number(url.port), url.hostname);
    socket.write(`GET /brains/mini/sse HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    await inPut;
    socket.destroy();
    await until(
      async () =>
        gateway.deps.sessions.size === 0 &&
        (await store.listSessions()).length === 0 &&
        gateway.logs.some((l) => l.includes('legacy session closed')),
    );
    await gateway.close();
    await upstream.close();
  });
});
