/**
 * The legacy face's fast lane (src/http/legacy-lane.ts), on both stores: it takes an ordinary
 * `POST /messages` and answers it, records it and hands it to the bridge exactly as the Hono route does;
 * whatever it does not handle the plain way reaches the app, whose answers are unchanged. Each request is
 * sent with the lane on and with it off (the same gateway, the lane switched by the test) and the two
 * answers compared; the lane's own decisions (declined, taken, handed back) are counted.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Face, NodeLane } from '../../src/app.js';
import { faces as allFaces } from '../../src/faces.js';
import type { AuditRecord } from '../../src/store/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { handshake, openLegacy, type RawLegacyClient } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';
import { storeFactories } from '../helpers/stores.js';

/** The faces with their lanes watched and switchable. */
function watchedFaces() {
  const state = { on: true, taken: 0, handedBack: 0, onHandBack: () => {} };
  const watch =
    (face: Face): Face =>
    (app, deps, lanes) => {
      const own: NodeLane[] = [];
      face(app, deps, own);
      for (const lane of own) {
        lanes.push((req, res, next) => {
          if (!state.on) return false;
          const took = lane(req, res, (r, s) => {
            state.handedBack++;
            state.onHandBack();
            return next(r, s);
          });
          if (took) state.taken++;
          return took;
        });
      }
    };
  return { faces: allFaces.map(watch), state };
}

/** Headers that differ between any two answers. */
const PER_ANSWER = new Set(['date', 'connection', 'keep-alive']);

/** What a client can see of an answer: status, headers, body. */
async function answer(res: Response) {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!PER_ANSWER.has(name)) headers[name] = value;
  });
  return { status: res.status, headers, body: await res.text() };
}

const call = (id: number, message: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message } },
});

