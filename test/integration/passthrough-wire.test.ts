/**
 * The pass-through on the wire, against a raw upstream that records exactly what it receives: header
 * rules both ways (the client's token never leaves, the brain's credentials go instead), the POST body
 * forwarded byte-for-byte, upstream statuses and bodies unchanged, and session binding (bound on issue,
 * 404 without reaching the upstream for another token or an unknown id, removed by DELETE) — on both
 * stores.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { jsonResult, type RawUpstream, type SeenRequest, startRawUpstream } from '../helpers/raw-upstream.js';
import { storeFactories } from '../helpers/stores.js';

const SESSION_NOT_FOUND = { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null };

/** Answers by JSON-RPC method, the way a Streamable HTTP server would, and issues a session on initialize. */
function scripted(req: IncomingMessage, res: ServerResponse, seen: SeenRequest) {
  const message = seen.body.length
    ? (JSON.parse(seen.body.toString()) as { method?: string; id?: number })
    : {};
  if (req.method === 'DELETE') return void res.writeHead(200).end();
  if (req.method === 'GET') return void res.writeHead(405, { allow: 'POST, DELETE' }).end();
  switch (message.method) {
    case 'initialize':
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'sess-upstream-1' });
      return void res.end(
        JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { protocolVersion: '2025-11-25' } }),
      );
    case 'notifications/initialized':
      return void res.writeHead(202).end();
    case 'bad':
      res.writeHead(400, { 'content-type': 'application/json' });
      return void res.end(
        '{"jsonrpc":"2.0",  "error":{"code":-32602,"message":"Invalid params: nope"},"id":3}',
      );
    case 'unauthorized':
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': 'Bearer resource_metadata="http://upstream.example/.well-known/x"',
      });
      return void res.end('{"jsonrpc":"2.0","error":{"code":-32000,"message":"bad upstream key"},"id":5}');
    case 'gone':
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end(
        '{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}',
      );
    case 'stream':
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        'x-internal-secret': 'upstream-only',
        'set-cookie': 'upstream=1',
      });
      return void res.end(`event: message\ndata: {"jsonrpc":"2.0","id":${message.id},"result":{}}\n\n`);
    default:
      return jsonResult(req, res, seen);
  }
}

