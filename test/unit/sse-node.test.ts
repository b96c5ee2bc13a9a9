/**
 * `bufferedBody` (src/http/sse-node.ts): the legacy face reads a small POST body straight from Node's
 * buffer when all of it is there. Real node:http on loopback: Node marks a request `complete` only
 * after the handler's microtasks have run, while the body bytes are buffered before that.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { bufferedBody } from '../../src/http/sse-node.js';

/** Sends one raw request; resolves with what `inspect` returned inside the handler, after a microtask. */
function inside<T>(raw: string, inspect: (req: IncomingMessage) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    const server = createServer(async (req, res) => {
      await Promise.resolve(); // as after an auth middleware whose lookups hit the cache
      try {
        resolve(inspect(req));
      } catch (err) {
        reject(err);
      }
      res.end();
      server.close();
    });
    server.listen(0, '127.0.0.1', () => {
      const socket = connect((server.address() as { port: number }).port, '127.0.0.1', () =>
        socket.write(raw),
      );
      socket.on('data', () => socket.destroy());
    });
  });
}

describe('bufferedBody', () => {
  it('returns a body Node already holds in full, before the request is marked complete', async () => {
    const body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';
    const seen = await inside(
      `POST /m HTTP/1.1\r\nhost: t\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      (req) => ({ complete: req.complete, body: bufferedBody(req, 1024) }),
    );
    expect(seen).toEqual({ complete: false, body });
  });

  it('leaves a chunked body, or one not all there, to the stream reader', async () => {
    const chunked = await inside(
      'POST /m HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
      (req) => bufferedBody(req, 1024),
    );
    expect(chunked).toBeUndefined();
    const partial = await inside(
      'POST /m HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n{"jsonrpc"',
      (req) => bufferedBody(req, 1024),
    );
    expect(partial).toBeUndefined();
  });

  it('refuses a buffered body over the limit', async () => {
    const body = 'x'.repeat(64);
    await expect(
      inside(`POST /m HTTP/1.1\r\nhost: t\r\ncontent-length: 64\r\n\r\n${body}`, (req) =>
        bufferedBody(req, 10),
      ),
    ).rejects.toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE' });
  });
});
