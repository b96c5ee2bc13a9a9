/**
 * One translated session across two gateway instances on one Postgres (issue 6 §3: "held in the store,
 * so any instance serves it"). An SDK v1 Streamable HTTP client whose requests alternate between the
 * instances (a round-robin balancer in its fetch) initializes on one, sets its log level on one and calls
 * on the other, answers an elicitation asked on one instance with a POST that lands on the other (sent on
 * over the signed internal route), and hears a resource update on a GET stream held by one instance after
 * subscribing through the other.
 *
 * With a balancer that sends every call to one instance and everything else to the other: an answer far
 * larger than a NOTIFY payload (100 KiB) and a cancel with a long reason both reach the instance holding
 * the exchange; an answer for an exchange that exists nowhere is accepted at once.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { instanceTag } from '../../src/routing/translated-messages.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { COUNTER_URI, type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';

const MCPGATE_SECRET = randomBytes(32).toString('base64');

const text = (result: unknown) =>
  ((result as { content?: Array<{ text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n');

describePostgres('era translation across instances', () => {
  let db: TestDatabase;
  let upstream: ModernUpstream;
  let a: TestGateway;
  let b: TestGateway;
  let token: string;
  /** Which instance served each request, in order: method ('response' for an answer) or HTTP verb. */
  const served: Array<{ what: string; by: 'a' | 'b'; bytes: number }> = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    upstream = await startModernUpstream();
    const env = { DATABASE_URL: db.url, MCPGATE_SECRET };
    a = await startTestGateway({ env });
    b = await startTestGateway({ env });
    ({ token } = await a.provision({ org: 'acme', brain: 'modern', upstreamUrl: upstream.url }));
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await db?.drop();
  });

  /** A load balancer that knows nothing of MCP: `pick` chooses the instance from the message alone. */
  function balancer(pick: (what: string, turn: number) => 'a' | 'b'): typeof fetch {
    let turn = 0;
    return async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      let what = init?.method ?? 'GET';
      const bytes = typeof init?.body === 'string' ? Buffer.byteLength(init.body) : 0;
      if (typeof init?.body === 'string') {
        const body = JSON.parse(init.body) as { method?: string };
        what = body.method ?? 'response';
      }
      const to = pick(what, turn++);
      url.host = new URL((to === 'a' ? a : b).url).host;
      served.push({ what, by: to, bytes });
      return fetch(url, init);
    };
  }
  /** Every request goes to the next instance. */
  const roundRobin = () => balancer((_what, turn) => (turn % 2 === 0 ? 'a' : 'b'));
  /** Calls to `a`, everything else (answers, cancels, the GET stream) to `b`. */
  const callsToA = () => balancer((what) => (what === 'tools/call' ? 'a' : 'b'));

  async function connect(balanced: typeof fetch, name: string) {
    const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/brains/modern/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: balanced,
    });
    const client = new Client({ name, version: '1' }, { capabilities: { elicitation: {} } });
    await client.connect(transport);
    return { transport, client };
  }

  it('a translated session is served by both instances, MRTR answers and subscriptions included', async () => {
    const { transport, client } = await connect(roundRobin(), 'v1-balanced');
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { ok: true } }));
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params.data);
    });
    try {
      const sessionId = transport.sessionId!;
      expect(sessionId).toMatch(/^t-/);
      const seenBy = async (g: TestGateway) => g.deps.store.getSession('modern', sessionId);
      expect(await seenBy(b)).toMatchObject({ kind: 'translated' });

      // The log level set through one instance reaches calls made through the other.
      await client.setLoggingLevel('info');
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'x' } }))).toBe('echo: x');
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'y' } }))).toBe('echo: y');
      expect(logs).toEqual(['echo called with x', 'echo called with y']);

      // The elicitation is asked on the instance holding the call's stream; the answer POST lands on the
      // other one and is sent on. Two calls, so each instance holds one of them.
      for (const env of ['one', 'two']) {
        expect(text(await client.callTool({ name: 'confirm', arguments: { env } }))).toBe(
          `confirmed=true env=${env} state=phase1:${env}`,
        );
        await client.ping(); // one more request, so the next call lands on the other instance
      }
      const confirms = served.flatMap((s, i) => (s.what === 'tools/call' ? [i] : [])).slice(-2);
      const crossed = confirms.filter((i) => {
        const answer = served.slice(i + 1).find((s) => s.what === 'response');
        return answer !== undefined && answer.by !== served[i]!.by;
      });
      expect(new Set(confirms.map((i) => served[i]!.by))).toEqual(new Set(['a', 'b']));
      expect(crossed).toHaveLength(2);

      // Subscribed through one instance; the GET stream (on whichever instance took it) re-listens.
      const updated = new Promise<string>((resolve) =>
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => resolve(n.params.uri)),
      );
      await client.subscribeResource({ uri: COUNTER_URI });
      // The instance holding the GET stream re-listens once NOTIFY reaches it.
      await upstream.waitFor((r) => {
        const filter = r.body?.params?.notifications as { resourceSubscriptions?: string[] } | undefined;
        return (
          r.body?.method === 'subscriptions/listen' &&
          filter?.resourceSubscriptions?.includes(COUNTER_URI) === true
        );
      });
      await client.callTool({ name: 'bump', arguments: {} });
      expect(await updated).toBe(COUNTER_URI);
      expect(served.some((s) => s.what === 'GET')).toBe(true);
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  });

  it('an elicitation answer of 100 KiB posted to the other instance completes the call', async () => {
    const { transport, client } = await connect(callsToA(), 'v1-large-answer');
    // Far past a NOTIFY payload (< 8000 bytes): only the internal route carries it.
    const padding = 'p'.repeat(100 * 1024);
    client.setRequestHandler(ElicitRequestSchema, async () => ({
      action: 'accept',
      content: { ok: true },
      _meta: { padding },
    }));
    try {
      const before = served.length;
      const result = await client.callTool({ name: 'confirm', arguments: { env: 'big' } }, undefined, {
        timeout: 10_000,
      });
      expect(text(result)).toBe('confirmed=true env=big state=phase1:big');
      const mine = served.slice(before);
      expect(mine.find((s) => s.what === 'tools/call')?.by).toBe('a');
      const answer = mine.find((s) => s.what === 'response');
      expect(answer?.by).toBe('b');
      expect(answer?.bytes).toBeGreaterThan(100 * 1024);
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  });

  it('a cancel posted to the other instance withdraws the pending round; no retry upstream', async () => {
    const { transport, client } = await connect(callsToA(), 'v1-cancel');
    let asked!: () => void;
    const askedPromise = new Promise<void>((resolve) => (asked = resolve));
    let withdrawn!: () => void;
    const withdrawnPromise = new Promise<void>((resolve) => (withdrawn = resolve));
    // A user who never answers; the gateway's notifications/cancelled (from `a`) aborts this handler.
    client.setRequestHandler(ElicitRequestSchema, (_request, extra) => {
      asked();
      return new Promise((_resolve, reject) => {
        extra.signal.addEventListener('abort', () => {
          withdrawn();
          reject(new Error('withdrawn'));
        });
      });
    });
    try {
      const before = upstream.calls('tools/call', 'confirm').length;
      const sent = served.length;
      const controller = new AbortController();
      const call = client.callTool({ name: 'confirm', arguments: { env: 'qa' } }, undefined, {
        signal: controller.signal,
      });
      await askedPromise;
      // A reason longer than a NOTIFY payload, so no size limit may stand in the way.
      controller.abort(`changed my mind ${'!'.repeat(10_000)}`);
      await expect(call).rejects.toThrow();
      await withdrawnPromise;
      const cancel = served.slice(sent).find((s) => s.what === 'notifications/cancelled');
      expect(cancel).toMatchObject({ by: 'b' });
      expect(cancel!.bytes).toBeGreaterThan(10_000);
      expect(served.slice(sent).find((s) => s.what === 'tools/call')?.by).toBe('a');
      // The session goes on, and the cancelled call was never sent again.
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'after' } }))).toBe(
        'echo: after',
      );
      expect(upstream.calls('tools/call', 'confirm').length - before).toBe(1);
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  });

  it('an answer for an exchange that exists nowhere is accepted at once, whatever its size', async () => {
    const { transport, client } = await connect(callsToA(), 'v1-late');
    try {
      const post = (id: string) =>
        fetch(`${b.url}/brains/modern/mcp`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': transport.sessionId!,
            'mcp-protocol-version': transport.protocolVersion ?? '2025-11-25',
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id,
            result: { action: 'accept', note: 'n'.repeat(50_000) },
          }),
        });
      // Asked by `a` (its tag), which no longer waits; and asked by an instance that does not exist.
      for (const tag of [instanceTag(a.deps.instanceId), '0123456789abcdef']) {
        const res = await post(`mcpgate-ask-${tag}-000000000000-1`);
        expect(res.status).toBe(202);
        await res.arrayBuffer();
      }
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  });
});
