import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ faces: [] });
});
afterAll(async () => {
  await gw.close();
});

describe('admin API', () => {
  it('refuses a missing or wrong admin token with 401', async () => {
    const none = await fetch(`${gw.url}/admin/v1/orgs`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await fetch(`${gw.url}/admin/v1/orgs`, {
      headers: { authorization: 'Bearer nope-nope-nope' },
    });
    expect(wrong.status).toBe(401);
    const basic = await fetch(`${gw.url}/admin/v1/orgs`, {
      headers: { authorization: `Basic ${ADMIN_TOKEN}` },
    });
    expect(basic.status).toBe(401);
  });

  it('creates and lists orgs; duplicates are 409; invalid bodies are 400 naming the field', async () => {
    const created = await gw.admin('POST', '/orgs', { slug: 'acme', name: 'Acme' });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ slug: 'acme', name: 'Acme' });
    expect((await gw.admin('POST', '/orgs', { slug: 'acme' })).status).toBe(409);

    const bad = await gw.admin('POST', '/orgs', { slug: 'Not A Slug!' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('slug');

    const extra = await gw.admin('POST', '/orgs', { slug: 'ok', colour: 'red' });
    expect(extra.status).toBe(400);
    expect(((await extra.json()) as { error: { field: string } }).error.field).toBe('colour');

    const notJson = await fetch(`${gw.url}/admin/v1/orgs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { field: string } }).error.field).toBe('body');

    const list = (await (await gw.admin('GET', '/orgs')).json()) as Array<{ slug: string }>;
    expect(list.map((o) => o.slug)).toEqual(['acme']);
  });

  it('creates, reads, updates and deletes brains without ever returning header values', async () => {
    await gw.admin('POST', '/orgs', { slug: 'brainy' });
    const res = await gw.admin('POST', '/orgs/brainy/brains', {
      id: 'b1',
      upstreamUrl: 'http://127.0.0.1:9/mcp',
      upstreamHeaders: { 'X-Api-Key': 'super-secret-upstream-value' },
    });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain('super-secret-upstream-value');
    expect(JSON.parse(text)).toMatchObject({ id: 'b1', org: 'brainy', upstreamHeaderNames: ['X-Api-Key'] });

    expect(
      (await gw.admin('POST', '/orgs/brainy/brains', { id: 'b1', upstreamUrl: 'http://x/' })).status,
    ).toBe(409);
    expect(
      (await gw.admin('POST', '/orgs/nobody/brains', { id: 'b2', upstreamUrl: 'http://x/' })).status,
    ).toBe(404);
    const badUrl = await gw.admin('POST', '/orgs/brainy/brains', { id: 'b3', upstreamUrl: 'ftp://x/' });
    expect(badUrl.status).toBe(400);
    expect(((await badUrl.json()) as { error: { field: string } }).error.field).toBe('upstreamUrl');
    const badHeader = await gw.admin('POST', '/orgs/brainy/brains', {
      id: 'b4',
      upstreamUrl: 'http://x/',
      upstreamHeaders: { 'X-Evil': 'a\r\nInjected: yes' },
    });
    expect(badHeader.status).toBe(400);
    for (const name of ['Mcp-Method', 'mcp-param-region', 'Mcp-Session-Id', 'Host']) {
      const reserved = await gw.admin('POST', '/orgs/brainy/brains', {
        id: 'b5',
        upstreamUrl: 'http://x/',
        upstreamHeaders: { [name]: 'v' },
      });
      expect(reserved.status).toBe(400);
      expect(((await reserved.json()) as { error: { field: string } }).error.field).toMatch(
        /^upstreamHeaders/,
      );
    }

    const stored = await gw.deps.store.getBrain('b1');
    expect(stored?.upstreamHeadersEnc).toBeTruthy();
    expect(stored?.upstreamHeadersEnc).not.toContain('super-secret-upstream-value');
    expect(await gw.deps.secrets.openHeaders(stored!.upstreamHeadersEnc)).toEqual({
      'X-Api-Key': 'super-secret-upstream-value',
    });

    const patched = await gw.admin('PATCH', '/brains/b1', {
      upstreamUrl: 'http://127.0.0.1:10/mcp',
      upstreamHeaders: null,
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({
      upstreamUrl: 'http://127.0.0.1:10/mcp',
      upstreamHeaderNames: [],
    });
    expect((await gw.admin('PATCH', '/brains/b1', {})).status).toBe(400);
    expect((await gw.admin('PATCH', '/brains/ghost', { upstreamUrl: 'http://x/' })).status).toBe(404);

    expect((await gw.admin('DELETE', '/brains/b1')).status).toBe(204);
    expect((await gw.admin('DELETE', '/brains/b1')).status).toBe(404);
    expect((await gw.admin('GET', '/brains/b1')).status).toBe(404);
  });

  it('shows a token once, stores only its sha-256, validates brains, and revokes', async () => {
    await gw.admin('POST', '/orgs', { slug: 'tok' });
    await gw.admin('POST', '/orgs', { slug: 'other' });
    await gw.admin('POST', '/orgs/tok/brains', { id: 'tok-b', upstreamUrl: 'http://127.0.0.1:9/mcp' });
    await gw.admin('POST', '/orgs/other/brains', { id: 'other-b', upstreamUrl: 'http://127.0.0.1:9/mcp' });

    const res = await gw.admin('POST', '/orgs/tok/tokens', {
      name: 'ci',
      brains: ['tok-b'],
      expiresInSeconds: 60,
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; token: string; brains: string[]; expiresAt: string };
    expect(body.token).toMatch(/^mcpg_[0-9A-Za-z]{43}$/);
    expect(body.brains).toEqual(['tok-b']);
    expect(new Date(body.expiresAt).getTime()).toBeGreaterThan(Date.now());

    const record = await gw.deps.store.getToken(body.id);
    expect(record?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(record)).not.toContain(body.token);

    const foreign = await gw.admin('POST', '/orgs/tok/tokens', { brains: ['other-b'] });
    expect(foreign.status).toBe(400);
    expect(((await foreign.json()) as { error: { field: string } }).error.field).toBe('brains');
    expect((await gw.admin('POST', '/orgs/ghost/tokens', {})).status).toBe(404);
    expect((await gw.admin('POST', '/orgs/tok/tokens', { expiresInSeconds: -1 })).status).toBe(400);

    expect((await gw.admin('DELETE', `/tokens/${body.id}`)).status).toBe(204);
    expect((await gw.deps.store.getToken(body.id))?.revokedAt).toBeInstanceOf(Date);
    expect((await gw.admin('DELETE', '/tokens/tok_unknown')).status).toBe(404);
  });

  it('never writes a token plaintext or an upstream header value to the log', async () => {
    await gw.admin('POST', '/orgs', { slug: 'logs' });
    await gw.admin('POST', '/orgs/logs/brains', {
      id: 'logs-b',
      upstreamUrl: 'http://127.0.0.1:9/mcp',
      upstreamHeaders: { Authorization: 'Bearer upstream-credential-xyz' },
    });
    await gw.admin('PATCH', '/brains/logs-b', { upstreamHeaders: { 'X-Key': 'rotated-credential-abc' } });
    const { token } = await gw.createToken('logs');
    await fetch(`${gw.url}/brains/logs-b/anything`, { headers: { authorization: `Bearer ${token}` } });
    expect(gw.logs.length).toBeGreaterThan(0);
    const all = gw.logs.join('\n');
    for (const secret of [token, 'upstream-credential-xyz', 'rotated-credential-abc', ADMIN_TOKEN]) {
      expect(all).not.toContain(secret);
    }
  });
});
