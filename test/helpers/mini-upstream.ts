/**
 * A small stateful Streamable HTTP MCP upstream on raw `node:http` (loopback, free port) for legacy-bridge
 * tests that need to see or script the upstream side: it records every request, keeps sessions (404 for
 * unknown ones, as the spec says), holds GET streams open for pushes, and can "restart" (forget every
 * session). Tools: `echo` (JSON reply), `progress` (SSE reply with a priming event, 3 progress
 * notifications, then the result), `poll` (SSE priming + retry, then closes; the result comes on the
 * GET resume with Last-Event-ID, SEP-1699), `slow` (answers only when released or the client leaves),
 * `big` (a text result of `bytes` bytes).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MiniRequest {
  method: string;
  headers: IncomingHttpHeaders;
  sessionId: string | undefined;
  /** Parsed JSON-RPC body of a POST. */
  body: { id?: unknown; method?: string; params?: Record<string, unknown>; result?: unknown } | undefined;
}

export interface MiniUpstream {
  url: string;
  requests: MiniRequest[];
  /** Resolves with the first request (past or future) matching. */
  waitFor(match: (r: MiniRequest) => boolean): Promise<MiniRequest>;
  /** Live GET streams by session id. */
  streams: Map<string, ServerResponse>;
  /** Answers every pending `slow` call. */
  release(): void;
  /** Holds the answers to `initialize` until `releaseInitialize()` (requests are recorded at once). */
  holdInitialize(): void;
  releaseInitialize(): void;
  /** Emits 'slow-aborted' when a client left a `slow` call before it was answered. */
  events: EventEmitter;
  /** Simulates a restart: every session is forgotten (later requests get 404) and GET streams end. */
  forget(): void;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const sse = (data: unknown, id?: string) => `${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

export async function startMiniUpstream(): Promise<MiniUpstream> {
  const requests: MiniRequest[] = [];
  const events = new EventEmitter();
  const sessions = new Set<string>();
  const streams = new Map<string, ServerResponse>();
  const pendingPolls = new Map<string, unknown>();
  const slow: Array<() => void> = [];
  let heldInitialize: Array<() => void> | undefined;

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const sessionId = req.headers['mcp-session-id'] as string | undefined;
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const seen: MiniRequest = { method: req.method!, headers: req.headers, sessionId, body };
    requests.push(seen);
    events.emit('request', seen);

    if (req.method === 'POST' && body?.method === 'initialize') {
      const id = randomUUID();
      sessions.add(id);
      const result = {
        protocolVersion: body.params?.protocolVersion ?? '2025-11-25',
        capabilities: { tools: {}, logging: {} },
        serverInfo: { name: 'mini-upstream', version: '1.0.0' },
      };
      const answer = () => json(res, 200, { jsonrpc: '2.0', id: body.id, result }, { 'mcp-session-id': id });
      if (heldInitialize) heldInitialize.push(answer);
      else answer();
      return;
    }
    if (!sessionId || !sessions.has(sessionId)) {
      return json(res, 404, {
        jsonrpc: '2.0',
        error: { code: -32001, message: 'Session not found' },
        id: null,
      });
    }
    if (req.method === 'DELETE') {
      sessions.delete(sessionId);
      streams.get(sessionId)?.end();
      return json(res, 200, {});
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const lastEventId = req.headers['last-event-id'] as string | undefined;
      if (lastEventId && pendingPolls.has(lastEventId)) {
        res.end(sse(pendingPolls.get(lastEventId), `${lastEventId}-1`));
        pendingPolls.delete(lastEventId);
        return;
      }
      res.flushHeaders();
      streams.set(sessionId, res);
      res.on('close', () => streams.get(sessionId) === res && streams.delete(sessionId));
      return;
    }
    if (body?.id === undefined || body.method === undefined) {
      res.writeHead(202).end();
      return;
    }
    const args = (body.params?.arguments ?? {}) as Record<string, unknown>;
    const reply = (content: string) => ({
      jsonrpc: '2.0',
      id: body.id,
      result: { content: [{ type: 'text', text: content }] },
    });
    const tool = body.method === 'tools/call' ? body.params?.name : undefined;
    if (tool === 'progress') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('id: prime-1\ndata: \n\n');
      const token = (body.params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
      for (let i = 1; i <= 3; i++) {
        const params = { progressToken: token, progress: i, total: 3 };
        res.write(sse({ jsonrpc: '2.0', method: 'notifications/progress', params }, `p-${i}`));
      }
      res.end(sse(reply('progressed'), 'p-4'));
      return;
    }
    if (tool === 'poll') {
      const eventId = `poll-${randomUUID()}`;
      pendingPolls.set(eventId, reply('polled'));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`id: ${eventId}\nretry: 20\ndata: \n\n`);
      return;
    }
    if (tool === 'slow') {
      const done = () => json(res, 200, reply('slow done'));
      slow.push(done);
      res.on('close', () => !res.writableFinished && events.emit('slow-aborted', seen));
      return;
    }
    if (tool === 'big') return json(res, 200, reply('b'.repeat(Number(args.bytes ?? 0))));
    if (body.method === 'tools/call') return json(res, 200, reply(`echo: ${String(args.message ?? '')}`));
    return json(res, 200, { jsonrpc: '2.0', id: body.id, result: {} });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    streams,
    events,
    waitFor(match) {
      const past = requests.find(match);
      if (past) return Promise.resolve(past);
      return new Promise((resolve) => {
        const onRequest = (r: MiniRequest) => {
          if (!match(r)) return;
          events.off('request', onRequest);
          resolve(r);
        };
        events.on('request', onRequest);
      });
    },
    release() {
      for (const done of slow.splice(0)) done();
    },
    holdInitialize() {
      heldInitialize ??= [];
    },
    releaseInitialize() {
      const held = heldInitialize ?? [];
      heldInitialize = undefined;
      for (const answer of held) answer();
    },
    forget() {
      sessions.clear();
      for (const stream of streams.values()) stream.destroy();
      streams.clear();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
