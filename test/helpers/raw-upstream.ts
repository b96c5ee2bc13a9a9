/**
 * A scriptable upstream on raw `node:http` (loopback, free port) for wire-level pass-through tests:
 * it records every request exactly as received (headers, body bytes) and reports when a client went
 * away before its response finished, so tests can wait on that instead of sleeping.
 */
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Raw header pairs as sent, to assert on names that must not appear at all. */
  rawHeaders: string[];
  body: Buffer;
}

export type RawHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  seen: SeenRequest,
) => void | Promise<void>;

export interface RawUpstream {
  url: string;
  requests: SeenRequest[];
  /** Replace to script the next answers; the default answers a JSON-RPC result echoing the id. */
  handler: RawHandler;
  /** Emits 'request' (SeenRequest) on arrival and 'abort' (SeenRequest) when a client left early. */
  events: EventEmitter;
  nextRequest(): Promise<SeenRequest>;
  nextAbort(): Promise<SeenRequest>;
  close(): Promise<void>;
}

export const jsonResult: RawHandler = (_req, res, seen) => {
  const id = seen.body.length ? (JSON.parse(seen.body.toString()) as { id?: unknown }).id : null;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: id ?? null, result: {} }));
};

export async function startRawUpstream(handler: RawHandler = jsonResult): Promise<RawUpstream> {
  const events = new EventEmitter();
  const upstream: RawUpstream = {
    url: '',
    requests: [],
    handler,
    events,
    nextRequest: async () => (await once(events, 'request'))[0] as SeenRequest,
    nextAbort: async () => (await once(events, 'abort'))[0] as SeenRequest,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const seen: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks),
    };
    upstream.requests.push(seen);
    res.on('close', () => {
      if (!res.writableFinished) events.emit('abort', seen);
    });
    events.emit('request', seen);
    await upstream.handler(req, res, seen);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  return upstream;
}
