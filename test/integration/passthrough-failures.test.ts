/**
 * Failures never hang and never reach the upstream when they need not: bodies over the limit (413),
 * malformed or non-JSON-RPC bodies (400 with JSON-RPC errors), upstream refusing connections (502, fast),
 * and upstream connect / first-byte timeouts from the brain's settings (504) — each a JSON-RPC error
 * carrying the request id.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../helpers/everything.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.js';

const MAX_BODY = 4096;

let upstream: RawUpstream;
let silent: Server;
let gateway: TestGateway;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  upstream = await startRawUpstream();
  // Accepts TCP connections and never says a word: a TLS handshake to it never completes.
  silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as { port: number }).port;
  gateway = await startTestGateway({ env: { MCPGATE_MAX_BODY_BYTES: String(MAX_BODY) } });
  tokens.raw = (await gateway.provision({ org: 'acme', brain: 'raw', upstreamUrl: upstream.url })).token;
  tokens.down = (
    await gateway.provision({
      org: 'acme',
      brain: 'down',
      upstreamUrl: `http://127.0.0.1:${await freePort()}/mcp`,
    })
  ).token;
  tokens.slow = (
    await gateway.provision({
      org: 'acme',
      brain: 'slow',
      upstreamUrl: upstream.url,
      firstByteTimeoutMs: 300,
    })
  ).token;
  tokens.stuck = (
    await gateway.provision({
      org: 'acme',
      brain: 'stuck',
      upstreamUrl: `https://127.0.0.1:${silentPort}/mcp`,
      connectTimeoutMs: 300,
    })
  ).token;
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
  silent.close();
});

const post = (brain: string, body: string | ReadableStream<Uint8Array>, extra: RequestInit = {}) =>
  fetch(`${gateway.url}/brains/${brain}/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${tokens[brain]}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body,
    ...extra,
  });

const call = (id: number | string) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'x' } });

describe('bad bodies are answered by the gateway, never forwarded', () => {
  test('over the limit → 413, by Content-Length and by counting a chunked body', async () => {
    const before = upstream.requests.length;
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: { pad: 'a'.repeat(MAX_BODY) } });
    const declared = await post('raw', big);
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 }, id: null });

    const bytes = new TextEncoder().encode(big);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.subarray(i, i + 1000));
        controller.close();
      },
    });
    const counted = await post('raw', chunked, { duplex: 'half' } as RequestInit);
    expect(counted.status).toBe(413);
    await counted.arrayBuffer();
    expect(upstream.requests.length).toBe(before);
  });

  test('malformed JSON → 400 parse error; a batch, a non-JSON-RPC value or a bad id → 400 invalid request', async () => {
    const before = upstream.requests.length;
    const cases: Array<[string, number]> = [
      ['{"jsonrpc":"2.0","id":1,', -32700],
      ['[{"jsonrpc":"2.0","id":1,"method":"ping"}]', -32600],
      ['{"hello":"world"}', -32600],
      ['42', -32600],
      // A request id must be a string or a number: an object, a boolean or null is not one.
      ['{"jsonrpc":"2.0","id":{},"method":"ping"}', -32600],
      ['{"jsonrpc":"2.0","id":true,"method":"tools/list"}', -32600],
      ['{"jsonrpc":"2.0","id":null,"method":"ping"}', -32600],
    ];
    for (const [body, code] of cases) {
      const res = await post('raw', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code }, id: null });
    }
    expect(upstream.requests.length).toBe(before);
  });

  test('methods other than POST, GET and DELETE → 405 with Allow', async () => {
    const res = await post('raw', call(1), { method: 'PUT' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, POST, DELETE');
    await res.arrayBuffer();
  });
});

describe('upstream failures become JSON-RPC errors for the request id', () => {
  test('connection refused → 502, fast', async () => {
    const started = performance.now();
    const res = await post('down', call(7));
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Upstream unreachable' },
      id: 7,
    });
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test('no first byte within the brain’s first-byte timeout → 504', async () => {
    upstream.handler = () => {}; // accepts the request, never answers
    const res = await post('slow', call(8));
    expect(res.status).toBe(504);
    expect(await res.json()).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Upstream timed out' },
      id: 8,
    });
  });

  test('no connection within the brain’s connect timeout → 504', async () => {
    const res = await post('stuck', call('abc'));
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({
      error: { code: -32000, message: 'Upstream timed out' },
      id: 'abc',
    });
  });
});
