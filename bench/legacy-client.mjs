// The benchmark's low-overhead client, the same for every path: raw keep-alive TCP sockets with
// pre-built HTTP/1.1 requests (no HTTP client library), one socket for the SSE stream and one for the
// POSTs per client, replies matched to calls by JSON-RPC id. On a small shared machine the client's own
// CPU competes with the servers under test; keeping it minimal keeps the comparison about them.
import { connect } from 'node:net';

const INIT = (id) =>
  `{"jsonrpc":"2.0","id":${id},"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`;
const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}';
const CALL = (id) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`;

async function open(origin) {
  const { hostname, port } = new URL(origin);
  const socket = connect(Number(port), hostname);
  socket.setNoDelay(true);
  socket.setEncoding('latin1');
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Sequential request/response over one keep-alive socket (Content-Length bodies). */
async function openPoster(origin, headerLines) {
  const socket = await open(origin);
  let buffer = '';
  let waiting;
  socket.on('data', (chunk) => {
    buffer += chunk;
    const end = buffer.indexOf('\r\n\r\n');
    if (end === -1 || !waiting) return;
    const head = buffer.slice(0, end);
    let body;
    let rest;
    if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      // Small chunked bodies (the SDK's 202 "Accepted"): wait for the last chunk, keep the data.
      const last = buffer.indexOf('\r\n0\r\n\r\n', end + 2);
      if (last === -1) return;
      body = buffer.slice(end + 4, last);
      rest = buffer.slice(last + 7);
    } else {
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      body = buffer.slice(end + 4, end + 4 + length);
      rest = buffer.slice(end + 4 + length);
    }
    buffer = rest;
    const w = waiting;
    waiting = undefined;
    w({ status: Number(head.slice(9, 12)), head, body });
  });
  return {
    post(path, body, extra = '') {
      return new Promise((resolve) => {
        waiting = resolve;
        socket.write(
          `POST ${path} HTTP/1.1\r\nhost: bench\r\n${headerLines}${extra}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      });
    },
    close: () => socket.destroy(),
  };
}

/**
 * Opens a legacy session (GET …/sse), waits for the endpoint, and initializes it. `postOrigin` sends the
 * POSTs to another instance than the stream's (bench/routed.mjs); by default they go to `origin`.
 */
export async function openLegacy({ origin, ssePath, token, postOrigin = origin }) {
  const auth = token ? `authorization: Bearer ${token}\r\n` : '';
  const sse = await open(origin);
  const pending = new Map();
  let nextId = 1;
  const endpoint = await new Promise((resolve, reject) => {
    let raw = '';
    let headDone = false;
    let text = '';
    const onFrame = (frame) => {
      let event = 'message';
      let data = '';
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data = data ? `${data}\n${line.slice(6)}` : line.slice(6);
      }
      if (!data) return;
      if (event === 'endpoint') return resolve(data);
      const id = JSON.parse(data).id;
      const done = pending.get(id);
      if (done) {
        pending.delete(id);
        done();
      }
    };
    sse.on('data', (chunk) => {
      raw += chunk;
      if (!headDone) {
        const end = raw.indexOf('\r\n\r\n');
        if (end === -1) return;
        if (!raw.startsWith('HTTP/1.1 200')) return reject(new Error(raw.slice(0, raw.indexOf('\r\n'))));
        raw = raw.slice(end + 4);
        headDone = true;
      }
      // De-chunk (Transfer-Encoding: chunked), then split SSE frames on blank lines.
      for (;;) {
        const eol = raw.indexOf('\r\n');
        if (eol === -1) break;
        const size = Number.parseInt(raw.slice(0, eol), 16);
        if (raw.length < eol + 2 + size + 2) break;
        text += raw.slice(eol + 2, eol + 2 + size);
        raw = raw.slice(eol + 2 + size + 2);
      }
      for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n')) {
        onFrame(text.slice(0, end));
        text = text.slice(end + 2);
      }
    });
    sse.write(`GET ${ssePath} HTTP/1.1\r\nhost: bench\r\n${auth}accept: text/event-stream\r\n\r\n`);
  });
  const poster = await openPoster(postOrigin, auth);
  const post = async (body) => {
    const { status } = await poster.post(endpoint, body);
    if (status !== 202) throw new Error(`POST ${endpoint} → ${status}`);
  };
  const reply = (id) => new Promise((resolve) => pending.set(id, resolve));
  await Promise.all([reply(0), post(INIT(0))]);
  await post(INITIALIZED);
  return {
    /** One tools/call; resolves with the ms until its reply arrived on the stream (and the 202 too). */
    async call() {
      const id = nextId++;
      const t0 = performance.now();
      const arrived = reply(id).then(() => performance.now() - t0);
      const [ms] = await Promise.all([arrived, post(CALL(id))]);
      return ms;
    },
    /** Idle from here on: only the SSE stream stays open, as for a client between calls. */
    closePoster: () => poster.close(),
    close() {
      sse.destroy();
      poster.close();
    },
  };
}

/** A direct Streamable HTTP session on the upstream: the floor. */
export async function openDirect({ origin, path }) {
  const poster = await openPoster(origin, 'accept: application/json, text/event-stream\r\n');
  const init = await poster.post(path, INIT(0));
  const session = /\r\nmcp-session-id: *([^\r]+)/i.exec(init.head)?.[1];
  const extra = `mcp-session-id: ${session}\r\nmcp-protocol-version: 2025-06-18\r\n`;
  let nextId = 1;
  return {
    async call() {
      const t0 = performance.now();
      const { status } = await poster.post(path, CALL(nextId++), extra);
      if (status !== 200) throw new Error(`direct → ${status}`);
      return performance.now() - t0;
    },
    close: () => poster.close(),
  };
}
