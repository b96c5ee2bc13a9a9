/**
 * Pass-through to `@modelcontextprotocol/server-everything` (2025-11-25, stateful) with the SDK v1
 * Streamable HTTP client, on both stores: the whole session life (initialize → tools → progress → pushes
 * on the GET stream → sampling and elicitation answered by the client → DELETE), the session binding in
 * the store, cross-token use, and revocation mid-session.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type EverythingServer, startEverything } from '../helpers/everything.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { storeFactories } from '../helpers/stores.js';

interface Connected {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** Everything the standalone GET stream carried so far, as text. */
  getStream: { text: string; opened: Promise<void>; ended: Promise<void> };
}

async function connect(gateway: TestGateway, token: string): Promise<Connected> {
  let endGet!: () => void;
  let openGet!: () => void;
  const getStream = {
    text: '',
    opened: new Promise<void>((resolve) => (openGet = resolve)),
    ended: new Promise<void>((resolve) => (endGet = resolve)),
  };
  // Observe the GET stream's raw bytes, so the test can tell a push came on it and not on a POST reply.
  const observingFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (init?.method !== 'GET' || !res.body || !res.ok) return res;
    openGet();
    const [forClient, forTest] = res.body.tee();
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of forTest) getStream.text += decoder.decode(chunk, { stream: true });
      } catch {}
      endGet();
    })();
    return new Response(forClient, { status: res.status, headers: res.headers });
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}/brains/everything/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    fetch: observingFetch,
  });
  const client = new Client(
    { name: 'v1-test', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {} } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
    model: 'test-model',
    role: 'assistant',
    content: { type: 'text', text: `sampled: ${request.params.messages.length} message(s)` },
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({
    action: 'accept',
    content: { name: 'Ada Lovelace', check: true },
  }));
  await client.connect(transport);
  return { client, transport, getStream };
}

const text = (result: unknown) =>
  ((result as { content: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n');

describe.each(storeFactories())('pass-through to server-everything ($name store)', ({ skip, create }) => {
  let everything: EverythingServer;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;
  let tokenId: string;

  beforeAll(async () => {
    if (skip) return;
    const made = await create();
    drop = made.drop;
    everything = await startEverything();
    gateway = await startTestGateway({ store: made.store });
    ({ token, tokenId } = await gateway.provision({
      org: 'acme',
      brain: 'everything',
      upstreamUrl: everything.url,
    }));
  });

  afterAll(async () => {
    if (skip) return;
    await gateway.close();
    await everything.stop();
    await drop();
  });

  test.skipIf(skip)(
    'a whole session: tools, progress, GET pushes, sampling, elicitation, DELETE',
    async () => {
      const { client, transport, getStream } = await connect(gateway, token);
      const sessionId = transport.sessionId!;
      expect(sessionId).toBeTruthy();

      const record = await gateway.deps.store.getSession('everything', sessionId);
      expect(record).toMatchObject({
        kind: 'passthrough',
        org: 'acme',
        tokenId,
        ownerInstance: gateway.deps.instanceId,
        upstreamSessionId: sessionId,
        protocolVersion: '2025-11-25',
      });

      const tools = (await client.listTools()).tools.map((t) => t.name);
      expect(tools).toEqual(
        expect.arrayContaining([
          'echo',
          'get-sum',
          'trigger-sampling-request',
          'trigger-elicitation-request',
        ]),
      );
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe('Echo: hi');
      expect(text(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } }))).toContain('42');

      const progress: number[] = [];
      const long = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(text(long)).toContain('Long running operation completed');
      expect(progress).toEqual([1, 2, 3, 4]);

      // Logs not tied to a request travel on the standalone GET stream (the first one is sent at once).
      await client.setLoggingLevel('debug');
      const pushed = new Promise<string>((resolve) =>
        client.setNotificationHandler(LoggingMessageNotificationSchema, (n) =>
          resolve(String(n.params.data)),
        ),
      );
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
      const data = await pushed;
      expect(data).toContain(sessionId);
      expect(getStream.text).toContain(JSON.stringify(data).slice(1, -1));
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });

      const sampled = await client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'hello' },
      });
      expect(text(sampled)).toContain('sampled: 1 message(s)');
      const elicited = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      expect(text(elicited)).toContain('Name: Ada Lovelace');

      await transport.terminateSession();
      expect(await gateway.deps.store.getSession('everything', sessionId)).toBeUndefined();
      const after = await fetch(`${gateway.url}/brains/everything/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sessionId,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(after.status).toBe(404);
      expect(await after.json()).toEqual({
        jsonrpc: '2.0',
        error: { code: -32001, message: 'Session not found' },
        id: null,
      });
      await client.close();
    },
  );

  test.skipIf(skip)('admin notify reaches the client on its standalone GET stream', async () => {
    const { client, transport, getStream } = await connect(gateway, token);
    await getStream.opened;
    const got = new Promise<unknown>((resolve) =>
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => resolve(n.params)),
    );
    const res = await gateway.admin('POST', '/brains/everything/notify', {
      level: 'warning',
      logger: 'ops',
      data: 'maintenance at noon',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ delivered: 1 });
    expect(await got).toEqual({ level: 'warning', logger: 'ops', data: 'maintenance at noon' });
    expect(getStream.text).toContain('"data":"maintenance at noon"');
    // The session's own traffic is unaffected by the gateway's event between the upstream's.
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe(
      'Echo: after',
    );
    await transport.terminateSession();
    await client.close();
    // Its stream ended with the session: nothing left to deliver to.
    await getStream.ended;
    const again = await gateway.admin('POST', '/brains/everything/notify', { level: 'info', data: 1 });
    expect(await again.json()).toEqual({ delivered: 0 });
  });

  test.skipIf(skip)(
    'another token of the same org cannot use the session: 404 session-not-found',
    async () => {
      const { client, transport } = await connect(gateway, token);
      const other = await gateway.createToken('acme');
      const res = await fetch(`${gateway.url}/brains/everything/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${other.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': transport.sessionId!,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'echo', arguments: { message: 'x' } },
        }),
      });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        jsonrpc: '2.0',
        error: { code: -32001, message: 'Session not found' },
        id: null,
      });
      // The owner carries on.
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'still mine' } }))).toBe(
        'Echo: still mine',
      );
      await transport.terminateSession();
      await client.close();
    },
  );

  test.skipIf(skip)(
    'a token revoked mid-session gets 401 on its next request and loses its GET stream',
    async () => {
      const mine = await gateway.createToken('acme');
      const { client, transport, getStream } = await connect(gateway, mine.token);
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'before' } }))).toBe(
        'Echo: before',
      );

      const revoked = await gateway.admin('DELETE', `/tokens/${mine.tokenId}`);
      expect(revoked.status).toBe(204);
      await getStream.ended;

      const res = await fetch(`${gateway.url}/brains/everything/mcp`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${mine.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': transport.sessionId!,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('invalid_token');
      await res.arrayBuffer();
      await expect(client.callTool({ name: 'echo', arguments: { message: 'after' } })).rejects.toMatchObject({
        code: 401,
      });
      await client.close();
    },
  );
});
