/**
 * Idle session expiry (src/sessions/expiry.ts), on both stores: pass-through sessions whose client walked
 * away without a DELETE are forgotten after MCPGATE_SESSION_IDLE_TTL_MS, so the store does not grow
 * forever; sessions in use and legacy sessions stay. The age is set in the store (a day is too long to
 * wait); the pass itself is the gateway's own.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import { storeFactories } from '../helpers/stores.js';

const DAY = 86_400_000;

describe('MCPGATE_SESSION_IDLE_TTL_MS', () => {
  test('defaults to a day; 0 turns expiry off; anything under five minutes is refused', () => {
    expect(parseConfig({}).sessionIdleTtlMs).toBe(DAY);
    expect(parseConfig({ MCPGATE_SESSION_IDLE_TTL_MS: '0' }).sessionIdleTtlMs).toBe(0);
    expect(() => parseConfig({ MCPGATE_SESSION_IDLE_TTL_MS: '1000' })).toThrow(/MCPGATE_SESSION_IDLE_TTL_MS/);
  });
});

describe.each(storeFactories())('idle session expiry ($name store)', ({ skip, create }) => {
  let upstream: MiniUpstream;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;

  beforeAll(async () => {
    if (skip) return;
    const made = await create();
    drop = made.drop;
    upstream = await startMiniUpstream();
    // Keep-alive sweeps every 100 ms, so an open GET stream refreshes its session within a second.
    gateway = await startTestGateway({ store: made.store, env: { MCPGATE_KEEPALIVE_MS: '100' } });
    ({ token } = await gateway.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url }));
  });

  afterAll(async () => {
    if (skip) return;
    await gateway.close();
    await upstream.close();
    await drop();
  });

  const initialize = async () => {
    const res = await fetch(`${gateway.url}/brains/mini/mcp`, {
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
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    return res.headers.get('mcp-session-id')!;
  };

  test.skipIf(skip)('sessions idle past the TTL are forgotten; recent and legacy ones stay', async () => {
    const store = gateway.deps.store;
    const abandoned = await initialize();
    const recent = await initialize();
    await store.putSession({
      id: 'legacy-1',
      brain: 'mini',
      kind: 'legacy',
      org: 'acme',
      tokenId: 'tok-x',
      ownerInstance: gateway.deps.instanceId,
      upstreamSessionId: null,
      protocolVersion: null,
      initParams: null,
    });
    const twoDaysAgo = new Date(Date.now() - 2 * DAY);
    await store.touchSession('mini', abandoned, twoDaysAgo);
    await store.touchSession('mini', 'legacy-1', twoDaysAgo);

    expect(await gateway.expiry.runOnce()).toBe(1);
    expect(await store.getSession('mini', abandoned)).toBeUndefined();
    expect(await store.getSession('mini', recent)).toMatchObject({ kind: 'passthrough' });
    expect(await store.getSession('mini', 'legacy-1')).toMatchObject({ kind: 'legacy' });
    // Nothing more to do on the next pass.
    expect(await gateway.expiry.runOnce()).toBe(0);
  });

  test.skipIf(skip)('a session whose client only listens on its GET stream is not expired', async () => {
    const store = gateway.deps.store;
    const listening = await initialize();
    const controller = new AbortController();
    const stream = await fetch(`${gateway.url}/brains/mini/mcp`, {
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'text/event-stream',
        'mcp-session-id': listening,
      },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    try {
      const twoDaysAgo = new Date(Date.now() - 2 * DAY);
      await store.touchSession('mini', listening, twoDaysAgo);
      // The keep-alive sweep counts the open stream as use.
      await expect
        .poll(async () => (await store.getSession('mini', listening))!.lastSeenAt.getTime(), {
          timeout: 5_000,
        })
        .toBeGreaterThan(Date.now() - DAY);
      await gateway.expiry.runOnce();
      expect(await store.getSession('mini', listening)).toBeDefined();
    } finally {
      controller.abort();
    }
  });
});
