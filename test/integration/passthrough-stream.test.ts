/**
 * Streaming through the pass-through, observed on the wire with a raw upstream: events reach the client
 * as the upstream writes them (never buffered), a client that hangs up aborts the upstream request
 * (before and after the first byte), and a quiet SSE stream gets keep-alive comments only between
 * events — never inside one the upstream paused half-way through.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { jsonResult, type RawUpstream, startRawUpstream } from '../helpers/raw-upstream.js';

const KEEPALIVE_MS = 100;

let upstream: RawUpstream;
let gateway: TestGateway;
let token: string;

beforeAll(async () => {
  upstream = await startRawUpstream();
  gateway = await startTestGateway({ env: { MCPGATE_KEEPALIVE_MS: String(KEEPALIVE_MS) } });
  ({ token } = await gateway.provision({ org: 'acme', brain: 'raw', upstreamUrl: upstream.url }));
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

afterEach(() => {
  upstream.handler = jsonResult;
});

function sseHead(res: ServerResponse) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.flushHeaders();
}

const post = (body: unknown, signal?: AbortSignal) =>
  fetch(`${gateway.url}/brains/raw/mcp`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify(body),
    signal,
  });

const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: {} } };

describe('streaming', () => {
  test('SSE events reach the client one by one, as the upstream writes them 200 ms apart', async () => {
    upstream.handler = async (_req, res) => {
      sseHead(res);
      for (let n = 1; n <= 3; n++) {
        res.write(
          `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"n":${n}}}\n\n`,
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      res.end();
    };
    const res = await post(call);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const arrivals: Array<{ n: number; at: number }> = [];
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk, { stream: true });
      for (const match of text.matchAll(/"n":(\d)/g)) {
        const n = Number(match[1]);
        if (!arrivals.some((a) => a.n === n)) arrivals.push({ n, at: performance.now() });
      }
    }
    expect(arrivals.map((a) => a.n)).toEqual([1, 2, 3]);
    // Each event arrived on its own, about 200 ms after the previous one, not all at the end.
    expect(arrivals[1]!.at - arrivals[0]!.at).toBeGreaterThan(150);
    expect(arrivals[2]!.at - arrivals[1]!.at).toBeGreaterThan(150);
  });

  test('a JSON answer of unknown length streams through as it comes, unchanged', async () => {
    let clientHasFirstHalf!: () => void;
    const firstHalfSeen = new Promise<void>((resolve) => (clientHasFirstHalf = resolve));
    const first = '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"';
    const second = `${'x'.repeat(1000)}"}]}}`;
    upstream.handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no content-length
      res.write(first);
      await firstHalfSeen;
      res.end(second);
    };
    const res = await post(call);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const head = await reader.read();
    expect(decoder.decode(head.value)).toBe(first);
    clientHasFirstHalf();
    let text = decoder.decode(head.value, { stream: true });
    for (let r = await reader.read(); !r.done; r = await reader.read())
      text += decoder.decode(r.value, { stream: true });
    expect(text).toBe(first + second);
  });

  test('a large JSON answer (over the collect limit) arrives whole and unchanged', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { pad: 'é'.repeat(300 * 1024) } });
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) });
      res.end(big);
    };
    const res = await post(call);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(big))).toBe(true);
  });

  test('a client that hangs up mid-stream aborts the upstream request', async () => {
    upstream.handler = (_req, res) => {
      sseHead(res);
      res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n');
      // …and never finishes.
    };
    const controller = new AbortController();
    const res = await post(call, controller.signal);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('notifications/message');
    const aborted = upstream.nextAbort();
    controller.abort();
    const seen = await aborted;
    expect(seen.method).toBe('POST');
  });

  test('a client that hangs up before the first byte aborts the upstream request', async () => {
    upstream.handler = () => {}; // never answers
    const controller = new AbortController();
    const arrived = upstream.nextRequest();
    const pending = post(call, controller.signal).catch((err: Error) => err);
    await arrived;
    const aborted = upstream.nextAbort();
    controller.abort();
    await aborted;
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('keep-alive', () => {
  test('a quiet stream gets comments between events, never inside an event the upstream paused', async () => {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    upstream.handler = async (_req, res) => {
      sseHead(res);
      res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"half":');
      // Paused mid-event for several keep-alive periods.
      await new Promise((resolve) => setTimeout(resolve, KEEPALIVE_MS * 5));
      res.write('"done"}}\n\n');
      await finished;
      res.end();
    };
    const res = await fetch(`${gateway.url}/brains/raw/mcp`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    });
    expect(res.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk, { stream: true });
      // Wait for the event to complete and then for two keep-alives on the quiet stream after it.
      const tail = text.split('"done"}}\n\n')[1];
      if (tail !== undefined && tail.split(': keepalive\n\n').length > 2) break;
    }
    finish();
    const [head, tail] = text.split('"done"}}\n\n') as [string, string];
    expect(head).toBe(
      'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"half":',
    );
    expect(tail).toMatch(/^(: keepalive\n\n){2,}$/);
  });
});
