/**
 * Era translation on the legacy face (issue 6 §2): an SDK v1 `SSEClientTransport` client talks through
 * `/brains/:brain/sse` to an SDK v2 upstream that speaks 2026-07-28 only, on both stores. The gateway
 * answers initialize from server/discover, sends every request in the 2026 shape (headers, `_meta`,
 * Mcp-Param-*), turns MRTR into real elicitation/sampling requests, feeds subscriptions from
 * subscriptions/listen, maps errors, and cancels a pending MRTR round on both sides. A raw client checks
 * what the SDK hides (local ping, tasks refused, the initialize result).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  McpError,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { openLegacy } from '../helpers/legacy-client.js';
import { COUNTER_URI, type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.js';
import { storeFactories } from '../helpers/stores.js';

const text = (result: unknown) =>
  ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n');

interface Connected {
  client: Client;
  elicitations: string[];
  samplings: string[];
}

async function connect(
  gateway: TestGateway,
  token: string,
  capabilities: Record<string, unknown> = { sampling: {}, elicitation: {} },
  brain = 'modern',
): Promise<Connected> {
  const transport = new SSEClientTransport(new URL(`${gateway.url}/brains/${brain}/sse`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'v1-sse', version: '1.2.3' }, { capabilities });
  const elicitations: string[] = [];
  const samplings: string[] = [];
  if (capabilities.elicitation) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      elicitations.push(request.params.message);
      return { action: 'accept', content: { ok: true } };
    });
  }
  if (capabilities.sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      const first = request.params.messages[0]?.content as { text?: string };
      samplings.push(first.text ?? '');
      return { model: 'test-llm', role: 'assistant', content: { type: 'text', text: 'short' } };
    });
  }
  await client.connect(transport);
  return { client, elicitations, samplings };
}

describe.each(storeFactories())(
  'legacy SSE client → 2026-07-28-only upstream ($name store)',
  ({ skip, create }) => {
    let upstream: ModernUpstream;
    let gateway: TestGateway;
    let drop: () => Promise<void>;
    let token: string;
    let tokenId: string;
    let main: Connected;

    beforeAll(async () => {
      if (skip) return;
      const made = await create();
      drop = made.drop;
      upstream = await startModernUpstream();
      gateway = await startTestGateway({ store: made.store });
      ({ token, tokenId } = await gateway.provision({
        org: 'acme',
        brain: 'modern',
        upstreamUrl: upstream.url,
        upstreamHeaders: { 'x-brain-key': 'brain-secret' },
      }));
      main = await connect(gateway, token);
    });

    afterAll(async () => {
      if (skip) return;
      await main?.client.close();
      await gateway?.close();
      await upstream?.close();
      await drop?.();
    });

    test.skipIf(skip)('initialize is answered from server/discover; ping never goes upstream', async () => {
      const { client } = main;
      expect(client.getServerVersion()).toEqual({ name: 'modern-upstream', version: '2.0.0' });
      expect(client.getServerCapabilities()).toMatchObject({
        logging: {},
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
      });
      expect(client.getInstructions()).toBe('A 2026-07-28-only test upstream');
      await client.ping();
      expect(upstream.seen.some((r) => r.body?.method === 'initialize' || r.body?.method === 'ping')).toBe(
        false,
      );
      // The era was probed once, with a modern request (spec2026.md §1.7).
      expect(upstream.calls('server/discover').length).toBeGreaterThanOrEqual(1);
    });

    test.skipIf(skip)('a plain tool, with the 2026 headers and _meta; logs follow setLevel', async () => {
      const { client } = main;
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([
        'bump',
        'confirm',
        'echo',
        'regional',
        'summarize',
        'where',
      ]);

      const logs: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        logs.push(n.params.data);
      });
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'quiet' } }))).toBe(
        'echo: quiet',
      );
      await client.setLoggingLevel('debug');
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe('echo: hi');
      expect(logs).toEqual(['echo called with hi']);

      const [quiet, loud] = upstream.calls('tools/call', 'echo');
      for (const call of [quiet!, loud!]) {
        expect(call.headers).toMatchObject({
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'echo',
          'x-brain-key': 'brain-secret',
        });
        expect(call.headers['mcp-session-id']).toBeUndefined();
        expect(call.headers.authorization).toBeUndefined();
        expect(call.body?.params?._meta).toMatchObject({
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientInfo': { name: 'v1-sse', version: '1.2.3' },
          'io.modelcontextprotocol/clientCapabilities': { sampling: {}, elicitation: { form: {} } },
        });
      }
      expect(quiet!.body?.params?._meta).not.toHaveProperty(['io.modelcontextprotocol/logLevel']);
      expect(loud!.body?.params?._meta).toMatchObject({ 'io.modelcontextprotocol/logLevel': 'debug' });
      // setLevel is the gateway's to answer: the upstream never saw it.
      expect(upstream.calls('logging/setLevel')).toEqual([]);
    });

    test.skipIf(skip)(
      'elicitation: input_required becomes a real request, the retry carries the answer',
      async () => {
        const before = upstream.calls('tools/call', 'confirm').length;
        const result = await main.client.callTool({ name: 'confirm', arguments: { env: 'prod' } });
        expect(text(result)).toBe('confirmed=true env=prod state=phase1:prod');
        expect(main.elicitations.at(-1)).toBe('Deploy to prod?');
        const [first, retry] = upstream.calls('tools/call', 'confirm').slice(before);
        expect(first!.body?.params).not.toHaveProperty('inputResponses');
        expect(retry!.body?.id).not.toEqual(first!.body?.id);
        expect(retry!.body?.params).toMatchObject({
          name: 'confirm',
          arguments: { env: 'prod' },
          inputResponses: { ok: { action: 'accept', content: { ok: true } } },
          requestState: 'phase1:prod',
        });
      },
    );

    test.skipIf(skip)('sampling: the client LLM answers through the gateway', async () => {
      const result = await main.client.callTool({ name: 'summarize', arguments: { text: 'a long story' } });
      expect(text(result)).toBe('summary: short');
      expect(main.samplings.at(-1)).toBe('Summarize: a long story');
    });

    test.skipIf(skip)('roots: the client lists its roots through the gateway', async () => {
      const rooted = await connect(gateway, token, { roots: {} });
      rooted.client.setRequestHandler(ListRootsRequestSchema, async () => ({
        roots: [{ uri: 'file:///work/project', name: 'project' }],
      }));
      try {
        expect(text(await rooted.client.callTool({ name: 'where', arguments: {} }))).toBe(
          'roots: file:///work/project',
        );
      } finally {
        await rooted.client.close();
      }
    });

    test.skipIf(skip)(
      'x-mcp-header arguments go up as Mcp-Param-* headers (base64 when not header-safe)',
      async () => {
        expect(
          text(
            await main.client.callTool({ name: 'regional', arguments: { region: 'eu-west', query: 'q1' } }),
          ),
        ).toBe('eu-west: q1');
        expect(
          text(
            await main.client.callTool({ name: 'regional', arguments: { region: 'Zürich', query: 'q2' } }),
          ),
        ).toBe('Zürich: q2');
        const calls = upstream.calls('tools/call', 'regional');
        expect(calls.at(-2)!.headers['mcp-param-region']).toBe('eu-west');
        expect(calls.at(-1)!.headers['mcp-param-region']).toBe(
          `=?base64?${Buffer.from('Zürich').toString('base64')}?=`,
        );
      },
    );

    test.skipIf(skip)(
      'a subscribed resource that changes: resources/updated arrives via subscriptions/listen',
      async () => {
        const { client } = main;
        const { resources } = await client.listResources();
        expect(resources.map((r) => r.uri)).toContain(COUNTER_URI);
        const before = Number(
          ((await client.readResource({ uri: COUNTER_URI })).contents[0] as { text: string }).text,
        );

        const updated = new Promise<string>((resolve) =>
          client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)),
        );
        await client.subscribeResource({ uri: COUNTER_URI });
        await client.callTool({ name: 'bump', arguments: {} });
        expect(await updated).toBe(COUNTER_URI);
        const after = (await client.readResource({ uri: COUNTER_URI })).contents[0] as { text: string };
        expect(Number(after.text)).toBe(before + 1);
        const listens = upstream.calls('subscriptions/listen');
        expect(listens.at(-1)!.body?.params?.notifications).toMatchObject({
          resourceSubscriptions: [COUNTER_URI],
        });
      },
    );

    test.skipIf(skip)('errors are mapped: resource not found is -32002 for a 2025 client', async () => {
      const err = await main.client.readResource({ uri: 'mem://missing' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(McpError);
      expect((err as McpError).code).toBe(-32002);
    });

    test.skipIf(skip)(
      'a client without the elicitation capability gets a clear error naming it',
      async () => {
        const bare = await connect(gateway, token, {});
        try {
          const err = await bare.client
            .callTool({ name: 'confirm', arguments: { env: 'dev' } })
            .catch((e: unknown) => e);
          expect(err).toBeInstanceOf(McpError);
          expect((err as McpError).code).toBe(-32600);
          expect((err as McpError).message).toMatch(/capabilit/i);
          expect((err as McpError).message).toMatch(/elicitation/);
        } finally {
          await bare.client.close();
        }
      },
    );

    test.skipIf(skip)(
      'cancel during a pending MRTR round: withdrawn from the client, no retry upstream',
      async () => {
        const transport = new SSEClientTransport(new URL(`${gateway.url}/brains/modern/sse`), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        });
        const client = new Client({ name: 'v1-cancel', version: '1' }, { capabilities: { elicitation: {} } });
        let asked!: () => void;
        const askedPromise = new Promise<void>((resolve) => (asked = resolve));
        let withdrawn!: (reason: unknown) => void;
        const withdrawnPromise = new Promise<unknown>((resolve) => (withdrawn = resolve));
        client.setRequestHandler(ElicitRequestSchema, (_request, extra) => {
          asked();
          // A user who never answers; the gateway's notifications/cancelled aborts this handler.
          return new Promise((_resolve, reject) => {
            extra.signal.addEventListener('abort', () => {
              withdrawn(extra.signal.reason);
              reject(new Error('withdrawn'));
            });
          });
        });
        await client.connect(transport);
        try {
          const before = upstream.calls('tools/call', 'confirm').length;
          const controller = new AbortController();
          const call = client.callTool({ name: 'confirm', arguments: { env: 'staging' } }, undefined, {
            signal: controller.signal,
          });
          await askedPromise;
          controller.abort('changed my mind');
          await expect(call).rejects.toThrow();
          expect(await withdrawnPromise).toBeDefined();
          // The next request goes through on the same session, and the cancelled one was never retried.
          expect(text(await client.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe(
            'echo: after',
          );
          expect(upstream.calls('tools/call', 'confirm').length - before).toBe(1);
        } finally {
          await client.close();
        }
      },
    );

    test.skipIf(skip)(
      'a reconnected client that does not initialize again carries on with its remembered params',
      async () => {
        const first = await openLegacy(gateway.url, 'modern', token);
        await first.call('i', 'initialize', {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'remembered', version: '9' },
        });
        first.close();
        const again = await openLegacy(gateway.url, 'modern', token);
        try {
          const reply = await again.call(1, 'tools/call', { name: 'echo', arguments: { message: 'back' } });
          expect(reply.result).toMatchObject({ content: [{ text: 'echo: back' }] });
          expect(upstream.calls('tools/call', 'echo').at(-1)!.body?.params?._meta).toMatchObject({
            'io.modelcontextprotocol/clientInfo': { name: 'remembered', version: '9' },
          });
          expect(again.messages.map((m) => m.id)).toEqual([1]);
        } finally {
          again.close();
        }
      },
    );

    test.skipIf(skip)(
      'on the wire: initialize result, local ping, tasks refused with a clear error',
      async () => {
        const raw = await openLegacy(gateway.url, 'modern', token);
        try {
          const init = await raw.call('i', 'initialize', {
            protocolVersion: '2024-11-05',
            capabilities: { sampling: {} },
            clientInfo: { name: 'raw', version: '0' },
          });
          expect(init.result).toMatchObject({
            protocolVersion: '2024-11-05',
            serverInfo: { name: 'modern-upstream', version: '2.0.0' },
          });
          expect(init.result?.capabilities).not.toHaveProperty('tasks');
          await raw.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
          expect((await raw.call('p', 'ping')).result).toEqual({});
          const tasks = await raw.call('t', 'tasks/list');
          expect(tasks.error).toMatchObject({ code: -32601, message: expect.stringMatching(/tasks/) });
          const augmented = await raw.call('a', 'tools/call', {
            name: 'echo',
            arguments: { message: 'x' },
            task: {},
          });
          expect(augmented.error).toMatchObject({ code: -32602, message: expect.stringMatching(/task/i) });
          // An unknown upstream method stays -32601.
          expect((await raw.call('u', 'nope/nothing')).error?.code).toBe(-32601);
        } finally {
          raw.close();
        }
      },
    );

    test.skipIf(skip)('the session is recorded as a legacy session with the emulated version', async () => {
      const res = await gateway.admin('GET', '/sessions?brain=modern');
      const sessions = (await res.json()) as Array<Record<string, unknown>>;
      expect(sessions.find((s) => s.kind === 'legacy' && s.tokenId === tokenId)).toMatchObject({
        protocolVersion: '2025-11-25',
        ownerInstance: gateway.deps.instanceId,
      });
    });
  },
);
