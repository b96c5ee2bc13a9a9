// The smallest Node hop there is: a bare node:http server, the body read once, undici's dispatch to the
// upstream, the answer written in one go — no framework, no auth, no checks. Next to ./node-floor.mjs
// (the same on Hono) it shows what Node's HTTP server and client cost on their own, which bounds what
// any Node gateway can reach on this machine. Run as a child: `node bench/raw-floor.mjs <port> <url>`.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, upstreamUrl] = process.argv.slice(2);
const upstream = new URL(upstreamUrl);
const pool = new Pool(upstream.origin, { keepAliveTimeout: 60_000, connections: 128 });
const path = `${upstream.pathname}${upstream.search}`;

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    let status = 0;
    let type = 'application/json';
    const out = [];
    pool.dispatch(
      {
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: req.headers.accept ?? '*/*' },
        body,
      },
      {
        onRequestStart() {},
        onResponseStart(_c, statusCode, headers) {
          status = statusCode;
          type = headers['content-type'] ?? type;
        },
        onResponseData(_c, chunk) {
          out.push(chunk);
        },
        onResponseEnd() {
          const b = out.length === 1 ? out[0] : Buffer.concat(out);
          res.writeHead(status, { 'content-type': type, 'content-length': b.length });
          res.end(b);
        },
        onResponseError(_c, err) {
          res.writeHead(502).end(String(err));
        },
      },
    );
  });
});
server.keepAliveTimeout = 120_000;
server.listen(Number(port), '127.0.0.1');