describe.each(storeFactories())('pass-through wire rules ($name store)', ({ skip, create }) => {
  let upstream: RawUpstream;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;
  let tokenId: string;

  beforeAll(async () => {
    if (skip) return;
    const made = await create();
    drop = made.drop;
    upstream = await startRawUpstream(scripted);
    gateway = await startTestGateway({ store: made.store });
    ({ token, tokenId } = await gateway.provision({
      org: 'acme',
      brain: 'raw',
      upstreamUrl: upstream.url,
      upstreamHeaders: { 'X-Brain-Key': 'brain-secret', Authorization: 'Bearer brain-upstream-token' },
    }));
  });

  afterAll(async () => {
    if (skip) return;
    await gateway.close();
    await upstream.close();
    await drop();
  });

  afterEach(() => {
    if (!skip) upstream.handler = scripted;
  });

  const send = (init: { method?: string; body?: string; headers?: Record<string, string>; as?: string }) =>
    fetch(`${gateway.url}/brains/raw/mcp`, {
      method: init.method ?? 'POST',
      headers: {
        authorization: `Bearer ${init.as ?? token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...init.headers,
      },
      body: init.body,
    });

  test.skipIf(skip)(
    'MCP headers and the brain credentials go up; the client token and others never do',
    async () => {
      const arrived = upstream.nextRequest();
      const res = await send({
        body: '{"jsonrpc":"2.0","id":1,"method":"stream"}',
        headers: {
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'echo',
          'mcp-param-region': 'eu-west',
          'last-event-id': 'evt-9',
          cookie: 'client=1',
          'x-custom': 'nope',
          'proxy-authorization': 'Basic xyz',
        },
      });
      const seen = await arrived;
      expect(seen.headers).toMatchObject({
        accept: 'application/json, text/event-stream',
        'content-type': 'application/json',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'echo',
        'mcp-param-region': 'eu-west',
        'last-event-id': 'evt-9',
        'x-brain-key': 'brain-secret',
        authorization: 'Bearer brain-upstream-token',
      });
      for (const name of ['cookie', 'x-custom', 'proxy-authorization'])
        expect(seen.headers[name]).toBeUndefined();
      expect(seen.rawHeaders.join('\n')).not.toContain(token);

      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      expect(res.headers.get('mcp-protocol-version')).toBe('2025-11-25');
      expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
      expect(res.headers.get('x-accel-buffering')).toBe('no');
      expect(res.headers.get('x-internal-secret')).toBeNull();
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(await res.text()).toBe('event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n');
    },
  );

  test.skipIf(skip)('the POST body is forwarded byte-for-byte', async () => {
    const body =
      '{ "params" : {"name":"echo","arguments":{"s":"h\\u00e9llo ✓"}},\n "id":7, "jsonrpc":"2.0","method":"tools/call" }';
    const arrived = upstream.nextRequest();
    const res = await send({ body });
    expect((await arrived).body.equals(Buffer.from(body))).toBe(true);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 7, result: {} });
  });

  test.skipIf(skip)('upstream statuses and bodies pass unchanged: 202, 400, 404, 405', async () => {
    const accepted = await send({ body: '{"jsonrpc":"2.0","method":"notifications/initialized"}' });
    expect(accepted.status).toBe(202);
    expect(await accepted.text()).toBe('');

    const bad = await send({ body: '{"jsonrpc":"2.0","id":3,"method":"bad"}' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe(
      '{"jsonrpc":"2.0",  "error":{"code":-32602,"message":"Invalid params: nope"},"id":3}',
    );

    const gone = await send({ body: '{"jsonrpc":"2.0","id":4,"method":"gone"}' });
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual(SESSION_NOT_FOUND);

    // The upstream's challenge concerns the brain's credentials: the status and body pass, the
    // challenge does not (it would send the client's OAuth flow to the upstream's server).
    const unauthorized = await send({ body: '{"jsonrpc":"2.0","id":5,"method":"unauthorized"}' });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('www-authenticate')).toBeNull();
    expect(await unauthorized.text()).toContain('bad upstream key');

    const get = await send({ method: 'GET', headers: { accept: 'text/event-stream' } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST, DELETE');
    await get.arrayBuffer();
  });

  test.skipIf(skip)(
    'an issued session is bound to its token; others and unknown ids get 404 upstream-free',
    async () => {
      const init = await send({
        body: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
      });
      expect(init.headers.get('mcp-session-id')).toBe('sess-upstream-1');
      await init.json();
      expect(await gateway.deps.store.getSession('raw', 'sess-upstream-1')).toMatchObject({
        kind: 'passthrough',
        tokenId,
        ownerInstance: gateway.deps.instanceId,
        protocolVersion: '2025-06-18',
        initParams: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 't', version: '1' },
        },
      });

      const mine = await send({
        body: '{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
        headers: { 'mcp-session-id': 'sess-upstream-1', 'mcp-protocol-version': '2025-11-25' },
      });
      expect(mine.status).toBe(200);
      await mine.arrayBuffer();

      const before = upstream.requests.length;
      const other = await gateway.createToken('acme');
      for (const [as, sessionId] of [
        [other.token, 'sess-upstream-1'],
        [token, 'sess-never-issued'],
        [token, 'bad id with spaces'],
      ] as const) {
        const res = await send({
          as,
          body: '{"jsonrpc":"2.0","id":3,"method":"tools/list"}',
          headers: { 'mcp-session-id': sessionId },
        });
        expect(res.status).toBe(404);
        expect(await res.json()).toEqual(SESSION_NOT_FOUND);
      }
      expect(upstream.requests.length).toBe(before);

      const deleted = await send({ method: 'DELETE', headers: { 'mcp-session-id': 'sess-upstream-1' } });
      expect(deleted.status).toBe(200);
      expect(upstream.requests.at(-1)!.method).toBe('DELETE');
      expect(await gateway.deps.store.getSession('raw', 'sess-upstream-1')).toBeUndefined();
      const afterDelete = await send({
        body: '{"jsonrpc":"2.0","id":4,"method":"tools/list"}',
        headers: { 'mcp-session-id': 'sess-upstream-1' },
      });
      expect(afterDelete.status).toBe(404);
      await afterDelete.arrayBuffer();
      expect(upstream.requests.length).toBe(before + 1);
    },
  );

  test.skipIf(skip)(
    'the negotiated version, first named by the client after initialize, is recorded',
    async () => {
      const init = await send({
        body: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2099-01-01"}}',
      });
      await init.arrayBuffer();
      expect((await gateway.deps.store.getSession('raw', 'sess-upstream-1'))?.protocolVersion).toBe(
        '2099-01-01',
      );
      const next = await send({
        body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        headers: { 'mcp-session-id': 'sess-upstream-1', 'mcp-protocol-version': '2025-11-25' },
      });
      expect(next.status).toBe(202);
      await expect
        .poll(async () => (await gateway.deps.store.getSession('raw', 'sess-upstream-1'))?.protocolVersion)
        .toBe('2025-11-25');
    },
  );

  test.skipIf(skip)('an upstream 404 on a bound session removes the binding', async () => {
    const init = await send({ body: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}' });
    await init.arrayBuffer();
    const gone = await send({
      body: '{"jsonrpc":"2.0","id":5,"method":"gone"}',
      headers: { 'mcp-session-id': 'sess-upstream-1' },
    });
    expect(gone.status).toBe(404);
    await gone.arrayBuffer();
    expect(await gateway.deps.store.getSession('raw', 'sess-upstream-1')).toBeUndefined();
  });
});
