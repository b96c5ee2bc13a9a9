/**
 * Era translation on the Streamable HTTP face (issue 6 §1, §3): an SDK v1 `StreamableHTTPClientTransport`
 * client (2025-11-25) talks through `/brains/:brain/mcp` to an SDK v2 upstream that speaks 2026-07-28
 * only, on both stores. The gateway issues its own Mcp-Session-Id (held in the Store), translates every
 * request, streams MRTR rounds as real server→client requests on the POST's stream, and feeds the GET
 * stream from subscriptions/listen. The SDK v2 client in 2026 mode, and a 2025 client of a dual-era
 * upstream, pass straight through. The admin can pin the era.
 */
import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
} from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  McpError,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { COUNTER_URI, type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.js';
import { storeFactories } from '../helpers/stores.js';

const text = (result: unknown) =>
  ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n');

interface Connected {
  client: Client;
  transport: StreamableHTTPClientTransport;
  elicitations: string[];
}

async function connect(
  url: string,
  token: string,
  capabilities: Record<string, unknown> = { sampling: {}, elicitation: {} },
) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'v1-shttp', version: '3.2.1' }, { capabilities });
  const elicitations: string[] = [];
  if (capabilities.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      elicitations.push(request.params.message);
      return { action: 'accept', content: { ok: true } };
    });
  }
  if (capabilities.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({
      model: 'test-llm',
      role: 'assistant',
      content: { type: 'text', text: 'short' },
    }));
  }
  await client.connect(transport);
  return { client, transport, elicitations } satisfies Connected;
}

