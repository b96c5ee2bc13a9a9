// The smallest HTTP+SSE → Streamable HTTP bridge Node allows, as a floor for the legacy benchmark: bare
// node:http, one SSE response per session, each POST answered 202 and forwarded with undici's dispatch,
// the upstream's JSON reply written as one SSE frame. No auth, no validation, no upstream GET stream, no
// store, no limits, no audit: what the gateway's legacy face costs beyond this is its own.
// Run as a child: `node bench/legacy-raw-floor.mjs <upstream url>`; prints "ready <port>".
import { createServer } from 'node:http';
import { Agent } from 'undici';

const upstream = new URL(process.argv[2]);
const agent = new Agent({ keepAliveTimeout: 60_000 });
const sessions = new Map();
let next = 0;

function forward(session, body) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (session.upstreamId) headers['mcp-session-id'] = session.upstreamId;
  const chunks = [];
  agent.dispatch(
    { origin: upstream.origin, path: upstream.pathname, method: 'POST', headers, body },
    {
      onRequestStart() {},
      onResponseStart(_controller, _status, responseHeaders) {
        session.upstreamId ??= responseHeaders['mcp-session-id'];
      },
      onResponseData(_controller, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        if (chunks.length > 0) session.res.write(`event: message\ndata: ${Buffer.concat(chunks)}\n\n`);
      },
      onResponseError() {},
    },
  );
}

const server = createServer((req, res) => {
  if (req.method === 'GET') {
    const id = String(++next);
    sessions.set(id, { res, upstreamId: undefined });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(`event: endpoint\ndata: /messages?sessionId=${id}\n\n`);
    res.on('close', () => sessions.delete(id));
    return;
  }
  const session = sessions.get(req.url.slice(req.url.indexOf('=') + 1));
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    if (!session) return res.writeHead(404).end();
    res.writeHead(202, { 'content-length': '8' }).end('Accepted');
    forward(session, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
