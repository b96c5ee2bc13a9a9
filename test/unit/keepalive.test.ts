/**
 * The SSE relay's event-boundary tracking (every line-ending style, split across chunks) and its
 * lifecycle: bytes pass unchanged, cancelling the relay cancels the upstream, `onEnd` fires once.
 */
import { describe, expect, test } from 'vitest';
import { EventBoundary, relaySse } from '../../src/proxy/keepalive.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function boundaryAfter(...chunks: string[]): boolean {
  const b = new EventBoundary();
  for (const chunk of chunks) b.push(bytes(chunk));
  return b.atBoundary;
}

describe('EventBoundary', () => {
  test('true at the start and after an empty line, whatever the line endings', () => {
    expect(new EventBoundary().atBoundary).toBe(true);
    for (const ending of ['\n\n', '\r\n\r\n', '\r\r', '\n\r\n', '\r\n\n']) {
      expect(boundaryAfter(`data: x${ending}`), JSON.stringify(ending)).toBe(true);
    }
    expect(boundaryAfter('\n')).toBe(true);
  });

  test('false inside an event: mid-line, or after a line that did not end the event', () => {
    for (const text of ['data: x', 'data: x\n', 'data: x\r\n', 'event: message\ndata: {"a":', 'data: x\r']) {
      expect(boundaryAfter(text), JSON.stringify(text)).toBe(false);
    }
  });

  test('follows boundaries split across chunks of any size', () => {
    expect(boundaryAfter('data: x\n', '\n')).toBe(true);
    expect(boundaryAfter('data: x\r', '\n', '\r', '\n')).toBe(true);
    expect(boundaryAfter('data: x\n\n', 'd')).toBe(false);
    expect(boundaryAfter('data: x\n\n', 'data: y', '\n')).toBe(false);
  });
});

describe('relaySse', () => {
  test('passes chunks through unchanged and reports the end once', async () => {
    const ends: string[] = [];
    const upstream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes('data: 1\n\n'));
        c.enqueue(bytes('data: 2\n\n'));
        c.close();
      },
    });
    const out = relaySse(upstream, { keepAliveMs: 60_000, onEnd: (how) => ends.push(how) });
    expect(await new Response(out).text()).toBe('data: 1\n\ndata: 2\n\n');
    expect(ends).toEqual(['end']);
  });

  test('cancelling the relay cancels the upstream body', async () => {
    let cancelled: unknown;
    const upstream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes('data: 1\n\n'));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const ends: string[] = [];
    const reader = relaySse(upstream, { keepAliveMs: 60_000, onEnd: (how) => ends.push(how) }).getReader();
    await reader.read();
    await reader.cancel('client gone');
    expect(cancelled).toBe('client gone');
    expect(ends).toEqual(['cancel']);
  });

  test('an upstream that fails ends the client stream cleanly', async () => {
    let pulls = 0;
    const upstream = new ReadableStream<Uint8Array>({
      pull(c) {
        pulls += 1;
        if (pulls === 1) c.enqueue(bytes('data: 1\n\n'));
        else c.error(new Error('upstream reset'));
      },
    });
    const ends: string[] = [];
    const out = relaySse(upstream, { keepAliveMs: 60_000, onEnd: (how) => ends.push(how) });
    expect(await new Response(out).text()).toBe('data: 1\n\n');
    expect(ends).toEqual(['error']);
  });

  test('an injected event goes out between upstream events, never inside one', async () => {
    let upstream!: ReadableStreamDefaultController<Uint8Array>;
    const source = new ReadableStream<Uint8Array>({
      start(c) {
        upstream = c;
      },
    });
    let inject!: (event: Uint8Array) => boolean;
    const reader = relaySse(source, {
      keepAliveMs: 60_000,
      withInjector: (fn) => {
        inject = fn;
      },
    }).getReader();
    const decoder = new TextDecoder();
    const read = async () => decoder.decode((await reader.read()).value);

    // Between events (nothing written yet): out at once.
    expect(inject(bytes('data: own-1\n\n'))).toBe(true);
    expect(await read()).toBe('data: own-1\n\n');
    // The upstream pauses half-way through an event: the injected one waits for its end.
    upstream.enqueue(bytes('event: message\ndata: {"half":'));
    expect(await read()).toBe('event: message\ndata: {"half":');
    expect(inject(bytes('data: own-2\n\n'))).toBe(true);
    upstream.enqueue(bytes('1}\n\n'));
    expect(await read()).toBe('1}\n\n');
    expect(await read()).toBe('data: own-2\n\n');
    upstream.close();
    expect((await reader.read()).done).toBe(true);
    // Ended: nothing more is accepted.
    expect(inject(bytes('data: own-3\n\n'))).toBe(false);
  });
});
