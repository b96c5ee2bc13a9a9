/**
 * The browser boundary (issue 7 item 2; MCP 2025-11-25 transports, protocol.md §2.1): Origin allowlist
 * with 403 JSON-RPC errors, Host allowlist, and CORS only when configured. Real HTTP throughout; Host
 * headers are set with node:http because fetch will not send a custom one.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Face } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const APP = 'https://app.example.com';

const faces: Face[] = [
  (app) => {
    app.all('/:brain/whoami', (c) =>
      c.json({ org: c.get('principal').org }, 200, { 'mcp-session-id': 's-1' }),
    );
    // A response with immutable headers, like the ones the pass-through relays from undici.
    app.get('/:brain/relay', async (c) => fetch(new URL('/healthz', c.req.url)));
  },
];

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly these headers (Host included). */
function raw(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const gateways: TestGateway[] = [];
async function gateway(env: Record<string, string>): Promise<{ gw: TestGateway; token: string }> {
  const gw = await startTestGateway({ faces, env });
  gateways.push(gw);
  const { token } = await gw.provision({ org: 'acme', brain: 'a1', upstreamUrl: 'http://127.0.0.1:9/mcp' });
  return { gw, token };
}
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
});

describe('Origin', () => {
  let gw: TestGateway;
  let token: string;
  let plain: { gw: TestGateway; token: string };
  beforeAll(async () => {
    ({ gw, token } = await gateway({
      MCPGATE_ALLOWED_ORIGINS: APP,
      MCPGATE_PUBLIC_URL: 'https://mcp.example.com',
    }));
    plain = await gateway({});
  });

  const get = (g: TestGateway, t: string | undefined, origin?: string) =>
    fetch(`${g.url}/brains/a1/whoami`, {
      headers: { ...(t ? { authorization: `Bearer ${t}` } : {}), ...(origin ? { origin } : {}) },
    });

  it('lets requests without an Origin through (every non-browser client)', async () => {
    expect((await get(gw, token)).status).toBe(200);
    expect((await get(plain.gw, plain.token)).status).toBe(200);
  });

  it('lets allowed origins through, compared as browsers serialise them, and the public origin', async () => {
    expect((await get(gw, token, APP)).status).toBe(200);
    expect((await get(gw, token, 'https://APP.example.com:443')).status).toBe(200);
    expect((await get(gw, token, 'https://mcp.example.com')).status).toBe(200);
  });

  it('answers any other Origin with 403 and a JSON-RPC error without an id, before auth', async () => {
    for (const origin of ['https://evil.example', 'http://app.example.com', 'null', 'not a url']) {
      for (const t of [token, undefined]) {
        const res = await get(gw, t, origin);
        expect(res.status, origin).toBe(403);
        expect(await res.json()).toEqual({
          jsonrpc: '2.0',
          error: { code: -32000, message: 'Forbidden: origin not allowed' },
          id: null,
        });
      }
    }
  });

  it('refuses foreign origins by default too (nothing listed: only the gateway’s own origin would pass)', async () => {
    expect((await get(plain.gw, plain.token, 'https://evil.example')).status).toBe(403);
  });

  it('guards the admin API with its own error shape', async () => {
    const res = await fetch(`${gw.url}/admin/v1/orgs`, {
      headers: { authorization: 'Bearer whatever-admin', origin: 'https://evil.example' },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { code: 'ERR_FORBIDDEN', message: 'origin not allowed' } });
  });

  it('sends no CORS headers and answers no preflight when CORS is not configured', async () => {
    const res = await get(gw, token, APP);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${gw.url}/brains/a1/whoami`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.status).not.toBe(204);
  });
});

describe('Host', () => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    // 127.0.0.1 (any port) so the test's own admin calls pass; mcp.example.com is "the" public host.
    ({ gw, token } = await gateway({ MCPGATE_ALLOWED_HOSTS: 'mcp.example.com, 127.0.0.1' }));
  });

  const withHost = (path: string, host: string, auth = true) =>
    raw(`${gw.url}${path}`, { headers: { host, ...(auth ? { authorization: `Bearer ${token}` } : {}) } });

  it('accepts listed hosts, any case, any port when the entry has none', async () => {
    for (const host of ['mcp.example.com', 'MCP.Example.COM', 'mcp.example.com:8443', '127.0.0.1:1']) {
      expect((await withHost('/brains/a1/whoami', host)).status, host).toBe(200);
    }
  });

  it('refuses other hosts with 403 on the faces and the admin API, never on health checks', async () => {
    const face = await withHost('/brains/a1/whoami', 'rebound.attacker.example');
    expect(face.status).toBe(403);
    expect(JSON.parse(face.body)).toMatchObject({
      jsonrpc: '2.0',
      error: { message: 'Forbidden: host not allowed' },
    });
    const admin = await withHost('/admin/v1/orgs', 'rebound.attacker.example');
    expect(admin.status).toBe(403);
    expect(JSON.parse(admin.body)).toMatchObject({ error: { code: 'ERR_FORBIDDEN' } });
    expect((await withHost('/healthz', 'rebound.attacker.example', false)).status).toBe(200);
    expect((await withHost('/readyz', 'rebound.attacker.example', false)).status).toBe(200);
    expect((await withHost('/brains/a1/whoami', 'mcp.example.com.attacker.example')).status).toBe(403);
  });
});

describe('CORS (opt-in)', () => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    ({ gw, token } = await gateway({ MCPGATE_CORS_ORIGINS: APP }));
  });

  it('answers a preflight for the MCP headers without a token', async () => {
    const res = await fetch(`${gw.url}/brains/a1/whoami`, {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers':
          'authorization, content-type, mcp-session-id, mcp-protocol-version, mcp-param-region',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    const allowed = res.headers.get('access-control-allow-headers')!;
    for (const h of [
      'authorization',
      'content-type',
      'mcp-session-id',
      'mcp-protocol-version',
      'mcp-param-region',
    ]) {
      expect(allowed).toContain(h);
    }
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it('marks responses readable by the allowed origin and exposes the MCP headers, 401s included', async () => {
    const ok = await fetch(`${gw.url}/brains/a1/whoami`, {
      headers: { origin: APP, authorization: `Bearer ${token}` },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
    const exposed = ok.headers.get('access-control-expose-headers')!;
    expect(exposed).toContain('mcp-session-id');
    expect(exposed).toContain('www-authenticate');
    const unauthorized = await fetch(`${gw.url}/brains/a1/whoami`, { headers: { origin: APP } });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('adds its headers to relayed responses whose headers are immutable', async () => {
    const res = await fetch(`${gw.url}/brains/a1/relay`, {
      headers: { origin: APP, authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('still refuses origins outside the list, preflights included', async () => {
    const res = await fetch(`${gw.url}/brains/a1/whoami`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('configuration', () => {
  it('is off by default', () => {
    expect(parseConfig({})).toMatchObject({ allowedOrigins: [], allowedHosts: [], corsOrigins: [] });
  });

  it('normalises origins as browsers send them and refuses anything that is not an origin', () => {
    expect(
      parseConfig({ MCPGATE_ALLOWED_ORIGINS: 'https://App.example.com:443, http://localhost:6274/ ,null,*' })
        .allowedOrigins,
    ).toEqual(['https://app.example.com', 'http://localhost:6274', 'null', '*']);
    for (const bad of [
      'https://a.example/path',
      'ftp://a',
      'app.example.com',
      'https://u@a.example',
      'https://a.example?',
    ]) {
      expect(() => parseConfig({ MCPGATE_CORS_ORIGINS: bad }), bad).toThrow(/MCPGATE_CORS_ORIGINS/);
    }
  });

  it('reads hosts with optional ports and refuses malformed ones', () => {
    expect(parseConfig({ MCPGATE_ALLOWED_HOSTS: 'MCP.example.com:8443,[::1]' }).allowedHosts).toEqual([
      'mcp.example.com:8443',
      '[::1]',
    ]);
    expect(() => parseConfig({ MCPGATE_ALLOWED_HOSTS: 'a b' })).toThrow(/MCPGATE_ALLOWED_HOSTS/);
  });
});
