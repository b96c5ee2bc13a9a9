/**
 * One translated session across two gateway instances on one Postgres (issue 6 §3: "held in the store,
 * so any instance serves it"). An SDK v1 Streamable HTTP client whose requests alternate between the
 * instances (a round-robin balancer in its fetch) initializes on one, sets its log level on one and calls
 * on the other, answers an elicitation asked on one instance with a POST that lands on the other (relayed
 * over LISTEN/NOTIFY), and hears a resource update on a GET stream held by one instance after
 * subscribing through the other.
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
  /** Which instance served each request, in order: method (or HTTP verb) and instance. */
  const served: Array<{ what: string; by: 'a' | 'b' }> = [];

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

  /** A load balancer that knows nothing of MCP: every request goes to the next instance. */
  function roundRobin(): typeof fetch {
    let turn = 0;
    return async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const to = turn++ % 2 === 0 ? 'a' : 'b';
      url.host = new URL((to === 'a' ? a : b).url).host;
      let what = init?.method ?? 'GET';
      if (typeof init?.body === 'string') {
        const body = JSON.parse(init.body) as { method?: string };
        what = body.method ?? 'response';
      }
      served.push({ what, by: to });
      return fetch(url, init);
    };
  }

  it('a translated session is served by both instances, MRTR answers and subscriptions included', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/brains/modern/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: roundRobin(),
    });
    const client = new Client({ name: 'v1-balanced', version: '1' }, { capabilities: { elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { ok: true } }));
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params.data);
    });
    await client.connect(transport);
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
      // other one and is relayed. Two calls, so each instance holds one of them.
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
});
