/**
 * Era per brain (issue 6 §1): the gateway learns what a brain's upstream speaks with a modern request
 * first (`server/discover`), keeps the answer per brain, and probes again when the upstream turns out to
 * speak another era. The upstream behind one URL is switched between a 2025 server (the mini upstream)
 * and a 2026-07-28-only one, under both faces. The probe lives in process: the memory store suffices.
 */
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import { type ModernUpstream, startModernUpstream } from '../helpers/modern-upstream.js';

/** One URL, two servers behind it: a plain HTTP forwarder whose target the test switches. */
async function startSwitch(initial: string) {
  let target = initial;
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve(
      {
        fetch: async (request: Request) => {
          const headers = new Headers(request.headers);
          for (const name of ['host', 'connection', 'content-length']) headers.delete(name);
          const body = request.method === 'POST' ? await request.arrayBuffer() : undefined;
          const res = await fetch(target, {
            method: request.method,
            headers,
            body,
            signal: request.signal,
          }).catch(() => undefined);
          if (!res) return new Response(null, { status: 502 }); // the gateway hung up first
          const out = new Headers(res.headers);
          for (const name of ['connection', 'content-length', 'transfer-encoding', 'keep-alive'])
            out.delete(name);
          return new Response(res.body, { status: res.status, headers: out });
        },
        port: 0,
        hostname: '127.0.0.1',
      },
      () => resolve(s),
    );
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    to(url: string) {
      target = url;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
  };
}

describe('era probe: modern request first, cached per brain, probed again on failure', () => {
  let mini: MiniUpstream;
  let modern: ModernUpstream;
  let flip: Awaited<ReturnType<typeof startSwitch>>;
  let gateway: TestGateway;
  let token: string;

  beforeAll(async () => {
    mini = await startMiniUpstream();
    modern = await startModernUpstream();
    flip = await startSwitch(mini.url);
    gateway = await startTestGateway();
    ({ token } = await gateway.provision({ org: 'acme', brain: 'flip', upstreamUrl: flip.url }));
  });

  afterAll(async () => {
    await gateway?.close();
    await flip?.close();
    await mini?.close();
    await modern?.close();
  });

  const initialize = () =>
    fetch(`${gateway.url}/brains/flip/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });

  const serverName = (init: { result?: Record<string, unknown> }) =>
    (init.result?.serverInfo as { name?: string } | undefined)?.name;

  test('a 2025 upstream: probed once with server/discover, then the 2025 leg', async () => {
    const client = await openLegacy(gateway.url, 'flip', token);
    try {
      expect(serverName(await handshake(client))).toBe('mini-upstream');
      const probes = mini.requests.filter((r) => r.body?.method === 'server/discover');
      expect(probes).toHaveLength(1);
      expect(probes[0]!.headers['mcp-protocol-version']).toBe('2026-07-28');
      expect(probes[0]!.headers['mcp-method']).toBe('server/discover');
      // Cached: a second session asks nothing again.
      const again = await openLegacy(gateway.url, 'flip', token);
      expect(serverName(await handshake(again))).toBe('mini-upstream');
      again.close();
      expect(mini.requests.filter((r) => r.body?.method === 'server/discover')).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  test('the upstream becomes 2026-only: its refusal of initialize makes the gateway probe again', async () => {
    flip.to(modern.url);
    const refused = await initialize();
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: -32022 } });

    const retried = await initialize();
    expect(retried.status).toBe(200);
    expect(retried.headers.get('mcp-session-id')).toMatch(/^t-/);
    expect(serverName((await retried.json()) as { result?: Record<string, unknown> })).toBe(
      'modern-upstream',
    );
    expect(modern.calls('server/discover')).toHaveLength(1);

    const client = await openLegacy(gateway.url, 'flip', token);
    try {
      expect(serverName(await handshake(client))).toBe('modern-upstream');
      expect(modern.calls('server/discover')).toHaveLength(1);
    } finally {
      client.close();
    }
  });

  test('back to a 2025 upstream: a failing translated call makes the gateway probe again', async () => {
    const client = await openLegacy(gateway.url, 'flip', token);
    try {
      expect(serverName(await handshake(client))).toBe('modern-upstream');
      flip.to(mini.url);
      const failed = await client.call(2, 'tools/call', { name: 'echo', arguments: { message: 'x' } });
      expect(failed.error).toBeDefined();
    } finally {
      client.close();
    }
    const next = await openLegacy(gateway.url, 'flip', token);
    try {
      expect(serverName(await handshake(next))).toBe('mini-upstream');
      const reply = await next.call(3, 'tools/call', { name: 'echo', arguments: { message: 'back' } });
      expect(reply.result).toMatchObject({ content: [{ text: 'echo: back' }] });
    } finally {
      next.close();
    }
  });

  test('a brain change drops what was learnt', async () => {
    const before = mini.requests.filter((r) => r.body?.method === 'server/discover').length;
    const patched = await gateway.admin('PATCH', '/brains/flip', { connectTimeoutMs: 5000 });
    expect(patched.status).toBe(200);
    const client = await openLegacy(gateway.url, 'flip', token);
    try {
      await handshake(client);
      expect(mini.requests.filter((r) => r.body?.method === 'server/discover').length).toBe(before + 1);
    } finally {
      client.close();
    }
  });

  test('the legacy face too: a refused initialize makes the next session probe again', async () => {
    flip.to(modern.url);
    const first = await openLegacy(gateway.url, 'flip', token);
    try {
      const refused = await first.call('i', 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'raw', version: '1' },
      });
      expect(refused.error).toMatchObject({ code: -32022 });
    } finally {
      first.close();
    }
    const next = await openLegacy(gateway.url, 'flip', token);
    try {
      expect(serverName(await handshake(next))).toBe('modern-upstream');
    } finally {
      next.close();
    }
  });
});
