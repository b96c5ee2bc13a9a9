/**
 * Request ids and log hygiene (issue 7 §6). A sane incoming `X-Request-Id` is kept, anything else is
 * replaced, and the id reaches the upstream on both faces and the logs and audit log here. Then a realistic
 * run (SDK clients on both faces against server-everything, a query-token stream, admin calls, refusals,
 * an unreachable upstream, revocation) and a scan of every captured log line for the secrets and session
 * ids it handled.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EverythingServer, startEverything } from '../helpers/everything.js';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('X-Request-Id', () => {
  let upstream: MiniUpstream;
  let gw: TestGateway;
  let token: string;

  beforeAll(async () => {
    upstream = await startMiniUpstream();
    gw = await startTestGateway();
    ({ token } = await gw.provision({ org: 'acme', brain: 'ids', upstreamUrl: upstream.url }));
    await gw.admin('PATCH', '/brains/ids', { era: '2025' });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const ping = (id: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}/brains/ids/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25' },
      }),
    });
  const seenFor = (id: string) => upstream.waitFor((r) => r.body?.id === id);

  it('keeps a sane incoming id, sends it upstream and logs it', async () => {
    await ping('p1', { 'x-request-id': 'client-req-0042' });
    expect((await seenFor('p1')).headers['x-request-id']).toBe('client-req-0042');
    await expect.poll(() => gw.logs.some((l) => JSON.parse(l).reqId === 'client-req-0042')).toBe(true);
  });

  it('replaces an odd one, and mints one when there is none', async () => {
    await ping('p2', { 'x-request-id': 'has spaces; and "quotes"' });
    const replaced = (await seenFor('p2')).headers['x-request-id'] as string;
    expect(replaced).toMatch(UUID);
    await ping('p3', { 'x-request-id': 'x'.repeat(200) });
    expect((await seenFor('p3')).headers['x-request-id']).toMatch(UUID);
    await ping('p4');
    const minted = (await seenFor('p4')).headers['x-request-id'] as string;
    expect(minted).toMatch(UUID);
    expect(new Set([replaced, minted]).size).toBe(2);
    expect(gw.logs.join('\n')).not.toContain('has spaces');

    const audit = (await (await gw.admin('GET', '/audit?brain=ids')).json()) as {
      records: Array<{ requestId: string }>;
    };
    expect(audit.records.map((r) => r.requestId)).toContain(minted);
  });

  it('goes upstream with each legacy message of the POST that carried it', async () => {
    const legacy = await openLegacy(gw.url, 'ids', token);
    try {
      await handshake(legacy);
      const reply = legacy.next((m) => m.id === 'l1');
      expect(
        (
          await legacy.post(
            { jsonrpc: '2.0', id: 'l1', method: 'tools/call', params: { name: 'echo', arguments: {} } },
            { 'x-request-id': 'legacy-req-7' },
          )
        ).status,
      ).toBe(202);
      await reply;
      expect((await seenFor('l1')).headers['x-request-id']).toBe('legacy-req-7');
    } finally {
      legacy.close();
    }
  });
});

describe('logs after a realistic run', () => {
  const UPSTREAM_SECRET = 'upstream-secret-value-7c1d9e';
  let everything: EverythingServer;
  let gw: TestGateway;
  const secrets: string[] = [];
  const sessionIds = new Set<string>();

  beforeAll(async () => {
    everything = await startEverything();
    gw = await startTestGateway({ env: { MCPGATE_ALLOW_QUERY_TOKEN: 'true', LOG_LEVEL: 'trace' } });
    secrets.push(ADMIN_TOKEN, UPSTREAM_SECRET);
  });
  afterAll(async () => {
    await gw?.close();
    await everything?.stop();
  });

  /** Every session id the store holds now (pass-through, legacy, and upstream ones). */
  async function collectSessionIds() {
    for (const s of await gw.deps.store.listSessions()) {
      sessionIds.add(s.id);
      if (s.upstreamSessionId) sessionIds.add(s.upstreamSessionId);
    }
  }

  it('runs both faces, admin calls and failures', async () => {
    const { token, tokenId } = await gw.provision({
      org: 'acme',
      brain: 'everything',
      upstreamUrl: everything.url,
      upstreamHeaders: { 'x-upstream-key': UPSTREAM_SECRET, authorization: `Bearer ${UPSTREAM_SECRET}` },
    });
    const second = await gw.createToken('acme');
    secrets.push(token, second.token);

    // Streamable HTTP, SDK v1: initialize, tools, a tool call, DELETE.
    const modern = new StreamableHTTPClientTransport(new URL(`${gw.url}/brains/everything/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const client = new Client({ name: 'log-scan', version: '1' });
    await client.connect(modern);
    sessionIds.add(modern.sessionId!);
    await client.listTools();
    await client.callTool({ name: 'echo', arguments: { message: 'hello' } });
    await collectSessionIds();

    // Legacy HTTP+SSE, SDK v1.
    const legacyTransport = new SSEClientTransport(new URL(`${gw.url}/brains/everything/sse`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const legacy = new Client({ name: 'log-scan-legacy', version: '1' });
    await legacy.connect(legacyTransport);
    await legacy.callTool({ name: 'echo', arguments: { message: 'hello' } });
    await collectSessionIds();

    // A query-token stream (EventSource-style client), then its session is used and closed.
    const raw = await openLegacyWithQueryToken(gw.url, second.token);
    sessionIds.add(raw.sessionId);
    await collectSessionIds();
    raw.close();

    // Admin and operations calls.
    expect((await gw.admin('POST', '/brains/everything/notify', { level: 'info', data: 'hi' })).status).toBe(
      200,
    );
    expect((await gw.admin('GET', '/sessions')).status).toBe(200);
    expect((await gw.admin('GET', '/audit')).status).toBe(200);
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(200);

    // Refusals: a bad token, someone else's session, a malformed body.
    const mcp = `${gw.url}/brains/everything/mcp`;
    expect(
      (await fetch(mcp, { method: 'POST', headers: { authorization: 'Bearer mcpg_not-a-real-token' } }))
        .status,
    ).toBe(401);
    const foreign = await fetch(mcp, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${second.token}`,
        'content-type': 'application/json',
        'mcp-session-id': modern.sessionId!,
      },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    expect(foreign.status).toBe(404);
    expect(
      (await fetch(mcp, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{' })).status,
    ).toBe(400);

    // An unreachable upstream (warn logs with codes), then back.
    await gw.admin('PATCH', '/brains/everything', { upstreamUrl: 'http://127.0.0.1:9/mcp' });
    const down = await fetch(mcp, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":2,"method":"ping"}',
    });
    expect(down.status).toBe(502);
    await gw.admin('PATCH', '/brains/everything', { upstreamUrl: everything.url });

    await client.close();
    await modern.terminateSession().catch(() => {});
    // Revocation closes the legacy session (logs its close).
    expect((await gw.admin('DELETE', `/tokens/${tokenId}`)).status).toBe(204);
    await legacy.close();
    await expect.poll(async () => (await gw.deps.store.listSessions({ kind: 'legacy' })).length).toBe(0);
    expect(sessionIds.size).toBeGreaterThanOrEqual(4);
  });

  it('logged no token, credential or session id, and every line is JSON with a level', async () => {
    expect(gw.logs.length).toBeGreaterThan(20);
    for (const line of gw.logs) {
      const parsed = JSON.parse(line) as { level?: string };
      expect(parsed.level).toBeDefined();
    }
    const all = gw.logs.join('\n');
    for (const secret of secrets) expect(all).not.toContain(secret);
    for (const id of sessionIds) expect(all, `session id ${id.slice(0, 4)}…`).not.toContain(id);
    expect(all).not.toContain('access_token=mcpg_');
    // The request lines are there, with ids.
    const requests = gw.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThan(5);
    expect(requests.every((l) => typeof l.reqId === 'string' && l.reqId.length > 0)).toBe(true);
  });
});

/** A raw legacy open authenticated by `?access_token=` (issue 7 §8), as a browser EventSource does. */
async function openLegacyWithQueryToken(base: string, token: string) {
  const abort = new AbortController();
  const res = await fetch(`${base}/brains/everything/sse?access_token=${encodeURIComponent(token)}`, {
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = '';
  while (!/data: .*sessionId=/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
  const sessionId = /sessionId=([^\s&]+)/.exec(text)![1]!;
  return { sessionId, close: () => abort.abort() };
}
