/**
 * MCPGATE_BLOCK_PRIVATE_UPSTREAMS end to end (issue 7 item 7): the admin API refuses non-public upstream
 * URLs with a 400 naming upstreamUrl, and the upstream client refuses them again at connect time (a
 * hostname resolving to loopback, an IP literal), against a real local HTTP server. Off by default, where
 * the same upstream answers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Face } from '../../src/app.js';
import { isGatewayError } from '../../src/errors.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** Calls the brain's upstream through the gateway's shared upstream client and reports what happened. */
const ping: Face = (app, deps) => {
  app.get('/:brain/ping', async (c) => {
    try {
      const res = await deps.upstream.request(
        { url: c.get('brain').upstreamUrl },
        { method: 'GET', headers: {} },
      );
      return c.json({ status: res.status, body: await res.text() });
    } catch (err) {
      let cause: unknown = err;
      const codes: string[] = [];
      for (let i = 0; i < 5 && cause; i++, cause = (cause as { cause?: unknown }).cause) {
        const code = (cause as { code?: unknown }).code;
        if (typeof code === 'string') codes.push(code);
      }
      return c.json({ codes, gateway: isGatewayError(err) }, 502);
    }
  });
};

let upstream: Server;
let port: number;
let hits = 0;
let guarded: TestGateway;
let open: TestGateway;
let guardedToken: string;
let openToken: string;

beforeAll(async () => {
  upstream = createServer((_req, res) => {
    hits++;
    res.end('upstream here');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  port = (upstream.address() as AddressInfo).port;
  guarded = await startTestGateway({ faces: [ping], env: { MCPGATE_BLOCK_PRIVATE_UPSTREAMS: 'true' } });
  open = await startTestGateway({ faces: [ping] });
  ({ token: guardedToken } = await guarded.provision({
    org: 'g',
    brain: 'pub',
    upstreamUrl: 'https://8.8.8.8/mcp',
  }));
  ({ token: openToken } = await open.provision({
    org: 'o',
    brain: 'name',
    upstreamUrl: `http://localhost:${port}/`,
  }));
  await open.admin('POST', '/orgs/o/brains', { id: 'literal', upstreamUrl: `http://127.0.0.1:${port}/` });
});
afterAll(async () => {
  await guarded?.close();
  await open?.close();
  await new Promise((resolve) => upstream.close(resolve));
});

const field = async (res: Response) =>
  ((await res.json()) as { error: { field: string; message: string } }).error;

describe('admin API with MCPGATE_BLOCK_PRIVATE_UPSTREAMS', () => {
  it('refuses private, loopback and link-local upstreams with a 400 naming upstreamUrl', async () => {
    for (const upstreamUrl of [
      'http://127.0.0.1:9/mcp',
      'http://localhost:3000/mcp',
      'http://[::1]/mcp',
      'http://10.0.0.5/mcp',
      'http://192.168.1.10/mcp',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00::1]/mcp',
      'http://[::ffff:172.16.0.1]/mcp',
    ]) {
      const res = await guarded.admin('POST', '/orgs/g/brains', { id: 'bad', upstreamUrl });
      expect(res.status, upstreamUrl).toBe(400);
      const error = await field(res);
      expect(error.field).toBe('upstreamUrl');
      expect(error.message).toMatch(/public/);
    }
  });

  it('refuses the same on PATCH, and keeps accepting public addresses', async () => {
    const patch = await guarded.admin('PATCH', '/brains/pub', { upstreamUrl: 'http://10.1.1.1/' });
    expect(patch.status).toBe(400);
    expect((await field(patch)).field).toBe('upstreamUrl');
    expect((await guarded.admin('PATCH', '/brains/pub', { upstreamUrl: 'https://1.1.1.1/mcp' })).status).toBe(
      200,
    );
  });

  it('is off by default: the open gateway took loopback upstreams', async () => {
    expect((await open.admin('GET', '/brains/name')).status).toBe(200);
    expect((await open.admin('GET', '/brains/literal')).status).toBe(200);
  });

  it('refuses credentials in any upstream URL, option or not', async () => {
    const res = await open.admin('POST', '/orgs/o/brains', {
      id: 'creds',
      upstreamUrl: 'https://u:p@example.com/',
    });
    expect(res.status).toBe(400);
    expect((await field(res)).field).toBe('upstreamUrl');
  });
});

describe('connect-time guard', () => {
  const get = (gw: TestGateway, brain: string, token: string) =>
    fetch(`${gw.url}/brains/${brain}/ping`, { headers: { authorization: `Bearer ${token}` } });

  it('reaches loopback upstreams when the option is off', async () => {
    for (const brain of ['name', 'literal']) {
      const res = await get(open, brain, openToken);
      expect(res.status, brain).toBe(200);
      expect(await res.json()).toEqual({ status: 200, body: 'upstream here' });
    }
  });

  it('refuses a hostname that resolves to loopback and an IP literal, even if stored before the check', async () => {
    // Written straight to the store: stands for a URL whose DNS changed after the admin check.
    for (const [id, upstreamUrl] of [
      ['late-name', `http://localhost:${port}/`],
      ['late-literal', `http://127.0.0.1:${port}/`],
      ['late-mapped', `http://[::ffff:127.0.0.1]:${port}/`],
    ] as const) {
      await guarded.deps.store.createBrain({
        id,
        org: 'g',
        upstreamUrl,
        upstreamHeadersEnc: null,
        upstreamHeaderNames: [],
      });
      const before = hits;
      const res = await get(guarded, id, guardedToken);
      expect(res.status, id).toBe(502);
      const body = (await res.json()) as { codes: string[]; gateway: boolean };
      expect(body.gateway).toBe(true);
      expect(body.codes).toContain('ERR_UPSTREAM_UNREACHABLE');
      expect(body.codes).toContain('ERR_UPSTREAM_ADDRESS_BLOCKED');
      expect(hits, 'the upstream never saw the request').toBe(before);
    }
  });
});
