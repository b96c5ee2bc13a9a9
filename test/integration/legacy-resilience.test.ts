/**
 * What an SDK v1 `SSEClientTransport` client lives through, against server-everything, on both stores:
 * the upstream restarts mid-session (the gateway re-initializes; the next call succeeds), the gateway
 * drops the stream (the client reconnects on its own, without initialize; the gateway initializes
 * upstream with the client's last params, swallows that result, and the next calls succeed, including
 * ones that need the client's capabilities), and a push from the admin API reaches the client.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  CreateMessageRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type EverythingServer, startEverything } from '../helpers/everything.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { storeFactories } from '../helpers/stores.js';

interface Watched {
  client: Client;
  errors: Error[];
  /** Resolves when the n-th GET /sse (1-based) has delivered its endpoint event to the client. */
  endpointOf(n: number): Promise<void>;
}

async function connectWatched(gateway: TestGateway, token: string): Promise<Watched> {
  const endpoints: Array<() => void> = [];
  const seen: Array<Promise<void>> = [];
  const slot = (n: number) => {
    while (seen.length < n) seen.push(new Promise((resolve) => endpoints.push(resolve)));
    return seen[n - 1]!;
  };
  let gets = 0;
  // Watch the GET streams' bytes (tee), to know when the client has its (new) endpoint.
  const watchingFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if ((init?.method ?? 'GET') !== 'GET' || !res.body) return res;
    const n = ++gets;
    slot(n);
    const [forClient, forTest] = res.body.tee();
    void (async () => {
      const decoder = new TextDecoder();
      let text = '';
      for await (const chunk of forTest as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        if (text.includes('event: endpoint')) {
          // tee hands both branches each chunk at once; after a macrotask the client has parsed it too.
          setImmediate(endpoints[n - 1]!);
          break;
        }
      }
    })();
    return new Response(forClient, { status: res.status, headers: res.headers });
  };
  const transport = new SSEClientTransport(new URL(`${gateway.url}/brains/everything/sse`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    eventSourceInit: { fetch: watchingFetch },
  });
  const client = new Client({ name: 'v1-resilience', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    model: 'test-model',
    role: 'assistant',
    content: { type: 'text', text: 'sampled after reconnect' },
  }));
  const errors: Error[] = [];
  client.onerror = (err) => errors.push(err);
  await client.connect(transport);
  return { client, errors, endpointOf: slot };
}

/** The text of a tool result (callTool's type also admits the pre-2024 `toolResult` shape). */
const text = (result: unknown) =>
  ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n');

describe.each(storeFactories())('legacy SSE client resilience ($name store)', ({ skip, create }) => {
  let everything: EverythingServer;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;

  beforeAll(async () => {
    if (skip) return;
    const made = await create();
    drop = made.drop;
    everything = await startEverything();
    gateway = await startTestGateway({ store: made.store });
    ({ token } = await gateway.provision({ org: 'acme', brain: 'everything', upstreamUrl: everything.url }));
  });

  afterAll(async () => {
    if (skip) return;
    await gateway?.close();
    await everything?.stop();
    await drop?.();
  });

  test.skipIf(skip)('upstream restarted mid-session → the next call succeeds', async () => {
    const { client } = await connectWatched(gateway, token);
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'before' } }))).toBe(
      'Echo: before',
    );
    await everything.stop();
    everything = await startEverything(everything.port);
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe(
      'Echo: after',
    );
    expect(gateway.logs.some((l) => l.includes('upstream session lost; re-initializing'))).toBe(true);
    await client.close();
  });

  test.skipIf(skip)('stream dropped by the gateway → the client reconnects and carries on', async () => {
    const { client, errors, endpointOf } = await connectWatched(gateway, token);
    await endpointOf(1);
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'one' } }))).toBe('Echo: one');
    await gateway.deps.sessions.closeWhere((s) => s.kind === 'legacy', 'test: drop the stream');
    await endpointOf(2); // the v1 EventSource reconnects on its own (retry: 1000 from the gateway)
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'two' } }))).toBe('Echo: two');
    // Upstream was initialized with the client's own capabilities, so sampling still works.
    const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'p' } });
    expect(text(sampled)).toContain('sampled after reconnect');
    expect(gateway.logs.some((l) => l.includes('upstream initialized by the gateway'))).toBe(true);
    // The gateway's own initialize result never reached the client.
    expect(errors.filter((e) => /unknown message ID/i.test(e.message))).toEqual([]);
    await client.close();
  });

  test.skipIf(skip)('admin notify reaches a connected SDK client', async () => {
    const { client } = await connectWatched(gateway, token);
    const received = new Promise<unknown>((resolve) =>
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => resolve(n.params)),
    );
    const res = await gateway.admin('POST', '/brains/everything/notify', {
      level: 'info',
      logger: 'ops',
      data: 'maintenance at 5',
    });
    expect(await res.json()).toEqual({ delivered: 1 });
    expect(await received).toEqual({ level: 'info', logger: 'ops', data: 'maintenance at 5' });
    await client.close();
  });
});
