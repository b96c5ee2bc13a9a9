import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Face } from '../../src/app.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** A face that only reports what auth established, so these tests see the middleware alone. */
const whoami: Face = (app) => {
  app.get('/:brain/whoami', (c) => c.json({ principal: c.get('principal'), brain: c.get('brain').id }));
};

let gw: TestGateway;
let token: string;
let tokenId: string;

beforeAll(async () => {
  gw = await startTestGateway({ faces: [whoami], env: { MCPGATE_AUTH_CACHE_MS: '60000' } });
  ({ token, tokenId } = await gw.provision({ org: 'a', brain: 'a1', upstreamUrl: 'http://127.0.0.1:9/mcp' }));
  await gw.admin('POST', '/orgs/a/brains', { id: 'a2', upstreamUrl: 'http://127.0.0.1:9/mcp' });
  await gw.provision({ org: 'b', brain: 'b1', upstreamUrl: 'http://127.0.0.1:9/mcp' });
});
afterAll(async () => {
  await gw.close();
});

const get = (path: string, auth?: string) =>
  fetch(`${gw.url}${path}`, { headers: auth ? { authorization: auth } : {} });

describe('client auth middleware', () => {
  it('maps an org token to its principal and brain', async () => {
    const res = await get('/brains/a1/whoami', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ principal: { org: 'a', tokenId, brains: null }, brain: 'a1' });
  });

  it('answers 401 with a Bearer challenge for missing, malformed and unknown tokens', async () => {
    for (const auth of [undefined, 'Basic abc', 'Bearer', `Bearer mcpg_${'x'.repeat(43)}`]) {
      const res = await get('/brains/a1/whoami', auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="mcpgate"/);
      expect(((await res.json()) as { jsonrpc: string }).jsonrpc).toBe('2.0');
    }
  });

  it('gives one 404 body for a brain that does not exist and one the token may not see', async () => {
    const missing = await get('/brains/nope/whoami', `Bearer ${token}`);
    const otherOrg = await get('/brains/b1/whoami', `Bearer ${token}`);
    expect(missing.status).toBe(404);
    expect(otherOrg.status).toBe(404);
    expect(await otherOrg.text()).toBe(await missing.text());

    const narrow = await gw.createToken('a', { brains: ['a1'] });
    expect((await get('/brains/a1/whoami', `Bearer ${narrow.token}`)).status).toBe(200);
    const hidden = await get('/brains/a2/whoami', `Bearer ${narrow.token}`);
    expect(hidden.status).toBe(404);
    expect(await hidden.text()).toBe(await (await get('/brains/nope/whoami', `Bearer ${token}`)).text());
  });

  it('refuses a revoked token at once, even with a long cache', async () => {
    const t = await gw.createToken('a');
    expect((await get('/brains/a1/whoami', `Bearer ${t.token}`)).status).toBe(200);
    expect((await gw.admin('DELETE', `/tokens/${t.tokenId}`)).status).toBe(204);
    const res = await get('/brains/a1/whoami', `Bearer ${t.token}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('refuses an expired token, even while it is cached', async () => {
    const t = await gw.createToken('a', { expiresInSeconds: 1 });
    expect((await get('/brains/a1/whoami', `Bearer ${t.token}`)).status).toBe(200);
    const record = await gw.deps.store.getToken(t.tokenId);
    await expect
      .poll(() => Date.now() >= record!.expiresAt!.getTime(), { timeout: 3000, interval: 50 })
      .toBe(true);
    const res = await get('/brains/a1/whoami', `Bearer ${t.token}`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/expired/);
  });

  it('sees a brain deleted through the admin API at once', async () => {
    await gw.admin('POST', '/orgs/a/brains', { id: 'a3', upstreamUrl: 'http://127.0.0.1:9/mcp' });
    expect((await get('/brains/a3/whoami', `Bearer ${token}`)).status).toBe(200);
    await gw.admin('DELETE', '/brains/a3');
    expect((await get('/brains/a3/whoami', `Bearer ${token}`)).status).toBe(404);
  });
});
