// The benchmark's low-overhead legacy client: one raw node:http GET for the SSE stream (its own socket),
// POSTs through a shared undici Pool, replies matched to calls by JSON-RPC id. Also the direct Streamable
// HTTP caller used as the floor. No SDK on this side, so the cost measured is the bridge under test.
import { request as httpRequest } from 'node:http';

const INIT = (id) =>
  `{"jsonrpc":"2.0","id":${id},"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`;
const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}';
const CALL = (id) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`;

/** Opens a legacy session (GET …/sse), waits for the endpoint, and initializes it. */
export async function openLegacy({ origin, ssePath, token, pool }) {
  const pending = new Map();
  let nextId = 1;
  const { endpoint, req } = await new Promise((resolve, reject) => {
    const headers = { accept: 'text/event-stream' };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = httpRequest(`${origin}${ssePath}`, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${ssePath} → ${res.statusCode}`));
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data = data ? `${data}\n${line.slice(6)}` : line.slice(6);
          }
          if (!data) continue;
          if (event === 'endpoint') resolve({ endpoint: data, req });
          else {
            const message = JSON.parse(data);
            const done = pending.get(message.id);
            if (done) {
              pending.delete(message.id);
              done(message);
            }
          }
        }
      });
      res.on('error', () => {});
    });
    req.on('error', reject);
    req.end();
  });
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const post = async (body) => {
    const { statusCode, body: rb } = await pool.request({ path: endpoint, method: 'POST', headers, body });
    await rb.dump();
    if (statusCode !== 202) throw new Error(`POST → ${statusCode}`);
  };
  const request = (id, body) => {
    const reply = new Promise((resolve) => pending.set(id, resolve));
    return Promise.all([reply, post(body)]).then(([message]) => message);
  };
  await request(0, INIT(0));
  await post(INITIALIZED);
  return {
    /** One tools/call; resolves with the ms until its reply arrived on the stream. */
    async call() {
      const id = nextId++;
      const t0 = performance.now();
      const reply = new Promise((resolve) => pending.set(id, () => resolve(performance.now() - t0)));
      const [ms] = await Promise.all([reply, post(CALL(id))]);
      return ms;
    },
    close: () => req.destroy(),
  };
}

/** A direct Streamable HTTP session on the upstream: the floor. */
export async function openDirect({ path, pool }) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const init = await pool.request({ path, method: 'POST', headers, body: INIT(0) });
  await init.body.dump();
  headers['mcp-session-id'] = init.headers['mcp-session-id'];
  headers['mcp-protocol-version'] = '2025-06-18';
  let nextId = 1;
  return {
    async call() {
      const t0 = performance.now();
      const { statusCode, body } = await pool.request({
        path,
        method: 'POST',
        headers,
        body: CALL(nextId++),
      });
      await body.text();
      if (statusCode !== 200) throw new Error(`direct → ${statusCode}`);
      return performance.now() - t0;
    },
    close() {},
  };
}
