/**
 * `/metrics` (issue 7 §5): Prometheus text with requests by face/brain/method/status, latency histograms,
 * live sessions and streams, upstream errors and timeouts, bus events, event-loop lag; bounded labels that
 * carry no secrets and no stranger-typed brain ids; the Host allowlist does not block it; optionally on its
 * own port and behind a token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';

const metricsOf = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
};

/** The value of one sample, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_:]+)(\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries(
      [...(match[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(match[4]);
  }
  return undefined;
}

describe('metrics', () => {
  let upstream: MiniUpstream;
  let gw: TestGateway;
  let token: string;
  let tokenId: string;

  beforeAll(async () => {
    upstream = await startMiniUpstream();
    gw = await startTestGateway();
    ({ token, tokenId } = await gw.provision({
      org: 'acme',
      brain: 'metered',
      upstreamUrl: upstream.url,
      firstByteTimeoutMs: 300,
    }));
    await gw.admin('PATCH', '/brains/metered', { era: '2025' });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const mcp = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}/brains/metered/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        ...headers,
      },
      body: JSON.stringify(body),
    });

  it('counts requests by face, brain, method and status, with latency histograms and default metrics', async () => {
    const init = await mcp({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'm', version: '1' } },
    });
    const session = init.headers.get('mcp-session-id')!;
    const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' };
    for (let i = 0; i < 3; i++) {
      expect(
        (await mcp({ jsonrpc: '2.0', id: 10 + i, method: 'tools/call', params: { name: 'echo' } }, headers))
          .status,
      ).toBe(200);
    }
    await mcp({ jsonrpc: '2.0', id: 20, method: 'made/up-method' }, headers);
    // A stranger probing brain ids: counted, but the id never becomes a label.
    await fetch(`${gw.url}/brains/probe-for-tenant-x/mcp`, { method: 'POST' });

    const text = await metricsOf(gw.url);
    expect(
      sample(text, 'mcpgate_requests_total', {
        face: 'mcp',
        brain: 'metered',
        method: 'tools/call',
        status: '200',
      }),
    ).toBe(3);
    expect(
      sample(text, 'mcpgate_requests_total', {
        face: 'mcp',
        brain: 'metered',
        method: 'initialize',
        status: '200',
      }),
    ).toBe(1);
    expect(sample(text, 'mcpgate_requests_total', { face: 'mcp', brain: 'metered', method: 'other' })).toBe(
      1,
    );
    expect(
      sample(text, 'mcpgate_requests_total', { face: 'mcp', brain: '', method: 'POST', status: '401' }),
    ).toBe(1);
    expect(text).not.toContain('probe-for-tenant-x');
    expect(text).not.toContain('made/up-method');
    expect(
      sample(text, 'mcpgate_request_duration_seconds_count', { face: 'mcp', method: 'tools/call' }),
    ).toBe(3);
    expect(
      sample(text, 'mcpgate_request_duration_seconds_bucket', {
        face: 'mcp',
        method: 'tools/call',
        le: '+Inf',
      }),
    ).toBe(3);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    expect(text).toContain('# HELP mcpgate_routed_forwards_total');
    expect(text).not.toContain(token);
    expect(text).not.toContain(session);
  });

  it('shows live sessions and open streams while they are open, and not after', async () => {
    const legacy = await openLegacy(gw.url, 'metered', token);
    await handshake(legacy);
    let text = await metricsOf(gw.url);
    expect(sample(text, 'mcpgate_live_sessions', { kind: 'legacy' })).toBe(1);
    expect(sample(text, 'mcpgate_open_streams', { face: 'sse' })).toBe(1);
    expect(
      sample(text, 'mcpgate_requests_total', {
        face: 'sse',
        brain: 'metered',
        method: 'initialize',
        status: '200',
      }),
    ).toBe(1);
    expect(text).not.toContain(legacy.sessionId);
    legacy.close();
    await legacy.ended;
    await expect
      .poll(async () => sample(await metricsOf(gw.url), 'mcpgate_open_streams', { face: 'sse' }))
      .toBe(0);
    text = await metricsOf(gw.url);
    expect(sample(text, 'mcpgate_live_sessions', { kind: 'legacy' }) ?? 0).toBe(0);
  });

  it('counts upstream timeouts and unreachable upstreams', async () => {
    const init = await mcp({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'm', version: '1' } },
    });
    const headers = {
      'mcp-session-id': init.headers.get('mcp-session-id')!,
      'mcp-protocol-version': '2025-11-25',
    };
    const slow = await mcp(
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow' } },
      headers,
    );
    expect(slow.status).toBe(504);
    upstream.release();
    await gw.admin('PATCH', '/brains/metered', { upstreamUrl: 'http://127.0.0.1:9/mcp' });
    expect((await mcp({ jsonrpc: '2.0', id: 3, method: 'ping' })).status).toBe(502);
    await gw.admin('PATCH', '/brains/metered', { upstreamUrl: upstream.url });

    const text = await metricsOf(gw.url);
    expect(sample(text, 'mcpgate_upstream_errors_total', { kind: 'timeout' })).toBe(1);
    expect(sample(text, 'mcpgate_upstream_errors_total', { kind: 'unreachable' })).toBe(1);
    expect(
      sample(text, 'mcpgate_requests_total', {
        face: 'mcp',
        brain: 'metered',
        method: 'tools/call',
        status: '504',
      }),
    ).toBe(1);
  });

  it('counts bus events by type', async () => {
    const { tokenId: other } = await gw.createToken('acme');
    expect((await gw.admin('DELETE', `/tokens/${other}`)).status).toBe(204);
    const text = await metricsOf(gw.url);
    expect(sample(text, 'mcpgate_bus_events_total', { type: 'token.revoked' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'mcpgate_bus_events_total', { type: 'brain.changed' })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain(other);
    expect(text).not.toContain(tokenId);
  });
});

describe('metrics behind a Host allowlist', () => {
  it('is served whatever the Host (scrapers use the instance address), while the API keeps its allowlist', async () => {
    const gw = await startTestGateway({ env: { MCPGATE_ALLOWED_HOSTS: 'mcp.example.com' } });
    try {
      expect((await fetch(`${gw.url}/admin/v1/orgs`)).status).toBe(403);
      await metricsOf(gw.url);
    } finally {
      await gw.close();
    }
  });
});

describe('metrics on their own port', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      env: { MCPGATE_METRICS_PORT: '0', MCPGATE_METRICS_TOKEN: 'scrape-token-0123456789' },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('serves /metrics only there, and only with the token', async () => {
    expect(gw.metricsUrl).toMatch(/^http:\/\//);
    expect(gw.metricsUrl).not.toBe(gw.url);
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(404);
    const refused = await fetch(`${gw.metricsUrl}/metrics`);
    expect(refused.status).toBe(401);
    expect(
      (await fetch(`${gw.metricsUrl}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(401);
    const text = await metricsOf(gw.metricsUrl!, { authorization: 'Bearer scrape-token-0123456789' });
    expect(text).toContain('mcpgate_requests_total');
    expect((await fetch(`${gw.metricsUrl}/admin/v1/orgs`)).status).toBe(404);
  });
});
