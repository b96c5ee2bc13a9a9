/**
 * A raw 2024-11-05 HTTP+SSE client for wire-level tests of the legacy face: opens `GET …/sse`, records
 * every event and comment, and POSTs to the endpoint it was given. Waits are on events, never on time.
 */
import { EventEmitter } from 'node:events';
import { createParser } from 'eventsource-parser';

export interface JsonRpc {
  jsonrpc: '2.0';
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export interface RawLegacyClient {
  response: Response;
  /** Absolute URL of the messages endpoint. */
  endpoint: string;
  endpointData: string;
  sessionId: string;
  messages: JsonRpc[];
  comments: string[];
  /** Resolves with the first message (past or future) matching; rejects if the stream ends first. */
  next(match: (m: JsonRpc) => boolean): Promise<JsonRpc>;
  /** Resolves once the next comment line arrives. */
  nextComment(): Promise<string>;
  post(body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** POSTs a request and waits for its reply on the stream. */
  call(id: string | number, method: string, params?: Record<string, unknown>): Promise<JsonRpc>;
  /** Resolves when the gateway ends the stream (or it breaks). */
  ended: Promise<void>;
  close(): void;
}

export async function openLegacy(base: string, brain: string, token: string): Promise<RawLegacyClient> {
  const abort = new AbortController();
  const response = await fetch(`${base}/brains/${brain}/sse`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  if (response.status !== 200 || !response.body) {
    throw Object.assign(new Error(`GET /sse → ${response.status}`), { response });
  }
  const events = new EventEmitter();
  const messages: JsonRpc[] = [];
  const comments: string[] = [];
  let endpointData: string | undefined;
  let isEnded = false;
  const parser = createParser({
    onEvent(e) {
      if (e.event === 'endpoint') {
        endpointData = e.data;
        events.emit('endpoint');
      } else {
        const message = JSON.parse(e.data) as JsonRpc;
        messages.push(message);
        events.emit('message', message);
      }
    },
    onComment(comment) {
      comments.push(comment);
      events.emit('comment', comment);
    },
  });
  const ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
    } catch {}
    isEnded = true;
    events.emit('end');
  })();
  if (endpointData === undefined) await new Promise((resolve) => events.once('endpoint', resolve));
  const endpoint = new URL(endpointData!, base).toString();
  const sessionId = new URL(endpoint).searchParams.get('sessionId')!;

  const next = (match: (m: JsonRpc) => boolean) => {
    const past = messages.find(match);
    if (past) return Promise.resolve(past);
    return new Promise<JsonRpc>((resolve, reject) => {
      const onMessage = (m: JsonRpc) => {
        if (!match(m)) return;
        cleanup();
        resolve(m);
      };
      const onEnd = () => {
        cleanup();
        reject(new Error('stream ended before the message arrived'));
      };
      const cleanup = () => {
        events.off('message', onMessage);
        events.off('end', onEnd);
      };
      if (isEnded) return onEnd();
      events.on('message', onMessage);
      events.once('end', onEnd);
    });
  };
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  return {
    response,
    endpoint,
    endpointData: endpointData!,
    sessionId,
    messages,
    comments,
    next,
    nextComment: () => new Promise((resolve) => events.once('comment', resolve)),
    post,
    async call(id, method, params) {
      const reply = next((m) => m.id === id && m.method === undefined);
      const res = await post({ jsonrpc: '2.0', id, method, params });
      if (res.status !== 202) throw new Error(`POST → ${res.status} ${await res.text()}`);
      return reply;
    },
    ended,
    close: () => abort.abort(),
  };
}

/** The initialize + initialized handshake a client does first. */
export async function handshake(client: RawLegacyClient, clientInfo = { name: 'raw', version: '1' }) {
  const init = await client.call('init-1', 'initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo,
  });
  await client.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return init;
}
