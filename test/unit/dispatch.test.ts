/**
 * The upstream body queue behind the pass-through's dispatch path: collecting, streaming with
 * backpressure (pause above the high-water mark, resume once drained), errors, and early destroy.
 */
import type { Dispatcher } from 'undici';
import { describe, expect, test } from 'vitest';
import { UpstreamBody } from '../../src/proxy/dispatch.js';

function fakeController() {
  const state = { paused: false, aborted: undefined as Error | undefined };
  const controller = {
    get aborted() {
      return state.aborted !== undefined;
    },
    get paused() {
      return state.paused;
    },
    get reason() {
      return state.aborted ?? null;
    },
    abort: (reason: Error) => {
      state.aborted = reason;
    },
    pause: () => {
      state.paused = true;
    },
    resume: () => {
      state.paused = false;
    },
  } satisfies Dispatcher.DispatchController;
  return { controller, state };
}

const chunk = (size: number, fill = 1) => new Uint8Array(size).fill(fill);

describe('UpstreamBody', () => {
  test('bytes() collects every chunk, before or after the end', async () => {
    const body = new UpstreamBody();
    body.push(chunk(2, 1));
    const collected = body.bytes();
    body.push(chunk(3, 2));
    body.end();
    expect([...(await collected)]).toEqual([1, 1, 2, 2, 2]);
  });

  test('streaming pauses the upstream above the high-water mark and resumes once drained', async () => {
    const body = new UpstreamBody();
    const { controller, state } = fakeController();
    body.controller = controller;
    for (let i = 0; i < 5; i++) body.push(chunk(64 * 1024));
    expect(state.paused).toBe(true);
    const iterator = body[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) await iterator.next();
    expect(state.paused).toBe(false);
    await iterator.next();
    await iterator.next();
    const pending = iterator.next();
    body.push(chunk(1, 9));
    expect(await pending).toEqual({ done: false, value: chunk(1, 9) });
    body.end();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
  });

  test('a failure after the head rejects the reader', async () => {
    const body = new UpstreamBody();
    const pending = body.next();
    body.end(new Error('socket hang up'));
    await expect(pending).rejects.toThrow('socket hang up');
    await expect(body.bytes()).rejects.toThrow('socket hang up');
  });

  test('ending the iteration early aborts the exchange; after the end it is a no-op', async () => {
    const body = new UpstreamBody();
    const { controller, state } = fakeController();
    body.controller = controller;
    await body[Symbol.asyncIterator]().return?.();
    expect(state.aborted).toBeInstanceOf(Error);

    const done = new UpstreamBody();
    const second = fakeController();
    done.controller = second.controller;
    done.end();
    done.destroy();
    expect(second.state.aborted).toBeUndefined();
  });
});
