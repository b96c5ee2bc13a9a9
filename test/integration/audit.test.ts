/**
 * The audit log end to end (issue 7 §4), on both stores: every JSON-RPC request of both faces recorded
 * with who, what and how it went, never a body or a secret; `GET /admin/v1/audit` filters and pages; and a
 * store that never answers an audit write holds up no request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import { storeFactories } from '../helpers/stores.js';

interface AuditPage {
  records: Array<{
    id: string;
    at: string;
    org: string;
    brain: string;
    tokenId: string;
    session: string | null;
    face: string;
    method: string | null;
    name: string | null;
    status: number;
    latencyMs: number;
    requestId: string;
  }>;
  next: string | null;
}

const SECRET_ARG = 'do-not-log-this-argument-0451';
const UPSTREAM_SECRET = 'Bearer upstream-credential-9f3e';

describe.each(storeFactories())('audit log ($name store)', ({ skip, create }) => {
  let upstream: MiniUpstream;
  let gw: TestGateway;
  let drop: () => Promise<void>;
  let token: string;
  let tokenId: string;

  beforeAll(async () => {
    if (skip) return;
    upstream = await startMiniUpstream();
    const made = await create();
    drop = made.drop;
    gw = await startTestGateway({ store: made.store, env: { MCPGATE_AUDIT_FLUSH_MS: '50' } });
    ({ token, tokenId } = await gw.provision({
      org: 'acme',
      brain: 'audited',
      upstreamUrl: upstream.url,
      upstreamHeaders: { authorization: UPSTREAM_SECRET },
    }));
    await gw.admin('PATCH', '/brains/audited', { era: '2025' });
    await gw.provision({ org: 'globex', brain: 'other', upstreamUrl: upstream.url });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await drop?.();
  });

  const page = async (query: string) => {
    const res = await gw.admin('GET', `/audit${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as AuditPage;
  };

  const post = (brain: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}/brains/${brain}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it.skipIf(skip)(
    'records each request of the pass-through and the legacy face, without bodies',
    async () => {
      const init = await post(
        'audited',
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-11-25',
            capabilities: {},
            clientInfo: { name: 'a', version: '1' },
          },
        },
        { 'x-request-id': 'audit-req-0001' },
      );
      expect(init.status).toBe(200);
      const session = init.headers.get('mcp-session-id')!;
      const call = await post(
        'audited',
        {
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: { name: 'echo', arguments: { message: SECRET_ARG } },
        },
        { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' },
      );
      expect(call.status).toBe(200);
      expect((await post('audited', '{"jsonrpc":')).status).toBe(400);

      const legacy = await openLegacy(gw.url, 'audited', token);
      await handshake(legacy);
      await legacy.call('l1', 'tools/call', { name: 'echo', arguments: { message: SECRET_ARG } });
      legacy.close();

      const { records } = await page('?brain=audited');
      const mcp = records.filter((r) => r.face === 'mcp');
      expect(mcp.map((r) => [r.method, r.name, r.status])).toEqual([
        ['initialize', null, 200],
        ['tools/call', 'echo', 200],
        [null, null, 400],
      ]);
      expect(mcp[0]).toMatchObject({ org: 'acme', brain: 'audited', tokenId, requestId: 'audit-req-0001' });
      expect(mcp[0]!.session).toMatch(/^[0-9a-f]{16}$/);
      expect(mcp[1]!.session).toBe(mcp[0]!.session);
      expect(mcp[1]!.latencyMs).toBeGreaterThan(0);
      expect(new Date(mcp[1]!.at).getTime()).toBeLessThanOrEqual(Date.now());

      const sse = records.filter((r) => r.face === 'sse');
      expect(sse.map((r) => [r.method, r.name, r.status])).toEqual([
        ['initialize', null, 200],
        ['notifications/initialized', null, 200],
        ['tools/call', 'echo', 200],
      ]);
      expect(new Set(sse.map((r) => r.session)).size).toBe(1);
      expect(sse[0]!.session).toMatch(/^[0-9a-f]{16}$/);

      const text = JSON.stringify(records);
      for (const secret of [SECRET_ARG, token, UPSTREAM_SECRET, session, legacy.sessionId]) {
        expect(text).not.toContain(secret);
      }
    },
  );

  it.skipIf(skip)('a refused upstream call is recorded with the status the client got', async () => {
    await gw.admin('PATCH', '/brains/audited', { upstreamUrl: 'http://127.0.0.1:9/mcp' });
    try {
      const res = await post('audited', { jsonrpc: '2.0', id: 9, method: 'tools/list' });
      expect(res.status).toBe(502);
    } finally {
      await gw.admin('PATCH', '/brains/audited', { upstreamUrl: upstream.url });
    }
    const { records } = await page('?brain=audited');
    expect(records.at(-1)).toMatchObject({ method: 'tools/list', status: 502 });
  });

  it.skipIf(skip)('filters by org, brain and time, and pages with the cursor', async () => {
    const other = await gw.createToken('globex');
    await fetch(`${gw.url}/brains/other/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${other.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    });
    expect((await page('?org=globex')).records.map((r) => [r.brain, r.method])).toEqual([['other', 'ping']]);
    expect((await page('?org=acme')).records.every((r) => r.org === 'acme')).toBe(true);
    expect((await page(`?since=${new Date(Date.now() + 60_000).toISOString()}`)).records).toEqual([]);

    const all = (await page('?limit=1000')).records.map((r) => r.id);
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const p: AuditPage = await page(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      walked.push(...p.records.map((r) => r.id));
      cursor = p.next;
    } while (cursor);
    expect(walked).toEqual(all);
  });

  it.skipIf(skip)('refuses bad queries with 400 and strangers with 401', async () => {
    for (const q of [
      '?since=yesterday',
      '?limit=0',
      '?limit=5000',
      '?cursor=abc',
      '?cursor=99999999999999999999',
      '?org=Bad!',
      '?bogus=1',
    ]) {
      const res = await gw.admin('GET', `/audit${q}`);
      expect(res.status, q).toBe(400);
    }
    expect((await fetch(`${gw.url}/admin/v1/audit`)).status).toBe(401);
    expect(
      (await fetch(`${gw.url}/admin/v1/audit`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } }))
        .status,
    ).toBe(401);
  });
});

describe('audit writes are off the request path', () => {
  let gw: TestGateway;
  let upstream: MiniUpstream;
  let writes = 0;
  beforeAll(async () => {
    upstream = await startMiniUpstream();
    const inner = createMemoryStore();
    const store: Store = {
      ...inner,
      // A database that takes audit batches and never answers.
      appendAudit: () => {
        writes++;
        return new Promise(() => {});
      },
    };
    gw = await startTestGateway({
      store,
      env: { MCPGATE_AUDIT_BATCH_SIZE: '2', MCPGATE_AUDIT_QUEUE_MAX: '5', MCPGATE_AUDIT_FLUSH_MS: '20' },
    });
  });
  afterAll(async () => {
    // close() would wait for the stuck write; the process ends the test file anyway.
    void gw?.close();
    await upstream?.close();
  });

  it('requests finish while the store never answers, and the overflow is dropped and counted', async () => {
    const { token } = await gw.provision({ org: 'acme', brain: 'stuck', upstreamUrl: upstream.url });
    await gw.admin('PATCH', '/brains/stuck', { era: '2025' });
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${gw.url}/brains/stuck/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'ping' }),
      });
      expect(res.status).toBeLessThan(500);
    }
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(writes).toBe(1);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/mcpgate_audit_dropped_total \d+/);
    expect(Number(/mcpgate_audit_dropped_total (\d+)/.exec(metrics)![1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/mcpgate_audit_queue 5/);
  });
});
