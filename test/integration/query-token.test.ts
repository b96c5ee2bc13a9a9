/**
 * `?access_token=` for clients that cannot set headers (issue 7 item 8): off by default; when on, only
 * `GET /brains/:brain/sse` reads it, the face never sees it in the URL, a client disconnect still aborts
 * the request, and it never reaches the logs.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Face } from '../../src/app.js';
import { redactQueryToken } from '../../src/auth/query-token.js';
import { type DemoBrain, startDemoBrain } from '../../src/demo/brain.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let aborted = 0;

/** Reports auth and the URL the face received; `?stream` holds an SSE stream open until the client leaves. */
const probe: Face = (app) => {
  app.all('/:brain/sse', (c) => {
    if (c.req.query('stream') === undefined) {
      return c.json({ org: c.get('principal').org, url: c.req.url, query: c.req.query() });
    }
    c.req.raw.signal.addEventListener('abort', () => {
      aborted++;
    });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(
          new TextEncoder().encode('event: endpoint\ndata: /brains/a1/messages?sessionId=s\n\n'),
        );
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  });
  app.all('/:brain/mcp', (c) => c.json({ org: c.get('principal').org }));
  app.all('/:brain/messages', (c) => c.json({ org: c.get('principal').org }));
};

let off: TestGateway;
let on: TestGateway;
let offToken: string;
let token: string;

beforeAll(async () => {
  off = await startTestGateway({ faces: [probe] });
  on = await startTestGateway({ faces: [probe], env: { MCPGATE_ALLOW_QUERY_TOKEN: 'true' } });
  ({ token: offToken } = await off.provision({
    org: 'acme',
    brain: 'a1',
    upstreamUrl: 'http://127.0.0.1:9/mcp',
  }));
  ({ token } = await on.provision({ org: 'acme', brain: 'a1', upstreamUrl: 'http://127.0.0.1:9/mcp' }));
});
afterAll(async () => {
  await off?.close();
  await on?.close();
});

const q = (t: string) => `access_token=${encodeURIComponent(t)}`;

describe('query token', () => {
  it('is off by default: 401 on GET /sse', async () => {
    const res = await fetch(`${off.url}/brains/a1/sse?${q(offToken)}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="mcpgate"$/);
  });

  it('when on, authenticates GET /brains/:brain/sse, and the face sees the URL without it', async () => {
    const res = await fetch(`${on.url}/brains/a1/sse?v=1&${q(token)}&w=2`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { org: string; url: string; query: Record<string, string> };
    expect(body.org).toBe('acme');
    expect(body.url).not.toContain('access_token');
    expect(body.url).not.toContain(token);
    expect(body.query).toEqual({ v: '1', w: '2' });
  });

  it('is never read on /mcp, on /messages, or on anything but GET', async () => {
    for (const [method, path] of [
      ['GET', '/brains/a1/mcp'],
      ['POST', '/brains/a1/mcp'],
      ['POST', '/brains/a1/sse'],
      ['GET', '/brains/a1/messages'],
      ['POST', '/brains/a1/messages'],
      ['DELETE', '/brains/a1/sse'],
    ] as const) {
      const res = await fetch(`${on.url}${path}?sessionId=s&${q(token)}`, { method });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
  });

  it('refuses a bad query token with 401, and a token sent both ways with 400 invalid_request', async () => {
    expect((await fetch(`${on.url}/brains/a1/sse?${q(`mcpg_${'x'.repeat(43)}`)}`)).status).toBe(401);
    const both = await fetch(`${on.url}/brains/a1/sse?${q(token)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(both.status).toBe(400);
    expect(both.headers.get('www-authenticate')).toContain('error="invalid_request"');
  });

  it('keeps the client-disconnect signal working on the request the face receives', async () => {
    const before = aborted;
    const controller = new AbortController();
    const res = await fetch(`${on.url}/brains/a1/sse?stream&${q(token)}`, { signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: endpoint');
    controller.abort();
    await expect.poll(() => aborted, { timeout: 5_000 }).toBe(before + 1);
  });

  it('never reaches the logs', async () => {
    expect(on.logs.length).toBeGreaterThan(0);
    for (const line of [...on.logs, ...off.logs]) {
      expect(line).not.toContain(token);
      expect(line).not.toContain(offToken);
    }
  });
});

describe('the real legacy face with a header-less SSE GET (an EventSource-style client)', () => {
  let demo: DemoBrain;
  let gw: TestGateway;
  let secret: string;
  beforeAll(async () => {
    demo = await startDemoBrain();
    gw = await startTestGateway({ env: { MCPGATE_ALLOW_QUERY_TOKEN: 'true' } });
    ({ token: secret } = await gw.provision({ org: 'acme', brain: 'demo', upstreamUrl: demo.url }));
  });
  afterAll(async () => {
    await gw?.close();
    await demo?.close();
  });

  it('opens the stream with ?access_token=, talks to the brain, and logs no trace of the token', async () => {
    const getAuthHeaders: Array<string | null> = [];
    const transport = new SSEClientTransport(new URL(`${gw.url}/brains/demo/sse?${q(secret)}`), {
      // POSTs to /messages carry the header; the GET carries only the query token.
      requestInit: { headers: { authorization: `Bearer ${secret}` } },
      eventSourceInit: {
        fetch: (url, init) => {
          const headers = new Headers(init?.headers);
          headers.delete('authorization');
          getAuthHeaders.push(headers.get('authorization'));
          return fetch(url, { ...init, headers });
        },
      },
    });
    const client = new Client({ name: 'query-token-test', version: '1.0.0' });
    await client.connect(transport);
    const result = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    expect(result.content).toEqual([{ type: 'text', text: 'Echo: hi' }]);
    await client.close();
    expect(getAuthHeaders).toEqual([null]);
    await expect.poll(() => gw.logs.length).toBeGreaterThan(0);
    for (const line of gw.logs) expect(line).not.toContain(secret);
  });
});

describe('redactQueryToken (for loggers and metric labels)', () => {
  it('masks every access_token value and leaves the rest', () => {
    expect(redactQueryToken('/brains/a/sse?access_token=mcpg_abc&v=1')).toBe(
      '/brains/a/sse?access_token=[redacted]&v=1',
    );
    expect(redactQueryToken('http://h/x?v=1&ACCESS_TOKEN=eyJ.a.b#f')).toBe(
      'http://h/x?v=1&ACCESS_TOKEN=[redacted]#f',
    );
    expect(redactQueryToken('/brains/a/mcp?sessionId=s')).toBe('/brains/a/mcp?sessionId=s');
  });
});
