/**
 * The legacy face on the wire, with a raw client and a scriptable upstream, on both stores: stream
 * headers and the endpoint event, the error answers of `POST /messages` (issue 4 §1), batches, what the
 * upstream leg sends (session id, version header, DELETE), priming events kept off the client stream,
 * SEP-1699 resume, an unreachable upstream, and a first message that is not `initialize`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import { storeFactories } from '../helpers/stores.js';

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: number } }).error.code;

describe.each(storeFactories())('legacy face on the wire ($name store)', ({ skip, create }) => {
  let upstream: MiniUpstream;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;
  let otherToken: string;

  beforeAll(async () => {
    if (skip) return;
    const made = await create();
    drop = made.drop;
    upstream = await startMiniUpstream();
    gateway = await startTestGateway({ store: made.store });
    ({ token } = await gateway.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url }));
    ({ token: otherToken } = await gateway.createToken('acme'));
  });

  afterAll(async () => {
    if (skip) return;
    await gateway?.close();
    await upstream?.close();
    await drop?.();
  });

  test.skipIf(skip)('stream headers, endpoint event with a ≥128-bit session id', async () => {
    const client = await openLegacy(gateway.url, 'mini', token);
    expect(client.response.headers.get('content-type')).toBe('text/event-stream');
    expect(client.response.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(client.response.headers.get('x-accel-buffering')).toBe('no');
    expect(client.endpointData).toMatch(/^\/brains\/mini\/messages\?sessionId=[0-9A-Za-z]{22,}$/);
    client.close();
  });

  test.skipIf(skip)(
    'POST errors: 400 without sessionId, 404 unknown or foreign session (same body)',
    async () => {
      const client = await openLegacy(gateway.url, 'mini', token);
      const post = (url: string, t: string, body = '{"jsonrpc":"2.0","id":1,"method":"ping"}') =>
        fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
          body,
        });
      const base = `${gateway.url}/brains/mini/messages`;

      const missing = await post(base, token);
      expect(missing.status).toBe(400);
      expect(await errorCode(missing)).toBe(-32000);

      const unknown = await post(`${base}?sessionId=nope`, token);
      const foreign = await post(client.endpoint, otherToken);
      expect(unknown.status).toBe(404);
      expect(foreign.status).toBe(404);
      expect(await foreign.text()).toBe(await unknown.text());
      client.close();
    },
  );

  test.skipIf(skip)('POST errors: 400 for non-JSON and non-JSON-RPC, 413 over 4 MiB', async () => {
    const client = await openLegacy(gateway.url, 'mini', token);
    const notJson = await client.post('{nope');
    expect(notJson.status).toBe(400);
    expect(await errorCode(notJson)).toBe(-32700);
    const notRpc = await client.post({ hello: 'world' });
    expect(notRpc.status).toBe(400);
    expect(await errorCode(notRpc)).toBe(-32600);
    const emptyBatch = await client.post([]);
    expect(emptyBatch.status).toBe(400);
    const huge = await client.post({
      jsonrpc: '2.0',
      method: 'x',
      params: { pad: 'a'.repeat(4 * 1024 * 1024) },
    });
    expect(huge.status).toBe(413);
    client.close();
  });

  test.skipIf(skip)(
    'initialize, then every upstream request carries the session id and version',
    async () => {
      const client = await openLegacy(gateway.url, 'mini', token);
      const init = await handshake(client);
      expect(init.result).toMatchObject({ protocolVersion: '2025-06-18' });
      const reply = await client.call(2, 'tools/call', { name: 'echo', arguments: { message: 'hi' } });
      expect(reply.result).toEqual({ content: [{ type: 'text', text: 'echo: hi' }] });
      const call = await upstream.waitFor(
        (r) => r.body?.id === 2 && r.headers['mcp-session-id'] !== undefined,
      );
      expect(call.headers['mcp-protocol-version']).toBe('2025-06-18');
      expect(call.headers.authorization).toBeUndefined();
      // After `initialized`, the standalone GET stream is open for pushes.
      await upstream.waitFor((r) => r.method === 'GET' && r.sessionId === call.sessionId);
      client.close();
    },
  );

  test.skipIf(skip)('a batch is split upstream and each reply is delivered', async () => {
    const client = await openLegacy(gateway.url, 'mini', token);
    await handshake(client);
    const res = await client.post([
      { jsonrpc: '2.0', id: 'b1', method: 'ping' },
      {
        jsonrpc: '2.0',
        id: 'b2',
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'two' } },
      },
    ]);
    expect(res.status).toBe(202);
    expect((await client.next((m) => m.id === 'b1')).result).toEqual({});
    expect((await client.next((m) => m.id === 'b2')).result).toMatchObject({
      content: [{ text: 'echo: two' }],
    });
    client.close();
  });

  test.skipIf(skip)(
    'SSE replies: progress frames precede the result, priming events stay upstream',
    async () => {
      const client = await openLegacy(gateway.url, 'mini', token);
      await handshake(client);
      const reply = await client.call(5, 'tools/call', { name: 'progress', _meta: { progressToken: 't' } });
      expect(reply.result).toMatchObject({ content: [{ text: 'progressed' }] });
      const after = client.messages.slice(client.messages.findIndex((m) => m.id === 'init-1') + 1);
      expect(after.map((m) => m.method ?? `reply ${m.id}`)).toEqual([
        'notifications/progress',
        'notifications/progress',
        'notifications/progress',
        'reply 5',
      ]);
      client.close();
    },
  );

  test.skipIf(skip)(
    'an SSE reply closed before its result is resumed with Last-Event-ID (SEP-1699)',
    async () => {
      const client = await openLegacy(gateway.url, 'mini', token);
      await handshake(client);
      const reply = await client.call(6, 'tools/call', { name: 'poll' });
      expect(reply.result).toMatchObject({ content: [{ text: 'polled' }] });
      const resumed = await upstream.waitFor(
        (r) => r.method === 'GET' && r.headers['last-event-id'] !== undefined,
      );
      expect(resumed.headers['last-event-id']).toMatch(/^poll-/);
      client.close();
    },
  );

  test.skipIf(skip)(
    'first message not initialize: the gateway initializes with the token’s last params',
    async () => {
      const first = await openLegacy(gateway.url, 'mini', token);
      await handshake(first, { name: 'remembered-client', version: '7' });
      first.close();

      const client = await openLegacy(gateway.url, 'mini', token);
      const reply = await client.call(9, 'tools/call', { name: 'echo', arguments: { message: 'no init' } });
      expect(reply.result).toMatchObject({ content: [{ text: 'echo: no init' }] });
      const init = upstream.requests.filter((r) => r.body?.method === 'initialize').at(-1)!;
      expect(init.body?.params).toMatchObject({ clientInfo: { name: 'remembered-client', version: '7' } });
      // The gateway's own initialize result is swallowed: the client saw only its reply.
      expect(client.messages.map((m) => m.id)).toEqual([9]);
      client.close();
    },
  );

  test.skipIf(skip)(
    'first message not initialize and no history: a default, at the client’s version',
    async () => {
      const { token: fresh } = await gateway.createToken('acme');
      const client = await openLegacy(gateway.url, 'mini', fresh);
      const reply = client.next((m) => m.id === 1);
      await client.post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-protocol-version': '2025-03-26' });
      expect((await reply).result).toEqual({});
      const init = upstream.requests.filter((r) => r.body?.method === 'initialize').at(-1)!;
      expect(init.body?.params).toMatchObject({ protocolVersion: '2025-03-26', capabilities: {} });
      expect(client.messages.map((m) => m.id)).toEqual([1]);
      client.close();
    },
  );

  test.skipIf(skip)(
    'an unreachable upstream answers the request with a JSON-RPC error, never a hang',
    async () => {
      const dead = await startMiniUpstream();
      const deadUrl = dead.url;
      await dead.close();
      const { token: t } = await gateway.provision({ org: 'acme', brain: 'dead', upstreamUrl: deadUrl });
      const client = await openLegacy(gateway.url, 'dead', t);
      const init = await client.call('i', 'initialize', {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'x', version: '1' },
      });
      expect(init.error).toMatchObject({ code: -32000, message: 'Upstream unreachable' });
      client.close();
    },
  );
});

describe('legacy face with CORS on', () => {
  test('the stream and the 202 carry the CORS headers (both are written on the Node response)', async () => {
    const upstream = await startMiniUpstream();
    const gateway = await startTestGateway({ env: { MCPGATE_CORS_ORIGINS: 'https://app.example' } });
    const { token } = await gateway.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url });
    const origin = { origin: 'https://app.example' };
    const abort = new AbortController();
    const stream = await fetch(`${gateway.url}/brains/mini/sse`, {
      headers: { ...origin, authorization: `Bearer ${token}` },
      signal: abort.signal,
    });
    expect(stream.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const reader = stream.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    const endpoint = /data: (\S+)/.exec(text)![1]!;
    const posted = await fetch(new URL(endpoint, gateway.url), {
      method: 'POST',
      headers: { ...origin, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    });
    expect(posted.status).toBe(202);
    expect(posted.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(await posted.text()).toBe('Accepted');
    abort.abort();
    await gateway.close();
    await upstream.close();
  });
});
