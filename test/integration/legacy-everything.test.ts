/**
 * Legacy HTTP+SSE face → `@modelcontextprotocol/server-everything` (2025-11-25 Streamable HTTP, stateful)
 * with the SDK v1 `SSEClientTransport` + `Client`, on both stores: tools, concurrency, progress, the
 * upstream asking the client (sampling, elicitation) and pushes that arrive unprompted (logging,
 * resource updates), plus the session record the admin API lists.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type EverythingServer, startEverything } from '../helpers/everything.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { storeFactories } from '../helpers/stores.js';

async function connect(
  gateway: TestGateway,
  token: string,
): Promise<{ client: Client; transport: SSEClientTransport }> {
  const transport = new SSEClientTransport(new URL(`${gateway.url}/brains/everything/sse`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client(
    { name: 'v1-legacy-test', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: {} } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
    model: 'test-model',
    role: 'assistant',
    content: { type: 'text', text: `sampled ${request.params.messages.length} message(s)` },
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({
    action: 'accept',
    content: { name: 'Ada Lovelace', check: true },
  }));
  await client.connect(transport);
  return { client, transport };
}

/** The text of a tool result (callTool's type also admits the pre-2024 `toolResult` shape). */
const text = (result: unknown) =>
  ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n');

describe.each(storeFactories())('legacy SSE → server-everything ($name store)', ({ skip, create }) => {
  let everything: EverythingServer;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;
  let tokenId: string;
  let client: Client;

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
    ({ client } = await connect(gateway, token));
  });

  afterAll(async () => {
    if (skip) return;
    await client?.close();
    await gateway?.close();
    await everything?.stop();
    await drop?.();
  });

  test.skipIf(skip)('lists tools and calls echo and get-sum', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'get-sum', 'trigger-sampling-request']));
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe('Echo: hi');
    expect(text(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }))).toContain('5');
  });

  test.skipIf(skip)('50 concurrent calls each get their own reply', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        client.callTool({ name: 'get-sum', arguments: { a: i, b: 1000 } }),
      ),
    );
    results.forEach((r, i) => {
      expect(text(r)).toContain(String(i + 1000));
    });
  });

  test.skipIf(skip)('progress notifications reach the client', async () => {
    const progress: number[] = [];
    const result = await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    // All three frames go out before the result (legacy-wire.test.ts checks the bytes), but the SDK v1
    // Protocol runs notification handlers a microtask later than responses: when the last progress and the
    // result arrive in one read, the client has dropped its progress handler before the last one runs.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress).toEqual([1, 2, 3].slice(0, progress.length));
    expect(text(result)).toMatch(/completed/i);
  });

  test.skipIf(skip)('sampling: the upstream asks, the client answers, the call completes', async () => {
    const result = await client.callTool({
      name: 'trigger-sampling-request',
      arguments: { prompt: 'hello', maxTokens: 5 },
    });
    expect(text(result)).toContain('sampled 1 message(s)');
  });

  test.skipIf(skip)('elicitation: the client answer reaches the upstream tool', async () => {
    const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    expect(text(result)).toContain('Ada Lovelace');
  });

  test.skipIf(skip)('simulated logging pushes arrive unprompted (upstream GET stream)', async () => {
    await client.setLoggingLevel('debug');
    const first = new Promise<unknown>((resolve) =>
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => resolve(n.params)),
    );
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    expect(await first).toMatchObject({ level: expect.any(String) });
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
  });

  test.skipIf(skip)('resource subscription updates arrive', async () => {
    const { resources } = await client.listResources();
    const uri = resources[0]!.uri;
    const updated = new Promise<string>((resolve) =>
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)),
    );
    await client.subscribeResource({ uri });
    await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    expect(await updated).toBe(uri);
    await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
  });

  test.skipIf(skip)(
    'the session is stored and listed with owner, org, brain, token and version',
    async () => {
      const res = await gateway.admin('GET', '/sessions?brain=everything');
      const sessions = (await res.json()) as Array<Record<string, unknown>>;
      const legacy = sessions.filter((s) => s.kind === 'legacy');
      expect(legacy).toHaveLength(1);
      expect(legacy[0]).toMatchObject({
        org: 'acme',
        brain: 'everything',
        tokenId,
        ownerInstance: gateway.deps.instanceId,
        protocolVersion: '2025-11-25',
      });
    },
  );
});
