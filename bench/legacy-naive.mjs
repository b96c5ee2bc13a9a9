// The naive legacy bridge a user would write from the SDK's own transports: per client, one
// SSEServerTransport piped into one StreamableHTTPClientTransport (DESIGN.md §7). No auth, no store.
// Run as a child: `node bench/legacy-naive.mjs <upstream url>`; prints "ready <port>".
import { createServer } from 'node:http';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';

const upstreamUrl = new URL(process.argv[2]);
const bridges = new Map();

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/sse') {
    const sse = new SSEServerTransport('/messages', res);
    const upstream = new StreamableHTTPClientTransport(upstreamUrl);
    sse.onmessage = (message) => upstream.send(message).catch(() => {});
    upstream.onmessage = (message) => sse.send(message).catch(() => {});
    sse.onclose = () => {
      bridges.delete(sse.sessionId);
      upstream
        .terminateSession()
        .catch(() => {})
        .finally(() => upstream.close());
    };
    bridges.set(sse.sessionId, sse);
    await upstream.start();
    await sse.start();
    return;
  }
  if (req.method === 'POST' && url.pathname === '/messages') {
    const sse = bridges.get(url.searchParams.get('sessionId'));
    if (!sse) {
      res.writeHead(404).end('unknown session');
      return;
    }
    await sse.handlePostMessage(req, res);
    return;
  }
  res.writeHead(404).end();
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
process.stdin.on('data', (line) => {
  if (String(line).trim() === 'rss') {
    globalThis.gc?.();
    const m = process.memoryUsage();
    process.stdout.write(`rss ${m.rss} heap ${m.heapUsed} external ${m.external}\n`);
  }
});
process.on('SIGTERM', () => process.exit(0));
