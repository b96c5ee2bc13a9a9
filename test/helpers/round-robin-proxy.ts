/**
 * A load balancer that knows nothing about MCP (issue 5 tests): every request goes to the next target in
 * turn. Responses stream back as they arrive (SSE streams stay open); request bodies are buffered first,
 * so that a target refusing the connection (killed, drained and closed) can be skipped for the next one,
 * as a real balancer's health checks would. With `readyPath`, it also polls each target's readiness (e.g.
 * `/readyz`) and skips a target that is not ready (draining), as Fly's proxy does with a failing check.
 * I/O: a loopback listener and the targets.
 *
 * `onResponse` lets a caller act on a target's answer before it is relayed (the Fly stand-in replays).
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyTarget {
  url: string;
  /** FLY_MACHINE_ID of the instance, for the Fly stand-in. */
  machineId?: string;
}

export interface BufferedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface SentTo {
  target: ProxyTarget;
  res: IncomingMessage;
}

export interface RoundRobinProxy {
  url: string;
  /** Which target served each request: path and target URL, in order. */
  log: Array<{ method: string; path: string; target: string; status: number }>;
  setTargets(targets: ProxyTarget[]): void;
  close(): Promise<void>;
}

export interface RoundRobinOptions {
  targets: ProxyTarget[];
  /** Called with each target's answer; a response it returns is relayed instead. */
  onResponse?: (req: BufferedRequest, sent: SentTo, send: Sender) => Promise<SentTo>;
  /** Polled on every target every `readyEveryMs` (default 100); a target answering non-200 is skipped. */
  readyPath?: string;
  readyEveryMs?: number;
}

export type Sender = (target: ProxyTarget, req: BufferedRequest) => Promise<IncomingMessage>;

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

/** Sends a buffered request to one target; rejects when the connection fails. */
export const sendTo: Sender = (target, req) =>
  new Promise((resolve, reject) => {
    const url = new URL(target.url);
    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    headers.host = url.host;
    headers['content-length'] = String(req.body.length);
    const out = request(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers },
      resolve,
    );
    out.once('error', reject);
    out.end(req.body);
  });

export async function startRoundRobinProxy(options: RoundRobinOptions): Promise<RoundRobinProxy> {
  let targets = [...options.targets];
  let turn = 0;
  const log: RoundRobinProxy['log'] = [];
  const unready = new Set<string>();
  const poll =
    options.readyPath === undefined
      ? undefined
      : setInterval(() => {
          for (const target of targets) {
            fetch(new URL(options.readyPath!, target.url), { signal: AbortSignal.timeout(1_000) })
              .then(async (res) => {
                await res.body?.cancel();
                if (res.status === 200) unready.delete(target.url);
                else unready.add(target.url);
              })
              .catch(() => unready.add(target.url));
          }
        }, options.readyEveryMs ?? 100);

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const buffered: BufferedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    let sent: SentTo | undefined;
    const ready = targets.filter((t) => !unready.has(t.url));
    const choices = ready.length > 0 ? ready : targets;
    for (let tries = 0; tries < choices.length && !sent; tries++) {
      const target = choices[turn++ % choices.length]!;
      try {
        sent = { target, res: await sendTo(target, buffered) };
      } catch {
        // Refused: try the next one.
      }
    }
    if (!sent) {
      res.writeHead(502).end('no target');
      return;
    }
    if (options.onResponse) sent = await options.onResponse(buffered, sent, sendTo);
    log.push({
      method: buffered.method,
      path: buffered.path,
      target: sent.target.url,
      status: sent.res.statusCode ?? 0,
    });
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(sent.res.headers))
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    res.writeHead(sent.res.statusCode ?? 502, headers);
    res.flushHeaders();
    sent.res.pipe(res);
    const upstream = sent.res;
    res.once('close', () => upstream.destroy());
    upstream.once('error', () => res.destroy());
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    setTargets(next) {
      targets = [...next];
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(poll);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
