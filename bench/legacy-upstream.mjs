// The legacy benchmark's upstream: a minimal, fast, stateful Streamable HTTP MCP server on raw node:http.
// initialize → JSON result + Mcp-Session-Id; notifications → 202; any other request → a small JSON
// result with its id; GET → an SSE stream held open (what an idle bridged session keeps); DELETE → 200.
// Run as a child: `node bench/legacy-upstream.mjs`; prints "ready <port>"; answers "streams" on stdin
// with the number of open GET streams.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

const ID = /"id"\s*:\s*(\d+|"[^"]*")/;
const sessions = new Set();
let streams = 0;

const server = createServer((req, res) => {
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    streams++;
    res.on('close', () => streams--);
    return;
  }
  if (req.method === 'DELETE') {
    sessions.delete(req.headers['mcp-session-id']);
    res.writeHead(200).end();
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('latin1');
    const id = ID.exec(text)?.[1];
    if (id === undefined) {
      res.writeHead(202).end();
      return;
    }
    let body;
    const headers = { 'content-type': 'application/json' };
    if (text.includes('"initialize"')) {
      const session = randomUUID();
      sessions.add(session);
      headers['mcp-session-id'] = session;
      body = `{"jsonrpc":"2.0","id":${id},"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"bench-upstream","version":"1"}}}`;
    } else {
      body = `{"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":"ok"}]}}`;
    }
    headers['content-length'] = Buffer.byteLength(body);
    res.writeHead(200, headers);
    res.end(body);
  });
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
process.stdin.on('data', (line) => {
  if (String(line).trim() === 'streams') process.stdout.write(`streams ${streams}\n`);
});
process.on('SIGTERM', () => process.exit(0));
