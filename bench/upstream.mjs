// A minimal fast MCP upstream for the benchmark: raw node:http, answers every POST (a tools/call) with a
// small JSON-RPC result carrying the request's id, and 202 for anything without an id. With `?sse` in
// the URL it answers the way SDK servers do by default: a request-scoped SSE stream with one `message`
// event, then the end. Run as a child process: `node bench/upstream.mjs <port>`.
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const ID = /"id"\s*:\s*(\d+|"[^"]*")/;

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const id = ID.exec(Buffer.concat(chunks).toString('latin1'))?.[1];
    if (id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const body = `{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":"ok"}]}}`;
    if (req.url?.includes('?sse')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(`event: message\ndata: ${body}\n\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 120_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