describe.each(storeFactories())('legacy fast lane ($name store)', ({ skip, create }) => {
  let upstream: MiniUpstream;
  let gateway: TestGateway;
  let drop: () => Promise<void>;
  let token: string;
  let otherToken: string;
  let client: RawLegacyClient;
  const watched = watchedFaces();
  const lane = watched.state;

  /** The request sent twice, lane on then lane off: both answers, and what the lane did. */
  async function both(send: () => Promise<Response>) {
    const before = { taken: lane.taken, handedBack: lane.handedBack };
    lane.on = true;
    const on = await answer(await send());
    const taken = lane.taken - before.taken;
    const handedBack = lane.handedBack - before.handedBack;
    lane.on = false;
    try {
      const off = await answer(await send());
      return { on, off, taken, handedBack };
    } finally {
      lane.on = true;
    }
  }

  const auditOf = async (requestId: string) => {
    await gateway.deps.observe.audit.flush();
    const records = await gateway.deps.store.listAudit({ limit: 1000 });
    return records.filter((r: AuditRecord) => r.requestId === requestId);
  };

  beforeAll(async () => {
    if (skip) return;
    const made = await create();
    drop = made.drop;
    upstream = await startMiniUpstream();
    gateway = await startTestGateway({ store: made.store, faces: watched.faces });
    ({ token } = await gateway.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url }));
    ({ token: otherToken } = await gateway.createToken('acme'));
    client = await openLegacy(gateway.url, 'mini', token);
    await handshake(client);
  });

  afterAll(async () => {
    if (skip) return;
    client?.close();
    await gateway?.close();
    await upstream?.close();
    await drop?.();
  });

  test.skipIf(skip)('an ordinary POST takes the lane: same 202, same reply, same audit entry', async () => {
    let n = 0;
    const ids: number[] = [];
    const sent = await both(() => {
      const id = 100 + n++;
      ids.push(id);
      return client.post(call(id, `lane ${id}`), { 'x-request-id': `lane-req-${id}` });
    });
    expect(sent.taken).toBe(1);
    expect(sent.handedBack).toBe(0);
    expect(sent.on).toEqual(sent.off);
    expect(sent.on).toMatchObject({
      status: 202,
      headers: { 'content-type': 'text/plain; charset=UTF-8' },
      body: 'Accepted',
    });

    const replies = await Promise.all(ids.map((id) => client.next((m) => m.id === id)));
    expect(replies.map((r) => r.result)).toEqual(
      ids.map((id) => ({ content: [{ type: 'text', text: `echo: lane ${id}` }] })),
    );
    // The upstream got the client's request id on both paths.
    for (const id of ids) {
      const seen = await upstream.waitFor((r) => r.body?.id === id);
      expect(seen.headers['x-request-id']).toBe(`lane-req-${id}`);
      expect(seen.headers.authorization).toBeUndefined();
    }
    const strip = ({ id: _id, at: _at, latencyMs: _l, requestId: _r, ...rest }: AuditRecord) => rest;
    const [viaLane] = await auditOf(`lane-req-${ids[0]}`);
    const [viaApp] = await auditOf(`lane-req-${ids[1]}`);
    expect(viaLane).toBeDefined();
    expect(strip(viaLane!)).toEqual(strip(viaApp!));
    expect(viaLane).toMatchObject({ face: 'sse', method: 'tools/call', name: 'echo', status: 200 });
  });

  test.skipIf(skip)('a body that is not JSON-RPC is refused by the lane as by the route', async () => {
    let n = 0;
    const notJson = await both(() => client.post('{nope', { 'x-request-id': `bad-json-${n++}` }));
    expect(notJson.taken).toBe(1);
    expect(notJson.handedBack).toBe(0);
    expect(notJson.on).toEqual(notJson.off);
    expect(notJson.on.status).toBe(400);
    expect(JSON.parse(notJson.on.body)).toMatchObject({ error: { code: -32700 } });
    const notRpc = await both(() => client.post({ hello: 'world' }));
    expect(notRpc.taken).toBe(1);
    expect(notRpc.on).toEqual(notRpc.off);
    expect(notRpc.on.status).toBe(400);
    // Audited alike: a 400 with no method, on the session.
    const [viaLane] = await auditOf('bad-json-0');
    const [viaApp] = await auditOf('bad-json-1');
    expect(viaLane).toMatchObject({ status: 400, method: null, face: 'sse' });
    expect(viaLane!.session).toBe(viaApp!.session);
    expect(viaLane!.session).not.toBeNull();
  });

  test.skipIf(skip)('refusals after auth are the app’s: foreign, revoked and unknown tokens', async () => {
    const post = (t: string) => () =>
      fetch(client.endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
        body: JSON.stringify(call(1, 'x')),
      });
    const foreign = await both(post(otherToken));
    expect(foreign.taken).toBe(1);
    expect(foreign.handedBack).toBe(1);
    expect(foreign.on).toEqual(foreign.off);
    expect(foreign.on.status).toBe(404);

    const unknown = await both(post(`mcpg_${'0'.repeat(43)}`));
    expect(unknown.handedBack).toBe(1);
    expect(unknown.on).toEqual(unknown.off);
    expect(unknown.on.status).toBe(401);
    expect(unknown.on.headers['www-authenticate']).toMatch(/^Bearer realm="mcpgate"/);

    const { token: revoked, tokenId } = await gateway.createToken('acme');
    const other = await openLegacy(gateway.url, 'mini', revoked);
    const endpoint = other.endpoint;
    expect((await gateway.admin('DELETE', `/tokens/${tokenId}`)).status).toBe(204);
    await other.ended;
    const gone = await both(() =>
      fetch(endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${revoked}`, 'content-type': 'application/json' },
        body: JSON.stringify(call(1, 'x')),
      }),
    );
    // The session closed with the revocation: no session here, so the lane declines it at once.
    expect(gone.taken).toBe(0);
    expect(gone.on).toEqual(gone.off);
    expect(gone.on.status).toBe(401);
  });

  test.skipIf(skip)('requests the lane does not match go to the app untouched', async () => {
    const post = (headers: Record<string, string>, body = JSON.stringify(call(1, 'x'))) =>
      fetch(client.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const auth = { authorization: `Bearer ${token}` };
    const cases = {
      'no bearer': () => post({}),
      'a foreign Origin': () => post({ ...auth, origin: 'https://evil.example' }),
      'a second parameter': () =>
        fetch(`${client.endpoint}&x=1`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(call(7, 'x')),
        }),
      'a session of another brain path': () =>
        fetch(client.endpoint.replace('/brains/mini/', '/brains/other/'), {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(call(1, 'x')),
        }),
    };
    for (const [name, send] of Object.entries(cases)) {
      const result = await both(send);
      expect({ name, taken: result.taken }).toEqual({ name, taken: 0 });
      expect({ name, ...result.on }).toEqual({ name, ...result.off });
    }
    expect((await both(cases['no bearer'])).on.status).toBe(401);
    expect((await both(cases['a foreign Origin'])).on.status).toBe(403);
    expect((await both(cases['a second parameter'])).on.status).toBe(202);
  });

  test.skipIf(skip)('repeated Host or Authorization headers and odd Hosts go to the app', async () => {
    const body = JSON.stringify(call(9, 'raw'));
    const url = new URL(client.endpoint);
    const send = (lines: string[]) => () =>
      rawStatus(url, [...lines, 'content-type: application/json', `content-length: ${body.length}`], body);
    const cases = {
      'two Authorization headers': send([
        `host: ${url.host}`,
        `authorization: Bearer ${token}`,
        `authorization: Bearer ${token}`,
      ]),
      'two Host headers': send([`host: ${url.host}`, `host: ${url.host}`, `authorization: Bearer ${token}`]),
      'a Host with a space': send(['host: evil example', `authorization: Bearer ${token}`]),
    };
    for (const [name, request] of Object.entries(cases)) {
      const result = await both(request);
      expect({ name, taken: result.taken }).toEqual({ name, taken: 0 });
      expect({ name, status: result.on.status }).toEqual({ name, status: result.off.status });
    }
    expect((await both(cases['two Authorization headers'])).on.status).toBe(401);
    expect((await both(cases['a Host with a space'])).on.status).toBe(400);
  });

  test.skipIf(skip)('a session closed while its POST was being authenticated is not served', async () => {
    const other = await openLegacy(gateway.url, 'mini', token);
    await handshake(other);
    const auth = gateway.deps.auth;
    const authenticate = auth.authenticate;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const inAuth = new Promise<void>((resolve) => {
      entered = resolve;
    });
    auth.authenticate = async (t) => {
      entered();
      await gate;
      return authenticate.call(auth, t);
    };
    try {
      const before = { taken: lane.taken, handedBack: lane.handedBack };
      const answer = other.post(call(11, 'too late'));
      await inAuth;
      const seen = upstream.requests.length;
      other.close();
      // The session is gone from the table before its upstream DELETE is sent.
      await upstream.waitFor((r) => r.method === 'DELETE' && upstream.requests.indexOf(r) >= seen);
      release();
      const res = await answer;
      expect(res.status).toBe(404);
      expect(lane.taken - before.taken).toBe(1);
      expect(lane.handedBack - before.handedBack).toBe(1);
    } finally {
      auth.authenticate = authenticate;
      release();
    }
  });

  test.skipIf(skip)('a body sent after its head is read by the app', async () => {
    const url = new URL(client.endpoint);
    const body = JSON.stringify(call(42, 'late body'));
    const socket = connect(Number(url.port), url.hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    const reply = client.next((m) => m.id === 42);
    const handedBack = new Promise<void>((resolve) => {
      lane.onHandBack = resolve;
    });
    let head = '';
    socket.on('data', (chunk) => {
      head += String(chunk);
    });
    const before = lane.handedBack;
    socket.write(
      `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${token}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    // The lane has looked for the body, found none, and handed the request to the app: send it now.
    await handedBack;
    lane.onHandBack = () => {};
    expect(lane.handedBack).toBe(before + 1);
    socket.write(body);
    expect((await reply).result).toEqual({ content: [{ type: 'text', text: 'echo: late body' }] });
    await new Promise<void>((resolve) => {
      const check = () => (head.includes('\r\n\r\nAccepted') ? resolve() : socket.once('data', check));
      check();
    });
    expect(head.startsWith('HTTP/1.1 202')).toBe(true);
    socket.destroy();
  });
});

