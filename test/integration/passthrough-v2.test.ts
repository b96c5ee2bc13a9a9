/**
 * Pass-through to a 2026-07-28-only upstream (SDK v2 `createMcpHandler`, legacy: 'reject') with the SDK
 * v2 client pinned to 2026-07-28: stateless requests (no Mcp-Session-Id) pass straight through, the
 * 2026 request headers reach the upstream, and a tools/call that needs elicitation completes through
 * MRTR (`input_required`, then a retry with `inputResponses` + `requestState`).
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { storeFactories } from '../helpers/stores.js';
import { startV2Server, type V2Server } from '../helpers/v2-server.js';

describe.each(storeFactories())('pass-through to a 2026-07-28 upstream ($name store)', ({ skip, create }) => {
  let upstream: V2Server;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;

  beforeAll(async () => {
    if (skip) return;
    const made = await create();
    drop = made.drop;
    upstream = await startV2Server();
    gateway = await startTestGateway({ store: made.store });
    ({ token } = await gateway.provision({
      org: 'acme',
      brain: 'modern',
      upstreamUrl: upstream.url,
      upstreamHeaders: { 'x-brain-key': 'brain-secret' },
    }));
  });

  afterAll(async () => {
    if (skip) return;
    await gateway.close();
    await upstream.close();
    await drop();
  });

  async function connect(elicitations: string[]): Promise<Client> {
    const client = new Client(
      { name: 'v2-test', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    client.setRequestHandler('elicitation/create', async (request) => {
      elicitations.push(request.params.message);
      return { action: 'accept', content: { ok: true } };
    });
    const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}/brains/modern/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    await client.connect(transport);
    return client;
  }

  test.skipIf(skip)('a tools/call that needs elicitation completes through MRTR', async () => {
    const elicitations: string[] = [];
    const client = await connect(elicitations);
    try {
      expect(client.getProtocolEra()).toBe('modern');
      const result = await client.callTool({ name: 'confirm', arguments: { env: 'prod' } });
      expect(result.content).toEqual([{ type: 'text', text: 'confirmed=true env=prod' }]);
      expect(elicitations).toEqual(['Deploy to prod?']);

      const calls = upstream.seen.filter((r) => r.headers['mcp-name'] === 'confirm');
      // First round answered input_required, the retry completed: two POSTs, no session anywhere.
      expect(calls).toHaveLength(2);
      for (const call of calls) {
        expect(call.method).toBe('POST');
        expect(call.headers['mcp-protocol-version']).toBe('2026-07-28');
        expect(call.headers['mcp-method']).toBe('tools/call');
        expect(call.headers['mcp-session-id']).toBeUndefined();
        expect(call.headers['x-brain-key']).toBe('brain-secret');
        expect(call.headers.authorization).toBeUndefined();
      }
    } finally {
      await client.close();
    }
  });

  test.skipIf(skip)('stateless requests bind no session', async () => {
    const client = await connect([]);
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name).sort()).toEqual(['confirm', 'echo']);
      const echo = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
      expect(echo.content).toEqual([{ type: 'text', text: 'echo: hi' }]);
      expect(await gateway.deps.store.listSessions({ brain: 'modern' })).toEqual([]);
    } finally {
      await client.close();
    }
  });

  test.skipIf(skip)('GET and DELETE get the upstream 405 unchanged', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${gateway.url}/brains/modern/mcp`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      });
      expect(res.status).toBe(405);
      await res.arrayBuffer();
    }
  });
});
