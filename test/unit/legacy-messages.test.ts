/**
 * The legacy face's body reader (one read, bounded, batches split) and the reading of upstream failure
 * answers (session lost or not, which error the client sees). Pure; no servers.
 */
import { describe, expect, test } from 'vitest';
import { readClientMessages } from '../../src/bridge/client-messages.js';
import { isSessionLost, upstreamErrorOf } from '../../src/bridge/upstream-errors.js';
import { isGatewayError } from '../../src/errors.js';

const post = (body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  new Request('http://gw/brains/b/messages?sessionId=x', {
    method: 'POST',
    headers,
    body,
    ...(typeof body === 'string' ? {} : { duplex: 'half' }),
  } as RequestInit);

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return isGatewayError(err) ? err.code : 'other';
  }
  return 'resolved';
};

describe('readClientMessages', () => {
  test('classifies requests, notifications and responses; a single message keeps its text', async () => {
    const text = '{"jsonrpc":"2.0","id":7,"method":"tools/list"}';
    expect(await readClientMessages(post(text), 1024)).toEqual([
      { kind: 'request', id: 7, method: 'tools/list', params: undefined, body: text },
    ]);
    const [note] = await readClientMessages(
      post('{"jsonrpc":"2.0","method":"notifications/initialized"}'),
      1024,
    );
    expect(note).toMatchObject({ kind: 'notification', id: null, method: 'notifications/initialized' });
    const [answer] = await readClientMessages(
      post('{"jsonrpc":"2.0","id":"s-1","result":{"ok":true}}'),
      1024,
    );
    expect(answer).toMatchObject({ kind: 'response', id: 's-1', method: undefined });
  });

  test('a batch becomes one message each, in order, each with its own body', async () => {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
    ];
    const messages = await readClientMessages(post(JSON.stringify(batch)), 1024);
    expect(messages.map((m) => [m.kind, JSON.parse(String(m.body))])).toEqual([
      ['request', batch[0]],
      ['notification', batch[1]],
    ]);
  });

  test('refuses non-JSON, non-JSON-RPC, empty batches and bad ids', async () => {
    expect(await code(readClientMessages(post('{nope'), 1024))).toBe('ERR_PARSE');
    for (const bad of [
      '{"hello":1}',
      '[]',
      '[1]',
      '{"jsonrpc":"2.0","id":{},"method":"x"}',
      '{"jsonrpc":"1.0","id":1,"method":"x"}',
    ]) {
      expect(await code(readClientMessages(post(bad), 1024))).toBe('ERR_INVALID_MESSAGE');
    }
  });

  test('over the limit: refused from Content-Length, or counted on a chunked body', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', method: 'x', params: { pad: 'a'.repeat(2048) } });
    expect(await code(readClientMessages(post(big, { 'content-length': String(big.length) }), 1024))).toBe(
      'ERR_PAYLOAD_TOO_LARGE',
    );
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode('a'.repeat(512)));
        controller.close();
      },
    });
    expect(await code(readClientMessages(post(chunks), 1024))).toBe('ERR_PAYLOAD_TOO_LARGE');
  });
});

describe('upstream failure answers', () => {
  test('404, and server-everything’s 400s for unknown sessions, mean the session is lost', () => {
    expect(isSessionLost(404, '')).toBe(true);
    const everything =
      '{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}';
    expect(isSessionLost(400, everything)).toBe(true);
    expect(
      isSessionLost(400, '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}'),
    ).toBe(false);
    expect(isSessionLost(500, 'No valid session ID')).toBe(false);
  });

  test('the upstream’s JSON-RPC error is kept; anything else names the status', () => {
    expect(
      upstreamErrorOf(400, '{"jsonrpc":"2.0","error":{"code":-32602,"message":"bad params"},"id":null}'),
    ).toEqual({
      code: -32602,
      message: 'bad params',
    });
    expect(upstreamErrorOf(502, '<html>bad gateway</html>')).toEqual({
      code: -32000,
      message: 'Upstream error: HTTP 502',
    });
  });
});