describe.each(storeFactories())(
  '2025 Streamable HTTP client → 2026-07-28-only upstream ($name store)',
  ({ skip, create }) => {
    let upstream: ModernUpstream;
    let dual: ModernUpstream;
    let gateway: TestGateway;
    let drop: () => Promise<void>;
    let token: string;
    let tokenId: string;
    let main: Connected;
    const mcp = (brain: string) => `${gateway.url}/brains/${brain}/mcp`;

    beforeAll(async () => {
      if (skip) return;
      const made = await create();
      drop = made.drop;
      upstream = await startModernUpstream();
      dual = await startModernUpstream({ legacy: 'stateless' });
      gateway = await startTestGateway({ store: made.store });
      ({ token, tokenId } = await gateway.provision({
        org: 'acme',
        brain: 'modern',
        upstreamUrl: upstream.url,
        upstreamHeaders: { 'x-brain-key': 'brain-secret' },
      }));
      const brain = await gateway.admin('POST', '/orgs/acme/brains', { id: 'dual', upstreamUrl: dual.url });
      expect(brain.status).toBe(201);
      main = await connect(mcp('modern'), token);
    });

    afterAll(async () => {
      if (skip) return;
      await main?.client.close();
      await gateway?.close();
      await upstream?.close();
      await dual?.close();
      await drop?.();
    });

    test.skipIf(skip)(
      'initialize: a gateway-issued session, held in the store, answered from server/discover',
      async () => {
        const sessionId = main.transport.sessionId!;
        expect(sessionId).toMatch(/^t-[0-9A-Za-z]{22,}$/);
        expect(main.client.getServerVersion()).toEqual({ name: 'modern-upstream', version: '2.0.0' });
        expect(main.client.getServerCapabilities()).toMatchObject({ resources: { subscribe: true } });
        expect(await gateway.deps.store.getSession('modern', sessionId)).toMatchObject({
          kind: 'translated',
          tokenId,
          protocolVersion: '2025-11-25',
          upstreamSessionId: null,
          initParams: { initialize: { clientInfo: { name: 'v1-shttp', version: '3.2.1' } }, rev: 0 },
        });
        // The upstream refused the 2025 initialize once (it has no 2025 leg); nothing more of it went up.
        expect(upstream.calls('initialize')).toHaveLength(1);
        expect(upstream.seen.every((r) => r.headers['mcp-session-id'] === undefined)).toBe(true);
        await main.client.ping();
        expect(upstream.calls('ping')).toEqual([]);
      },
    );

    test.skipIf(skip)('plain tool with logs after setLevel; the 2026 headers and _meta go up', async () => {
      const { client } = main;
      const logs: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        logs.push(n.params.data);
      });
      await client.setLoggingLevel('info');
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe('echo: hi');
      expect(logs).toEqual(['echo called with hi']);
      const call = upstream.calls('tools/call', 'echo').at(-1)!;
      expect(call.headers).toMatchObject({
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'echo',
        'x-brain-key': 'brain-secret',
      });
      expect(call.headers.authorization).toBeUndefined();
      expect(call.body?.params?._meta).toMatchObject({
        'io.modelcontextprotocol/logLevel': 'info',
        'io.modelcontextprotocol/clientInfo': { name: 'v1-shttp', version: '3.2.1' },
      });
      // Translated requests are audited like any other (issue 7 §4): method and tool name, no body.
      await expect
        .poll(
          async () => {
            const res = await gateway.admin('GET', '/audit?brain=modern');
            const { records } = (await res.json()) as {
              records: Array<{ method: string; name: string | null }>;
            };
            return records.some((r) => r.method === 'tools/call' && r.name === 'echo');
          },
          { timeout: 5_000, interval: 100 },
        )
        .toBe(true);
    });

    test.skipIf(skip)('elicitation and sampling through MRTR, on the POST stream', async () => {
      expect(text(await main.client.callTool({ name: 'confirm', arguments: { env: 'prod' } }))).toBe(
        'confirmed=true env=prod state=phase1:prod',
      );
      expect(main.elicitations.at(-1)).toBe('Deploy to prod?');
      expect(upstream.calls('tools/call', 'confirm').at(-1)!.body?.params).toMatchObject({
        requestState: 'phase1:prod',
        inputResponses: { ok: { action: 'accept', content: { ok: true } } },
      });
      expect(text(await main.client.callTool({ name: 'summarize', arguments: { text: 't' } }))).toBe(
        'summary: short',
      );
    });

    test.skipIf(skip)('an x-mcp-header argument goes up as Mcp-Param-Region', async () => {
      expect(
        text(await main.client.callTool({ name: 'regional', arguments: { region: 'ap-south', query: 'x' } })),
      ).toBe('ap-south: x');
      expect(upstream.calls('tools/call', 'regional').at(-1)!.headers['mcp-param-region']).toBe('ap-south');
    });

    test.skipIf(skip)(
      'subscribe: resources/updated reaches the GET stream, fed by subscriptions/listen',
      async () => {
        const { client } = main;
        const updated = new Promise<string>((resolve) =>
          client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)),
        );
        await client.subscribeResource({ uri: COUNTER_URI });
        const record = await gateway.deps.store.getSession('modern', main.transport.sessionId!);
        expect(record?.initParams).toMatchObject({ subscriptions: [COUNTER_URI] });
        await client.callTool({ name: 'bump', arguments: {} });
        expect(await updated).toBe(COUNTER_URI);
      },
    );

    test.skipIf(skip)('error mapping, and a clear error for what cannot be translated', async () => {
      const missing = await main.client.readResource({ uri: 'mem://missing' }).catch((e: unknown) => e);
      expect((missing as McpError).code).toBe(-32002);

      const bare = await connect(mcp('modern'), token, {});
      try {
        const err = await bare.client
          .callTool({ name: 'summarize', arguments: { text: 'x' } })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(McpError);
        expect((err as McpError).code).toBe(-32600);
        expect((err as McpError).message).toMatch(/sampling/);
      } finally {
        await bare.client.close();
      }

      const tasks = await fetch(mcp('modern'), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': main.transport.sessionId!,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 'tk', method: 'tasks/get', params: { taskId: 'x' } }),
      });
      expect(await tasks.json()).toMatchObject({
        id: 'tk',
        error: { code: -32601, message: expect.stringMatching(/tasks/) },
      });
    });

    test.skipIf(skip)(
      'cancel during a pending MRTR round: withdrawn from the client, no retry upstream',
      async () => {
        const transport = new StreamableHTTPClientTransport(new URL(mcp('modern')), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        });
        const client = new Client({ name: 'v1-cancel', version: '1' }, { capabilities: { elicitation: {} } });
        let asked!: () => void;
        const askedPromise = new Promise<void>((resolve) => (asked = resolve));
        let withdrawn!: () => void;
        const withdrawnPromise = new Promise<void>((resolve) => (withdrawn = resolve));
        client.setRequestHandler(ElicitRequestSchema, (_request, extra) => {
          asked();
          return new Promise((_resolve, reject) => {
            extra.signal.addEventListener('abort', () => {
              withdrawn();
              reject(new Error('withdrawn'));
            });
          });
        });
        await client.connect(transport);
        try {
          const before = upstream.calls('tools/call', 'confirm').length;
          const controller = new AbortController();
          const call = client.callTool({ name: 'confirm', arguments: { env: 'qa' } }, undefined, {
            signal: controller.signal,
          });
          await askedPromise;
          controller.abort('changed my mind');
          await expect(call).rejects.toThrow();
          await withdrawnPromise;
          expect(text(await client.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe(
            'echo: after',
          );
          expect(upstream.calls('tools/call', 'confirm').length - before).toBe(1);
        } finally {
          await client.close();
        }
      },
    );

    test.skipIf(skip)('DELETE ends the session: the record goes, the id is unknown afterwards', async () => {
      const temp = await connect(mcp('modern'), token);
      const sessionId = temp.transport.sessionId!;
      await temp.transport.terminateSession();
      await temp.client.close();
      expect(await gateway.deps.store.getSession('modern', sessionId)).toBeUndefined();
      const after = await fetch(mcp('modern'), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': sessionId,
        },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      });
      expect(after.status).toBe(404);
      await after.arrayBuffer();
    });

    test.skipIf(skip)('another token cannot use the session (same 404 as an unknown one)', async () => {
      const other = await gateway.createToken('acme');
      const res = await fetch(mcp('modern'), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${other.token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': main.transport.sessionId!,
        },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        jsonrpc: '2.0',
        error: { code: -32001, message: 'Session not found' },
        id: null,
      });
    });

    test.skipIf(skip)('the SDK v2 client in 2026 mode passes straight through', async () => {
      const client = new V2Client(
        { name: 'v2-modern', version: '1' },
        { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
      );
      client.setRequestHandler('elicitation/create', async () => ({
        action: 'accept',
        content: { ok: false },
      }));
      await client.connect(
        new V2Transport(new URL(mcp('modern')), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      try {
        const sessionsBefore = (await gateway.deps.store.listSessions({ brain: 'modern' })).length;
        const result = await client.callTool({ name: 'confirm', arguments: { env: 'v2' } });
        expect(result.content).toEqual([{ type: 'text', text: 'confirmed=false env=v2 state=phase1:v2' }]);
        const call = upstream.calls('tools/call', 'confirm').at(-1)!;
        // The client's own envelope, untouched: its clientInfo, not one the gateway made up.
        expect(call.body?.params?._meta).toMatchObject({
          'io.modelcontextprotocol/clientInfo': { name: 'v2-modern' },
        });
        expect((await gateway.deps.store.listSessions({ brain: 'modern' })).length).toBe(sessionsBefore);
      } finally {
        await client.close();
      }
    });

    test.skipIf(skip)('a 2025 client of a dual-era upstream keeps going straight through', async () => {
      const client = await connect(mcp('dual'), token, {});
      try {
        expect(client.transport.sessionId).toBeUndefined(); // the SDK's stateless 2025 leg issues none
        expect(text(await client.client.callTool({ name: 'echo', arguments: { message: 'own era' } }))).toBe(
          'echo: own era',
        );
        const init = dual.calls('initialize');
        expect(init).toHaveLength(1);
        expect(init[0]!.body?.params).toMatchObject({ clientInfo: { name: 'v1-shttp' } });
        expect(await gateway.deps.store.listSessions({ brain: 'dual', kind: 'translated' })).toEqual([]);
      } finally {
        await client.client.close();
      }
    });

    test.skipIf(skip)(
      'pinned: era 2026 translates without trying the upstream; era 2025 passes through',
      async () => {
        const create = await gateway.admin('POST', '/orgs/acme/brains', {
          id: 'pinned',
          upstreamUrl: dual.url,
          era: '2026',
        });
        expect(create.status).toBe(201);
        expect(await create.json()).toMatchObject({ id: 'pinned', era: '2026' });
        const initsBefore = dual.calls('initialize').length;
        const pinned = await connect(mcp('pinned'), token, {});
        try {
          expect(pinned.transport.sessionId).toMatch(/^t-/);
          expect(dual.calls('initialize').length).toBe(initsBefore);
        } finally {
          await pinned.client.close();
        }

        const patch = await gateway.admin('PATCH', '/brains/modern', { era: '2025' });
        expect(await patch.json()).toMatchObject({ era: '2025' });
        try {
          // The upstream's own answer to a 2025 initialize, passed through: it speaks 2026-07-28 only.
          const err = await connect(mcp('modern'), token, {}).catch((e: unknown) => e);
          expect(String(err)).toMatch(/Unsupported protocol version/);
        } finally {
          await gateway.admin('PATCH', '/brains/modern', { era: 'auto' });
        }
        const bad = await gateway.admin('PATCH', '/brains/modern', { era: '2024' });
        expect(bad.status).toBe(400);
        expect(await bad.json()).toMatchObject({ error: { code: 'ERR_VALIDATION', field: 'era' } });
      },
    );
  },
);
