/**
 * The drain (issue 5 §6), in process: `drainAndClose` is what serve.ts runs on SIGTERM
 * (test/e2e/serve-drain.test.ts sends the real signal to the real CLI). A call in flight finishes,
 * `/readyz` is 503 from the first moment, new streams are refused, open streams do not hold the drain
 * and are closed after it, and a call that never finishes is cut off at the timeout.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { drainAndClose } from '../../src/sessions/drain.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';

const logger = createLogger({ level: 'silent' });

describe('drain', () => {
  let upstream: MiniUpstream;
  let gateway: TestGateway;
  let token: string;

  beforeAll(async () => {
    upstream = await startMiniUpstream();
  });
  afterEach(async () => {
    upstream.release();
    await gateway?.close();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  async function start() {
    gateway = await startTestGateway();
    ({ token } = await gateway.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url }));
  }

  /** A Streamable HTTP exchange through the pass-through face. */
  function mcp(method: 'POST' | 'GET', body?: unknown, sessionId?: string) {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: method === 'GET' ? 'text/event-stream' : 'application/json, text/event-stream',
      'content-type': 'application/json',
    };
    if (sessionId) headers['mcp-session-id'] = sessionId;
    return fetch(`${gateway.url}/brains/mini/mcp`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function initialize(): Promise<string> {
    const res = await mcp('POST', {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    expect(res.status).toBe(200);
    await res.body?.cancel();
    return res.headers.get('mcp-session-id')!;
  }

  /** Starts a `slow` tool call and resolves once the upstream holds it (with the pending answer). */
  async function slowCall(sessionId: string, id: number): Promise<{ answer: Promise<Response> }> {
    const answer = mcp(
      'POST',
      { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: {} } },
      sessionId,
    );
    await upstream.waitFor((r) => r.body?.id === id && r.body?.params?.name === 'slow');
    return { answer };
  }

  it('an SDK v1 SSE client reconnecting onto a draining instance is sent on to a live one', async () => {
    await start();
    const live = await startTestGateway();
    try {
      const other = await live.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url });
      // A stand-in for the balancer: GET /sse goes live, draining, live…; POSTs go to the live instance.
      const gets: string[] = [];
      let endpointOnThird!: () => void;
      const thirdReady = new Promise<void>((resolve) => (endpointOnThird = resolve));
      const balance: typeof fetch = async (input, init) => {
        const url = new URL(String(input instanceof Request ? input.url : input));
        const method = init?.method ?? 'GET';
        const toDraining = method === 'GET' && gets.length % 2 === 1;
        if (method === 'GET') gets.push(toDraining ? 'draining' : 'live');
        const target = new URL(`${url.pathname}${url.search}`, toDraining ? gateway.url : live.url);
        const headers = new Headers(init?.headers);
        headers.set('authorization', `Bearer ${toDraining ? token : other.token}`);
        const res = await fetch(target, { ...init, headers });
        if (method !== 'GET' || gets.length !== 3 || !res.body) return res;
        // The third stream: known to be usable once the client has its new endpoint.
        const [forClient, forTest] = res.body.tee();
        void (async () => {
          let text = '';
          for await (const chunk of forTest as unknown as AsyncIterable<Uint8Array>) {
            text += new TextDecoder().decode(chunk);
            if (!text.includes('event: endpoint')) continue;
            setImmediate(endpointOnThird);
            return;
          }
        })();
        return new Response(forClient, { status: res.status, headers: res.headers });
      };
      const transport = new SSEClientTransport(new URL(`${live.url}/brains/mini/sse`), {
        eventSourceInit: { fetch: balance },
        fetch: balance,
      });
      const client = new Client({ name: 'drain-client', version: '1.0.0' });
      await client.connect(transport);
      const echo = async (message: string) =>
        (await client.callTool({ name: 'echo', arguments: { message } })).content;
      expect(await echo('before')).toEqual([{ type: 'text', text: 'echo: before' }]);

      // The instance holding the stream goes away; the reconnect lands on one that is draining.
      gateway.deps.lifecycle.draining = true;
      await live.deps.sessions.closeWhere(() => true, 'instance restarting');
      await thirdReady;
      expect(gets).toEqual(['live', 'draining', 'live']);
      expect(await echo('after')).toEqual([{ type: 'text', text: 'echo: after' }]);
      await client.close();
    } finally {
      await live.close();
    }
  });

  it('answers /readyz 503 at once, refuses new streams, lets the call in flight finish, then closes', async () => {
    await start();
    const sessionId = await initialize();
    const call = await slowCall(sessionId, 2);
    expect(gateway.deps.lifecycle.inflight.active).toBe(1);

    const draining = drainAndClose(gateway, { timeoutMs: 10_000, logger });
    expect(gateway.deps.lifecycle.draining).toBe(true);
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining' });
    const stream = await mcp('GET', undefined, sessionId);
    expect(stream.status).toBe(503);
    expect(stream.headers.get('retry-after')).toBeTruthy();
    // A legacy stream is not refused with a status (an EventSource would give up for good): it ends at
    // once with a `retry:`, so the client reconnects, through the balancer, to a live instance.
    const sse = await fetch(`${gateway.url}/brains/mini/sse`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const said = await sse.text();
    expect(said).toMatch(/^retry: \d+$/m);
    expect(said).not.toContain('endpoint');

    upstream.release();
    const answered = await call.answer;
    expect(answered.status).toBe(200);
    expect(await answered.json()).toEqual({
      jsonrpc: '2.0',
      id: 2,
      result: { content: [{ type: 'text', text: 'slow done' }] },
    });
    const result = await draining;
    expect(result).toMatchObject({ idle: true, abandoned: 0 });
    await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow();
  });

  it('is not held by open streams, and closes them afterwards', async () => {
    await start();
    const sessionId = await initialize();
    const passthroughStream = await mcp('GET', undefined, sessionId);
    expect(passthroughStream.status).toBe(200);
    const legacy = await openLegacy(gateway.url, 'mini', token);
    await handshake(legacy);
    // The forward of `notifications/initialized` is accepted work (held until it reaches the upstream);
    // once it settles, the open streams alone must count for nothing.
    await expect.poll(() => gateway.deps.lifecycle.inflight.active, { timeout: 2_000, interval: 10 }).toBe(0);

    const result = await drainAndClose(gateway, { timeoutMs: 10_000, logger });
    expect(result.idle).toBe(true);
    expect(result.waitedMs).toBeLessThan(1_000);
    await legacy.ended;
    // The pass-through stream ends too: reading it to the end returns (cleanly or cut, either way ended).
    await passthroughStream.text().catch(() => undefined);
  });

  it('gives up on a call that never finishes once the drain timeout has passed', async () => {
    await start();
    const sessionId = await initialize();
    const call = await slowCall(sessionId, 3);
    // The client is not left hanging: at shutdown its connection is closed.
    const outcome = call.answer.then(
      async (res) => `status ${res.status}: ${await res.text().catch(() => 'body cut')}`,
      (err: Error) => `failed: ${(err.cause as { code?: string } | undefined)?.code ?? err.message}`,
    );
    const started = Date.now();
    const result = await drainAndClose(gateway, { timeoutMs: 300, logger });
    expect(result).toMatchObject({ idle: false, abandoned: 1 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await outcome).toMatch(/^failed: (UND_ERR_SOCKET|ECONNRESET)/);
  });

  it('counts a request until its answer is written, and a face can hold the drain for work it accepted', async () => {
    await start();
    const { inflight } = gateway.deps.lifecycle;
    const release = inflight.begin();
    expect(inflight.active).toBe(1);
    const draining = drainAndClose(gateway, { timeoutMs: 5_000, logger });
    // Still serving while the face's work runs.
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    expect(inflight.active).toBe(1);
    release();
    release();
    expect(inflight.active).toBe(0);
    expect(await draining).toMatchObject({ idle: true });
  });
});
