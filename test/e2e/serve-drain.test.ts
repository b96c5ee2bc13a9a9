/**
 * `mcpgate serve` as a real process, stopped the way Fly stops it (issue 5 §6): SIGTERM while a call is
 * in flight. `/readyz` turns 503 at once, new streams are sent away, the call completes with 200, open
 * streams are closed, and the process exits 0 — without waiting out the drain timeout.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli } from '../helpers/cli-build.js';
import { handshake, openLegacy } from '../helpers/legacy-client.js';
import { type MiniUpstream, startMiniUpstream } from '../helpers/mini-upstream.js';

const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const DRAIN_TIMEOUT_MS = 15_000;

interface Served {
  child: ChildProcessWithoutNullStreams;
  url: string;
  /** Every JSON log line so far. */
  lines: Array<{ msg?: string; [key: string]: unknown }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node cli.js serve` on a free port; resolves once its 'gateway listening' line names the URL. */
async function serve(cli: string): Promise<Served> {
  const child = spawn(process.execPath, [cli, 'serve'], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      HOST: '127.0.0.1',
      MCPGATE_ADMIN_TOKEN: ADMIN_TOKEN,
      MCPGATE_DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS),
      LOG_LEVEL: 'info',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: Served['lines'] = [];
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  let buffered = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        try {
          const parsed = JSON.parse(line) as Served['lines'][number];
          lines.push(parsed);
          if (parsed.msg === 'gateway listening') resolve(String(parsed.url));
        } catch {}
      }
    });
    void exited.then(({ code }) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
  });
  return { child, url, lines, exited };
}

describe('mcpgate serve: SIGTERM drains, then exits 0 (real process)', () => {
  let cli: string;
  let upstream: MiniUpstream;
  let served: Served | undefined;

  beforeAll(async () => {
    cli = await buildCli();
    upstream = await startMiniUpstream();
  }, 120_000);
  afterAll(async () => {
    if (served && served.child.exitCode === null) served.child.kill('SIGKILL');
    await upstream?.close();
  });

  it('answers /readyz 503 at once, finishes the call in flight with 200, closes streams, exits 0', async () => {
    served = await serve(cli);
    const { url } = served;
    const admin = (path: string, body: unknown) =>
      fetch(`${url}/admin/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await admin('/orgs', { slug: 'acme' })).status).toBe(201);
    expect((await admin('/orgs/acme/brains', { id: 'mini', upstreamUrl: upstream.url })).status).toBe(201);
    const { token } = (await (await admin('/orgs/acme/tokens', {})).json()) as { token: string };

    const headers = {
      authorization: `Bearer ${token}`,
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
    };
    const post = (body: unknown, sessionId?: string) =>
      fetch(`${url}/brains/mini/mcp`, {
        method: 'POST',
        headers: sessionId ? { ...headers, 'mcp-session-id': sessionId } : headers,
        body: JSON.stringify(body),
      });
    const init = await post({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } },
    });
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    const legacy = await openLegacy(url, 'mini', token);
    await handshake(legacy);

    const call = post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow' } }, sessionId);
    let answered = false;
    void call.then(() => (answered = true));
    await upstream.waitFor((r) => r.body?.id === 2 && r.body?.params?.name === 'slow');

    const signalled = Date.now();
    served.child.kill('SIGTERM');
    // The signal is delivered asynchronously; the first answer after it must already be 503.
    let ready = await fetch(`${url}/readyz`);
    while (ready.status === 200 && Date.now() - signalled < 2_000) ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining' });
    // A new legacy stream is sent away: 200 with only a `retry:` (an EventSource would stop on a 503).
    const refused = await fetch(`${url}/brains/mini/sse`, { headers: { authorization: `Bearer ${token}` } });
    expect(refused.status).toBe(200);
    expect(await refused.text()).toMatch(/^retry: \d+$/m);
    expect(answered).toBe(false);
    expect(served.child.exitCode).toBeNull();

    upstream.release();
    const response = await call;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      jsonrpc: '2.0',
      id: 2,
      result: { content: [{ type: 'text', text: 'slow done' }] },
    });
    await legacy.ended;

    const { code, signal } = await served.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(DRAIN_TIMEOUT_MS);
    const messages = served.lines.map((l) => l.msg);
    expect(messages).toEqual(expect.arrayContaining(['shutting down', 'draining', 'drained']));
    // The legacy session's upstream session was ended on the way out.
    await upstream.waitFor((r) => r.method === 'DELETE');
  });
});