/** A raw HTTP/1.1 POST with exactly the given header lines: the response as `answer` sees it. */
async function rawStatus(url: URL, lines: string[], body: string) {
  const socket = connect(Number(url.port), url.hostname);
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  socket.on('data', (chunk) => {
    text += String(chunk);
  });
  socket.write(
    `POST ${url.pathname}${url.search} HTTP/1.1\r\n${lines.join('\r\n')}\r\nconnection: close\r\n\r\n${body}`,
  );
  await new Promise((resolve) => socket.once('close', resolve));
  return new Response(null, { status: Number(text.slice(9, 12)) });
}

/** A raw POST with a Host header of the test's choosing (fetch sets its own): the status. */
function postWithHost(endpoint: string, host: string, token: string, body: unknown): Promise<number> {
  const url = new URL(endpoint);
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { host, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe.each<{ name: string; env: Record<string, string>; lane: boolean }>([
  { name: 'a Host allowlist', env: { MCPGATE_ALLOWED_HOSTS: '127.0.0.1' }, lane: true },
  {
    name: 'CORS on and a Host allowlist',
    env: { MCPGATE_CORS_ORIGINS: 'https://app.example', MCPGATE_ALLOWED_HOSTS: '127.0.0.1' },
    lane: false,
  },
])('legacy fast lane with $name', ({ env, lane }) => {
  let upstream: MiniUpstream;
  let gateway: TestGateway;
  let token: string;
  const watched = watchedFaces();

  beforeAll(async () => {
    upstream = await startMiniUpstream();
    gateway = await startTestGateway({ faces: watched.faces, env });
    ({ token } = await gateway.provision({ org: 'acme', brain: 'mini', upstreamUrl: upstream.url }));
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  test('an allowed Host is served (by the lane unless CORS is on), another refused by the app', async () => {
    const client = await openLegacy(gateway.url, 'mini', token);
    await handshake(client);
    const taken = watched.state.taken;
    const res = await client.post(call(5, 'allowed'), { origin: 'https://app.example' });
    const cors = 'MCPGATE_CORS_ORIGINS' in env;
    // Without CORS, this Origin is not allowed: the lane declines it and the app refuses it.
    expect(res.status).toBe(cors ? 202 : 403);
    if (cors) expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const plain = await client.post(call(6, 'allowed'));
    expect(plain.status).toBe(202);
    expect((await client.next((m) => m.id === 6)).result).toBeDefined();
    expect(watched.state.taken - taken).toBe(lane ? 1 : 0);

    const before = watched.state.taken;
    expect(await postWithHost(client.endpoint, 'evil.example', token, call(7, 'host'))).toBe(403);
    // Node keeps the first Host, the app sees both: the lane leaves this to the app.
    const url = new URL(client.endpoint);
    const body = JSON.stringify(call(8, 'two hosts'));
    const twoHosts = await rawStatus(
      url,
      [
        `host: ${url.host}`,
        'host: evil.example',
        `authorization: Bearer ${token}`,
        'content-type: application/json',
        `content-length: ${body.length}`,
      ],
      body,
    );
    expect(twoHosts.status).toBe(403);
    expect(watched.state.taken).toBe(before);
    client.close();
  });
});
