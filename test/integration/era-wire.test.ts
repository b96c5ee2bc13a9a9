/**
 * Era translation against a scripted 2026-07-28 upstream (raw node:http), for what a real SDK server
 * will not do on demand (issue 6 §2, §4): a tool whose `x-mcp-header` annotation changed since the
 * gateway listed it (-32020, list again, retry once), an upstream that keeps answering input_required,
 * input_required on a method MRTR does not allow, -32022, a non-JSON-RPC failure, and URL-mode
 * elicitation for clients with and without `elicitation.url`. Legacy face, raw client, memory store.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { openLegacy, type RawLegacyClient } from '../helpers/legacy-client.js';
import { type RawUpstream, type SeenRequest, startRawUpstream } from '../helpers/raw-upstream.js';

type Body = { id?: unknown; method?: string; params?: Record<string, unknown> };

describe('era translation on the wire (scripted 2026-07-28 upstream)', () => {
  let upstream: RawUpstream;
  let gateway: TestGateway;
  let token: string;
  /** The header the `t` tool's `r` argument is annotated with right now. */
  let header = 'Alpha';
  /** Set to end the next listen stream right after its ack (an upstream restart, say). */
  let endNextListen = false;
  /** The latest listen stream left open. */
  let lastListen: ServerResponse | undefined;

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  function script(req: IncomingMessage, res: ServerResponse, seen: SeenRequest) {
    const body = JSON.parse(seen.body.toString() || '{}') as Body;
    const ok = (result: Record<string, unknown>) =>
      reply(res, 200, { jsonrpc: '2.0', id: body.id, result: { ...result, resultType: 'complete' } });
    const inputRequired = (result: Record<string, unknown>) =>
      reply(res, 200, { jsonrpc: '2.0', id: body.id, result: { resultType: 'input_required', ...result } });
    const fail = (status: number, code: number, message: string, data?: unknown) =>
      reply(res, status, { jsonrpc: '2.0', id: body.id, error: { code, message, data } });
    const tool = body.params?.name;
    switch (body.method) {
      case 'server/discover':
        return ok({
          supportedVersions: ['2026-07-28'],
          capabilities: { tools: { listChanged: true }, prompts: {} },
          _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'scripted', version: '1' } },
        });
      case 'subscriptions/listen': {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const ack = {
          jsonrpc: '2.0',
          method: 'notifications/subscriptions/acknowledged',
          params: {
            notifications: { toolsListChanged: true },
            _meta: { 'io.modelcontextprotocol/subscriptionId': body.id },
          },
        };
        res.write(`data: ${JSON.stringify(ack)}\n\n`);
        if (endNextListen) {
          endNextListen = false;
          return void res.end();
        }
        lastListen = res;
        return;
      }
      case 'tools/list':
        return ok({
          tools: [
            {
              name: 't',
              inputSchema: { type: 'object', properties: { r: { type: 'string', 'x-mcp-header': header } } },
            },
          ],
        });
      case 'prompts/list':
        return inputRequired({ requestState: 'never' });
      case 'resources/list':
        return fail(400, -32022, 'Unsupported protocol version: 2026-07-28', {
          supported: ['2027-01-01'],
          requested: '2026-07-28',
        });
      case 'resources/templates/list':
        res.writeHead(500, { 'content-type': 'text/plain' });
        return void res.end('boom');
      case 'tools/call':
        if (tool === 't') {
          const name = `mcp-param-${header.toLowerCase()}`;
          if (req.headers[name] !== (body.params?.arguments as { r?: string } | undefined)?.r) {
            return fail(400, -32020, `the ${name} header is absent or disagrees`);
          }
          return ok({ content: [{ type: 'text', text: `t via ${header}` }] });
        }
        if (tool === 'loop') return inputRequired({ requestState: `round-${upstream.requests.length}` });
        if (tool === 'login') {
          if (body.params?.inputResponses) return ok({ content: [{ type: 'text', text: 'logged in' }] });
          return inputRequired({
            inputRequests: {
              signin: {
                method: 'elicitation/create',
                params: { mode: 'url', message: 'Sign in', url: 'https://idp.example/login' },
              },
            },
          });
        }
        return fail(200, -32602, `Unknown tool: ${String(tool)}`);
      default:
        return fail(404, -32601, 'Method not found');
    }
  }

  beforeAll(async () => {
    upstream = await startRawUpstream(script);
    gateway = await startTestGateway();
    const org = await gateway.admin('POST', '/orgs', { slug: 'acme' });
    expect(org.status).toBe(201);
    const brain = await gateway.admin('POST', '/orgs/acme/brains', {
      id: 'scripted',
      upstreamUrl: upstream.url,
      era: '2026',
    });
    expect(brain.status).toBe(201);
    ({ token } = await gateway.createToken('acme'));
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function session(capabilities: Record<string, unknown> = {}): Promise<RawLegacyClient> {
    const client = await openLegacy(gateway.url, 'scripted', token);
    await client.call('init', 'initialize', {
      protocolVersion: '2025-11-25',
      capabilities,
      clientInfo: { name: 'raw', version: '1' },
    });
    return client;
  }

  const calls = (tool: string) =>
    upstream.requests.filter((r) => {
      const body = JSON.parse(r.body.toString() || '{}') as Body;
      return body.method === 'tools/call' && body.params?.name === tool;
    });

  test('an x-mcp-header annotation that changed: -32020, the tools are listed again, one retry', async () => {
    const client = await session();
    try {
      expect(
        (await client.call(1, 'tools/call', { name: 't', arguments: { r: 'one' } })).result,
      ).toMatchObject({
        content: [{ text: 't via Alpha' }],
      });
      header = 'Beta';
      const before = calls('t').length;
      expect(
        (await client.call(2, 'tools/call', { name: 't', arguments: { r: 'two' } })).result,
      ).toMatchObject({
        content: [{ text: 't via Beta' }],
      });
      const [refused, retried] = calls('t').slice(before);
      expect(refused!.headers['mcp-param-alpha']).toBe('two');
      expect(retried!.headers['mcp-param-beta']).toBe('two');
    } finally {
      client.close();
    }
  });

  test('an upstream that keeps asking is cut off after a bounded number of rounds', async () => {
    const client = await session();
    try {
      const answer = await client.call(3, 'tools/call', { name: 'loop', arguments: {} });
      expect(answer.error).toMatchObject({
        code: -32603,
        message: expect.stringMatching(/more than 8 times/),
      });
      expect(calls('loop')).toHaveLength(9);
    } finally {
      client.close();
    }
  });

  test('input_required where MRTR does not allow it, -32022 and a non-JSON-RPC failure: clear errors', async () => {
    const client = await session();
    try {
      const prompts = await client.call(4, 'prompts/list');
      expect(prompts.error).toMatchObject({ code: -32603, message: expect.stringMatching(/input_required/) });
      const resources = await client.call(5, 'resources/list');
      expect(resources.error).toMatchObject({
        code: -32603,
        message: expect.stringMatching(/does not speak protocol version 2026-07-28/),
        data: { upstreamCode: -32022, supported: ['2027-01-01'] },
      });
      const templates = await client.call(6, 'resources/templates/list');
      expect(templates.error).toEqual({ code: -32000, message: 'Upstream error: HTTP 500' });
    } finally {
      client.close();
    }
  });

  test('URL-mode elicitation: a 2025-11-25 client with elicitation.url gets it with an elicitationId', async () => {
    const client = await session({ elicitation: { url: {} } });
    try {
      const asked = client.next((m) => m.method === 'elicitation/create');
      const done = client.next((m) => m.id === 7);
      await client.post({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'login', arguments: {} },
      });
      const request = await asked;
      expect(request.params).toMatchObject({
        mode: 'url',
        url: 'https://idp.example/login',
        elicitationId: expect.any(String),
      });
      await client.post({ jsonrpc: '2.0', id: request.id, result: { action: 'accept' } });
      expect((await done).result).toMatchObject({ content: [{ text: 'logged in' }] });
    } finally {
      client.close();
    }
  });

  test('URL-mode elicitation for a client without elicitation.url: refused, naming the capability', async () => {
    const client = await session({ elicitation: {} });
    try {
      const answer = await client.call(8, 'tools/call', { name: 'login', arguments: {} });
      expect(answer.error).toMatchObject({
        code: -32600,
        message: expect.stringMatching(/elicitation\.url/),
      });
      expect(client.messages.some((m) => m.method === 'elicitation/create')).toBe(false);
    } finally {
      client.close();
    }
  });

  test('a listen stream that ends is opened again; its notifications reach the client', async () => {
    const client = await session();
    const listening = () =>
      upstream.requests.filter(
        (r) => JSON.parse(r.body.toString() || '{}').method === 'subscriptions/listen',
      );
    try {
      const before = listening().length;
      endNextListen = true;
      await client.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
      // The first stream ends after its ack; the gateway listens again after a short backoff.
      while (listening().length < before + 2) await upstream.nextRequest();
      const changed = client.next((m) => m.method === 'notifications/tools/list_changed');
      const note = {
        jsonrpc: '2.0',
        method: 'notifications/tools/list_changed',
        params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 'x' } },
      };
      lastListen!.write(`data: ${JSON.stringify(note)}\n\n`);
      // Without the subscription id, as a 2025 client expects it.
      expect(await changed).toEqual({
        jsonrpc: '2.0',
        method: 'notifications/tools/list_changed',
        params: {},
      });
    } finally {
      client.close();
    }
  });
});
