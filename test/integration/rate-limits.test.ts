/**
 * Rate limits on both faces (issue 7 §3): 429 + Retry-After on the HTTP faces before the upstream sees
 * anything, a JSON-RPC error for the request id on the legacy stream (the POST still 202), per token and
 * per org, per-org overrides set through the admin API, and two orgs side by side never affecting each
 * other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';

let upstream: MiniUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startMiniUpstream();
  gw = await startTestGateway({
    env: {
      MCPGATE_RATE_LIMIT_TOKEN_PER_MIN: '60',
      MCPGATE_RATE_LIMIT_TOKEN_BURST: '4',
      MCPGATE_RATE_LIMIT_ORG_PER_MIN: '60',
      MCPGATE_RATE_LIMIT_ORG_BURST: '6',
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

let nextId = 1;
const initialize = (brain: string, token: string) =>
  fetch(`${gw.url}/brains/${brain}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: nextId++,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'rl', version: '1' } },
    }),
  });

const initializesSeen = (brain: string) =>
  upstream.requests.filter((r) => r.body?.method === 'initialize' && r.headers['x-test-brain'] === brain)
    .length;

async function provision(org: string, brain: string) {
  const { token } = await gw.provision({
    org,
    brain,
    upstreamUrl: upstream.url,
    upstreamHeaders: { 'x-test-brain': brain },
  });
  // Pin the era so no probe spends a request (issue 6).
  await gw.admin('PATCH', `/brains/${brain}`, { era: '2025' });
  return token;
}

describe('rate limits', () => {
  it('limits a token, then its org, and leaves another org alone (pass-through)', async () => {
    const a1 = await provision('acme', 'acme-b');
    const { token: a2 } = await gw.createToken('acme');
    const g1 = await provision('globex', 'globex-b');

    const a1Statuses = [];
    for (let i = 0; i < 5; i++) a1Statuses.push((await initialize('acme-b', a1)).status);
    expect(a1Statuses).toEqual([200, 200, 200, 200, 429]);

    const refused = await initialize('acme-b', a1);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    const body = (await refused.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32000);
    expect(body.error.message).toContain('token rate limit');

    // The org has 6: a1 spent 4, so a2 gets 2 and then meets the org's limit.
    const a2Statuses = [];
    for (let i = 0; i < 3; i++) a2Statuses.push((await initialize('acme-b', a2)).status);
    expect(a2Statuses).toEqual([200, 200, 429]);
    expect(
      ((await (await initialize('acme-b', a2)).json()) as { error: { message: string } }).error.message,
    ).toContain('org rate limit');

    // Globex, side by side: its own token and org buckets, all full.
    const g1Statuses = [];
    for (let i = 0; i < 4; i++) g1Statuses.push((await initialize('globex-b', g1)).status);
    expect(g1Statuses).toEqual([200, 200, 200, 200]);

    // Refused requests never reached the upstream.
    expect(initializesSeen('acme-b')).toBe(6);
    expect(initializesSeen('globex-b')).toBe(4);

    // After Retry-After, the token has a request again.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await initialize('globex-b', g1)).status).toBe(200);
  });

  it('a per-org override set with PATCH /admin/v1/orgs/:org applies at once; null restores the default', async () => {
    const token = await provision('initech', 'initech-b');
    const { token: other } = await gw.createToken('initech');
    const patched = await gw.admin('PATCH', '/orgs/initech', { rateLimitPerMinute: 60, rateLimitBurst: 2 });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({
      slug: 'initech',
      rateLimitPerMinute: 60,
      rateLimitBurst: 2,
    });
    const listed = (await (await gw.admin('GET', '/orgs')).json()) as Array<{ slug: string }>;
    expect(listed.find((o) => o.slug === 'initech')).toMatchObject({
      rateLimitPerMinute: 60,
      rateLimitBurst: 2,
    });

    expect([
      (await initialize('initech-b', token)).status,
      (await initialize('initech-b', other)).status,
    ]).toEqual([200, 200]);
    expect((await initialize('initech-b', token)).status).toBe(429);

    // 0: no org limit at all (the per-token limit still holds).
    await gw.admin('PATCH', '/orgs/initech', { rateLimitPerMinute: 0 });
    expect((await initialize('initech-b', other)).status).toBe(200);

    expect((await gw.admin('PATCH', '/orgs/initech', { rateLimitPerMinute: null })).status).toBe(200);
    expect((await gw.admin('PATCH', '/orgs/initech', { rateLimitPerMinute: -1 })).status).toBe(400);
    expect((await gw.admin('PATCH', '/orgs/initech', {})).status).toBe(400);
    expect((await gw.admin('PATCH', '/orgs/initech', { slug: 'x' })).status).toBe(400);
    expect((await gw.admin('PATCH', '/orgs/nope', { rateLimitPerMinute: 1 })).status).toBe(404);
  });

  it('legacy: a limited request gets a JSON-RPC error on the stream (POST still 202); GET /sse gets 429', async () => {
    const token = await provision('umbrella', 'umbrella-b');
    const client = await openLegacy(gw.url, 'umbrella-b', token); // 1 of 4
    try {
      await handshake(client); // initialize: 2 (notifications are never limited)
      const ok = await client.call('c1', 'tools/call', { name: 'echo', arguments: { message: 'hi' } }); // 3
      expect(ok.result).toBeDefined();
      await client.call('c2', 'tools/call', { name: 'echo', arguments: { message: 'hi' } }); // 4
      const refused = await client.call('c3', 'tools/call', { name: 'echo', arguments: { message: 'hi' } });
      expect(refused.error).toMatchObject({ code: -32000, data: { retryAfterSeconds: expect.any(Number) } });
      expect(refused.error?.message).toContain('token rate limit');
      expect(upstream.requests.some((r) => r.body?.id === 'c3')).toBe(false);

      const second = await fetch(`${gw.url}/brains/umbrella-b/sse`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(second.status).toBe(429);
      expect(second.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    } finally {
      client.close();
    }
  });

  it('counts refusals in /metrics by scope', async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/mcpgate_rate_limited_total\{scope="token"\} [1-9]/);
    expect(text).toMatch(/mcpgate_rate_limited_total\{scope="org"\} [1-9]/);
    expect(text).toMatch(
      /mcpgate_requests_total\{face="mcp",brain="acme-b",method="POST",status="429"\} [1-9]/,
    );
  });
});

describe('requests in flight per legacy session', () => {
  it('past MCPGATE_MAX_INFLIGHT_PER_SESSION a request is refused on the stream; answers make room again', async () => {
    const own = await startTestGateway({ env: { MCPGATE_MAX_INFLIGHT_PER_SESSION: '2' } });
    try {
      const { token } = await own.provision({ org: 'busy', brain: 'busy-b', upstreamUrl: upstream.url });
      await own.admin('PATCH', '/brains/busy-b', { era: '2025' });
      const client = await openLegacy(own.url, 'busy-b', token);
      try {
        await handshake(client);
        const slow = (id: string) => client.call(id, 'tools/call', { name: 'slow', arguments: {} });
        const first = slow('s1');
        const second = slow('s2');
        await upstream.waitFor((r) => r.body?.id === 's1');
        await upstream.waitFor((r) => r.body?.id === 's2');
        const refused = await slow('s3');
        expect(refused.error).toMatchObject({ code: -32000 });
        expect(refused.error?.message).toContain('waiting for answers');
        expect(upstream.requests.some((r) => r.body?.id === 's3')).toBe(false);
        // Notifications and answers are never refused.
        expect(
          (await client.post({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' })).status,
        ).toBe(202);

        upstream.release();
        expect((await first).result).toBeDefined();
        expect((await second).result).toBeDefined();
        const again = await client.call('s4', 'tools/call', { name: 'echo', arguments: { message: 'room' } });
        expect(again.result).toMatchObject({ content: [{ text: 'echo: room' }] });
      } finally {
        client.close();
      }
    } finally {
      await own.close();
    }
  });
});
