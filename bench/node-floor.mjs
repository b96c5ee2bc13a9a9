// The floor for a Node hop on the gateway's own stack: Hono on @hono/node-server, the body read once,
// undici's dispatch to the upstream, the answer collected and written in one go — no auth, no checks,
// no session logic. The benchmark runs it next to the gateway so the gateway's own cost shows apart
// from the runtime's. Run as a child process: `node bench/node-floor.mjs <port> <upstream url>`.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Agent } from 'undici';

const [port, upstreamUrl] = process.argv.slice(2);
const upstream = new URL(upstreamUrl);
const agent = new Agent({ keepAliveTimeout: 60_000 });
const app = new Hono();

app.post('/mcp', async (c) => {
  const body = new Uint8Array(await c.req.raw.arrayBuffer());
  return new Promise((resolve, reject) => {
    let status = 0;
    let type = 'application/json';
    const chunks = [];
    agent.dispatch(
      {
        origin: upstream.origin,
        path: `${upstream.pathname}${upstream.search}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: c.req.header('accept') ?? '*/*' },
        body,
      },
      {
        // undici takes a handler as the new-style API only when it has onRequestStart.
        onRequestStart() {},
        onResponseStart(_controller, statusCode, headers) {
          status = statusCode;
          type = headers['content-type'] ?? type;
        },
        onResponseData(_controller, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          resolve(new Response(Buffer.concat(chunks), { status, headers: { 'content-type': type } }));
        },
        onResponseError(_controller, err) {
          reject(err);
        },
      },
    );
  });
});

serve({ fetch: app.fetch, port: Number(port), hostname: '127.0.0.1' });
