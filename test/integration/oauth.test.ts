/**
 * OAuth 2.1 resource server (issue 7 item 1; protocol.md §3.3; docs/decisions/0004): JWT access tokens
 * verified against a real local JWKS server with keys generated here, RFC 9728 metadata read by the MCP
 * SDK's own discovery code, challenges, scopes, key rotation, and org tokens working alongside.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
  type OAuthClientProvider,
  selectResourceURL,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Face } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { type DemoBrain, startDemoBrain } from '../../src/demo/brain.js';
import { isGatewayError } from '../../src/errors.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const ISSUER = 'https://issuer.test';

/** Reports what auth established, on every path a face might own. */
const whoami: Face = (app) => {
  for (const path of ['/:brain/whoami', '/:brain/mcp', '/:brain/sse', '/:brain/messages']) {
    app.all(path, (c) => c.json({ principal: c.get('principal'), brain: c.get('brain').id }));
  }
};

interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** The JWKS the local "authorization server" publishes; tests swap it to rotate keys. */
let published: JSONWebKeySet = { keys: [] };
let jwksStatus = 200;
let jwksFetches = 0;
let jwksServer: Server;
let jwksUrl: string;
let gw: TestGateway;
let publicUrl: string;
let k1: SigningKey;
let orgToken: string;

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  k1 = await makeKey('k1', 'RS256');
  published = { keys: [k1.jwk] };
  jwksServer = createHttpServer((_req, res) => {
    jwksFetches++;
    res.writeHead(jwksStatus, { 'content-type': 'application/json' });
    res.end(JSON.stringify(published));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
  // The public URL is the gateway's own address, so the SDK's same-origin discovery rules apply for real.
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}`;
  gw = await startTestGateway({
    faces: [whoami],
    env: {
      PORT: String(port),
      MCPGATE_PUBLIC_URL: publicUrl,
      MCPGATE_OAUTH_ISSUER: ISSUER,
      MCPGATE_OAUTH_JWKS_URL: jwksUrl,
      // Refetch on every unknown kid, so rotation is visible without waiting 30 s.
      MCPGATE_OAUTH_JWKS_COOLDOWN_MS: '0',
    },
  });
  ({ token: orgToken } = await gw.provision({
    org: 'acme',
    brain: 'a1',
    upstreamUrl: 'http://127.0.0.1:9/mcp',
  }));
  await gw.admin('POST', '/orgs/acme/brains', { id: 'a2', upstreamUrl: 'http://127.0.0.1:9/mcp' });
  await gw.provision({ org: 'other', brain: 'b1', upstreamUrl: 'http://127.0.0.1:9/mcp' });
});
afterAll(async () => {
  await gw?.close();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

interface SignOptions {
  key?: SigningKey;
  claims?: JWTPayload;
  expiresIn?: number | null;
  kid?: string;
}

async function sign(options: SignOptions = {}): Promise<string> {
  const key = options.key ?? k1;
  const claims: JWTPayload = {
    iss: ISSUER,
    aud: publicUrl,
    sub: 'user-1',
    org: 'acme',
    scope: 'mcp:a1',
    ...options.claims,
  };
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims).setProtectedHeader({
    alg: key.alg,
    kid: options.kid ?? key.kid,
    typ: 'at+jwt',
  });
  jwt.setIssuedAt(now);
  if (options.expiresIn !== null) jwt.setExpirationTime(now + (options.expiresIn ?? 300));
  return jwt.sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function claimsFor(overrides: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    aud: publicUrl,
    sub: 'user-1',
    org: 'acme',
    scope: 'mcp:a1',
    iat: now,
    exp: now + 300,
    ...overrides,
  };
}

const call = (path: string, token?: string, init: RequestInit = {}) =>
  fetch(`${gw.url}${path}`, { ...init, headers: token ? { authorization: `Bearer ${token}` } : {} });

const prm = (suffix = '') => `${publicUrl}/.well-known/oauth-protected-resource${suffix}`;

describe('protected resource metadata (RFC 9728)', () => {
  it('serves the root document and one per brain face, with resource and authorization_servers', async () => {
    const root = await fetch(prm());
    expect(root.status).toBe(200);
    expect(await root.json()).toEqual({
      resource: publicUrl,
      authorization_servers: [ISSUER],
      scopes_supported: ['mcp:*'],
      bearer_methods_supported: ['header'],
      resource_name: 'mcpgate',
    });
    for (const face of ['mcp', 'sse']) {
      const res = await fetch(prm(`/brains/a1/${face}`));
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toMatch(/max-age/);
      expect(await res.json()).toMatchObject({
        resource: `${publicUrl}/brains/a1/${face}`,
        authorization_servers: [ISSUER],
        scopes_supported: ['mcp:a1'],
      });
    }
  });

  it('answers for any well-formed brain id (no existence oracle) and 404 otherwise', async () => {
    expect((await fetch(prm('/brains/does-not-exist/mcp'))).status).toBe(200);
    expect((await fetch(prm('/brains/Bad%20Id/mcp'))).status).toBe(404);
    expect((await fetch(prm('/brains/a1/messages'))).status).toBe(404);
  });

  it('is what the MCP SDK client discovers, and a resource it accepts for both faces', async () => {
    for (const face of ['mcp', 'sse']) {
      const serverUrl = `${gw.url}/brains/a1/${face}`;
      const metadata = await discoverOAuthProtectedResourceMetadata(serverUrl);
      expect(metadata.resource).toBe(`${publicUrl}/brains/a1/${face}`);
      const resource = await selectResourceURL(serverUrl, {} as OAuthClientProvider, metadata);
      expect(resource?.href).toBe(`${publicUrl}/brains/a1/${face}`);
    }
  });
});

describe('challenges', () => {
  it('a 401 names the path-aware metadata and the brain scope, in a form the SDK parses', async () => {
    for (const [path, doc] of [
      ['/brains/a1/mcp', '/brains/a1/mcp'],
      ['/brains/a1/sse', '/brains/a1/sse'],
      ['/brains/a1/messages?sessionId=x', '/brains/a1/sse'],
    ] as const) {
      const res = await call(path);
      expect(res.status).toBe(401);
      const header = res.headers.get('www-authenticate')!;
      expect(header).toMatch(/^Bearer realm="mcpgate"/);
      expect(header).toContain(`resource_metadata="${prm(doc)}"`);
      const params = extractWWWAuthenticateParams(res);
      expect(params.resourceMetadataUrl?.href).toBe(prm(doc));
      expect(params.scope).toBe('mcp:a1');
    }
  });

  it('org tokens keep working, and their 401s carry resource_metadata too', async () => {
    const ok = await call('/brains/a1/whoami', orgToken);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { principal: { org: string } }).principal.org).toBe('acme');
    const bad = await call('/brains/a1/mcp', `mcpg_${'x'.repeat(43)}`);
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(bad.headers.get('www-authenticate')).toContain(`resource_metadata="${prm('/brains/a1/mcp')}"`);
  });
});

describe('JWT access tokens', () => {
  it('accepts a valid token for the origin or for one of the brain’s resources', async () => {
    for (const aud of [
      publicUrl,
      `${publicUrl}/`,
      `${publicUrl}/brains/a1/mcp`,
      `${publicUrl}/brains/a1/sse`,
      ['x', publicUrl],
    ]) {
      const res = await call('/brains/a1/mcp', await sign({ claims: { aud } }));
      expect(res.status, JSON.stringify(aud)).toBe(200);
      const body = (await res.json()) as { principal: Record<string, unknown>; brain: string };
      expect(body.brain).toBe('a1');
      expect(body.principal).toMatchObject({ org: 'acme', brains: ['a1'], subject: 'user-1' });
      expect(body.principal.tokenId).toMatch(/^jwt_[A-Za-z0-9_-]{22}$/);
    }
  });

  it('gives one subject the same token id across tokens, so sessions survive a refresh', async () => {
    const ids = new Set<unknown>();
    for (let i = 0; i < 2; i++) {
      const res = await call('/brains/a1/whoami', await sign({ claims: { jti: `t${i}` } }));
      ids.add(((await res.json()) as { principal: { tokenId: string } }).principal.tokenId);
    }
    expect(ids.size).toBe(1);
  });

  it('caches the JWKS: valid tokens with a known kid cause no refetch', async () => {
    await call('/brains/a1/whoami', await sign());
    const before = jwksFetches;
    for (let i = 0; i < 3; i++) expect((await call('/brains/a1/whoami', await sign())).status).toBe(200);
    expect(jwksFetches).toBe(before);
  });

  it.each<[string, () => Promise<string>, string]>([
    ['expired', () => sign({ expiresIn: -120 }), 'ERR_JWT_EXPIRED'],
    ['without exp', () => sign({ expiresIn: null }), 'ERR_JWT_CLAIM_VALIDATION_FAILED:exp'],
    [
      'not yet valid (nbf)',
      () => sign({ claims: { nbf: Math.floor(Date.now() / 1000) + 600 } }),
      'ERR_JWT_CLAIM_VALIDATION_FAILED:nbf',
    ],
    [
      'for another audience',
      () => sign({ claims: { aud: 'https://elsewhere.example' } }),
      'ERR_JWT_CLAIM_VALIDATION_FAILED:aud',
    ],
    [
      'for another brain’s resource',
      () => sign({ claims: { aud: `${publicUrl}/brains/a2/mcp` } }),
      'ERR_JWT_CLAIM_VALIDATION_FAILED:aud',
    ],
    [
      'from another issuer',
      () => sign({ claims: { iss: 'https://evil.test' } }),
      'ERR_JWT_CLAIM_VALIDATION_FAILED:iss',
    ],
    [
      'signed by an unknown key',
      async () => sign({ key: await makeKey('k-unknown', 'RS256') }),
      'ERR_JWKS_NO_MATCHING_KEY',
    ],
    [
      'signed by another key under a known kid',
      async () => sign({ key: await makeKey('k1', 'RS256') }),
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    ],
    [
      'with alg none',
      async () => `${b64({ alg: 'none', typ: 'JWT', kid: 'k1' })}.${b64(claimsFor())}.`,
      'ERR_JOSE_ALG_NOT_ALLOWED',
    ],
    [
      'HS256 with the public key as the secret',
      async () => {
        const secret = new TextEncoder().encode(await exportSPKI(k1.publicKey));
        return new SignJWT(claimsFor()).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(secret);
      },
      'ERR_JOSE_ALG_NOT_ALLOWED',
    ],
    [
      'with a tampered payload',
      async () => {
        const [h, , s] = (await sign()).split('.');
        return `${h}.${b64(claimsFor({ org: 'other', scope: 'mcp:*' }))}.${s}`;
      },
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    ],
    ['without an org claim', () => sign({ claims: { org: undefined } }), 'ERR_JWT_NO_ORG'],
    [
      'with an org claim that is not an org id',
      () => sign({ claims: { org: 'Acme Corp' } }),
      'ERR_JWT_NO_ORG',
    ],
    ['without a subject', () => sign({ claims: { sub: undefined } }), 'ERR_JWT_NO_SUBJECT'],
    ['that is garbage (three segments)', async () => 'a.b.c', 'ERR_JWS_INVALID'],
    ['that is garbage (one segment)', async () => 'not-a-jwt-at-all', 'ERR_JWS_INVALID'],
    [
      'with a header that is not JSON',
      async () => `${Buffer.from('{').toString('base64url')}.${b64(claimsFor())}.x`,
      'ERR_JWS_INVALID',
    ],
  ])('refuses a token %s with 401 invalid_token and resource_metadata', async (_name, make, why) => {
    const logged = gw.logs.length;
    const res = await call('/brains/a1/mcp', await make());
    // Refused for the reason the case is about, not by accident (the debug log carries jose's code).
    const refusals = gw.logs.slice(logged).filter((l) => l.includes('jwt refused'));
    const last = JSON.parse(refusals.at(-1) ?? '{}') as { code?: string; claim?: string };
    expect([last.code, last.claim].filter(Boolean).join(':')).toBe(why);
    expect(res.status).toBe(401);
    const header = res.headers.get('www-authenticate')!;
    expect(header).toContain('error="invalid_token"');
    expect(header).toContain(`resource_metadata="${prm('/brains/a1/mcp')}"`);
    expect(((await res.json()) as { jsonrpc: string }).jsonrpc).toBe('2.0');
  });

  it('says "expired" for an expired token', async () => {
    const res = await call('/brains/a1/mcp', await sign({ expiresIn: -120 }));
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/expired/);
  });
});

describe('brain scopes and orgs', () => {
  it('answers 403 insufficient_scope, naming the scope, when the token lacks the brain', async () => {
    for (const scope of ['mcp:a2', 'openid profile', '']) {
      const res = await call('/brains/a1/mcp', await sign({ claims: { scope } }));
      expect(res.status, scope).toBe(403);
      const header = res.headers.get('www-authenticate')!;
      expect(header).toContain('error="insufficient_scope"');
      expect(header).toContain('scope="mcp:a1"');
      expect(header).toContain(`resource_metadata="${prm('/brains/a1/mcp')}"`);
      expect(extractWWWAuthenticateParams(res)).toMatchObject({
        error: 'insufficient_scope',
        scope: 'mcp:a1',
      });
    }
  });

  it('answers 403 before looking the brain up, so the 403 is no existence oracle', async () => {
    const token = await sign({ claims: { scope: 'mcp:a1' } });
    const existing = await call('/brains/a2/mcp', token);
    const missing = await call('/brains/zz/mcp', token);
    expect([existing.status, missing.status]).toEqual([403, 403]);
  });

  it('grants every brain of the org with mcp:*, several with several scopes, and reads scp arrays', async () => {
    const all = await sign({ claims: { scope: 'openid mcp:*' } });
    expect((await call('/brains/a1/mcp', all)).status).toBe(200);
    expect((await call('/brains/a2/mcp', all)).status).toBe(200);
    const two = await sign({ claims: { scope: 'mcp:a1 mcp:a2' } });
    expect((await call('/brains/a2/whoami', two)).status).toBe(200);
    const scp = await sign({ claims: { scope: undefined, scp: ['mcp:a2'] } });
    expect((await call('/brains/a2/whoami', scp)).status).toBe(200);
    expect((await call('/brains/a1/whoami', scp)).status).toBe(403);
  });

  it('never crosses orgs: another org’s brain is the same 404 as a missing one', async () => {
    const token = await sign({ claims: { scope: 'mcp:*' } });
    const foreign = await call('/brains/b1/mcp', token);
    const missing = await call('/brains/nope/mcp', token);
    expect(foreign.status).toBe(404);
    expect(await foreign.text()).toBe(await missing.text());
    // A brain scope naming the other org's brain changes nothing.
    expect((await call('/brains/b1/mcp', await sign({ claims: { scope: 'mcp:b1' } }))).status).toBe(404);
  });
});

describe('key rotation and JWKS failures', () => {
  it('picks up a rotated key: the new kid verifies after the JWKS changes, the retired one stops', async () => {
    const k2 = await makeKey('k2', 'ES256');
    const early = await call('/brains/a1/mcp', await sign({ key: k2 }));
    expect(early.status).toBe(401);

    const oldToken = await sign();
    published = { keys: [k2.jwk] };
    try {
      expect((await call('/brains/a1/mcp', await sign({ key: k2 }))).status).toBe(200);
      expect((await call('/brains/a1/mcp', oldToken)).status).toBe(401);
    } finally {
      published = { keys: [k1.jwk] };
    }
    expect((await call('/brains/a1/mcp', oldToken)).status).toBe(200);
  });

  it('answers 503 with Retry-After (not 401) while the JWKS cannot be fetched', async () => {
    const k3 = await makeKey('k3', 'RS256');
    jwksStatus = 500;
    try {
      const res = await call('/brains/a1/mcp', await sign({ key: k3 }));
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBeTruthy();
    } finally {
      jwksStatus = 200;
    }
  });
});

describe('the real faces with JWT access tokens (SDK v1 clients, demo brain)', () => {
  let demo: DemoBrain;
  let real: TestGateway;
  let realPublicUrl: string;
  beforeAll(async () => {
    demo = await startDemoBrain();
    const port = await freePort();
    realPublicUrl = `http://127.0.0.1:${port}`;
    real = await startTestGateway({
      env: {
        PORT: String(port),
        MCPGATE_PUBLIC_URL: realPublicUrl,
        MCPGATE_OAUTH_ISSUER: ISSUER,
        MCPGATE_OAUTH_JWKS_URL: jwksUrl,
      },
    });
    await real.provision({ org: 'acme', brain: 'demo', upstreamUrl: demo.url });
  });
  afterAll(async () => {
    await real?.close();
    await demo?.close();
  });

  it('carries a whole conversation on /mcp and on /sse + /messages', async () => {
    for (const face of ['mcp', 'sse'] as const) {
      const jwt = await sign({ claims: { aud: `${realPublicUrl}/brains/demo/${face}`, scope: 'mcp:demo' } });
      const url = new URL(`${real.url}/brains/demo/${face}`);
      const requestInit = { headers: { authorization: `Bearer ${jwt}` } };
      const transport =
        face === 'mcp'
          ? new StreamableHTTPClientTransport(url, { requestInit })
          : new SSEClientTransport(url, { requestInit });
      const client = new Client({ name: `jwt-${face}`, version: '1.0.0' });
      await client.connect(transport);
      const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
      expect(result.content, face).toEqual([{ type: 'text', text: '5' }]);
      await client.close();
    }
    for (const line of real.logs) expect(line).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
  });
});

describe('configuration', () => {
  const configError = (env: Record<string, string>) => {
    try {
      parseConfig(env);
    } catch (err) {
      if (isGatewayError(err, 'ERR_CONFIG')) return err.message;
      throw err;
    }
    return undefined;
  };
  const base = {
    MCPGATE_OAUTH_ISSUER: ISSUER,
    MCPGATE_OAUTH_JWKS_URL: 'https://issuer.test/jwks',
    MCPGATE_PUBLIC_URL: 'https://mcp.example.com',
  };

  it('is off by default and complete when on', () => {
    expect(parseConfig({}).oauth).toBeUndefined();
    expect(parseConfig(base).oauth).toMatchObject({
      issuer: ISSUER,
      orgClaim: 'org',
      scopePrefix: 'mcp:',
      requireBrainScope: true,
      audiences: [],
    });
    expect(parseConfig(base).oauth?.algorithms).not.toContain('none');
  });

  it('refuses none and HMAC algorithms, half an OAuth setup, and a public URL with a path', () => {
    expect(configError({ ...base, MCPGATE_OAUTH_ALGORITHMS: 'RS256,none' })).toContain(
      'MCPGATE_OAUTH_ALGORITHMS',
    );
    expect(configError({ ...base, MCPGATE_OAUTH_ALGORITHMS: 'HS256' })).toContain('MCPGATE_OAUTH_ALGORITHMS');
    expect(configError({ MCPGATE_OAUTH_ISSUER: ISSUER, MCPGATE_PUBLIC_URL: 'https://x.example' })).toContain(
      'MCPGATE_OAUTH_JWKS_URL',
    );
    expect(configError({ ...base, MCPGATE_PUBLIC_URL: '' })).toContain('MCPGATE_PUBLIC_URL');
    expect(configError({ ...base, MCPGATE_PUBLIC_URL: 'https://x.example/gw' })).toContain(
      'MCPGATE_PUBLIC_URL',
    );
  });
});

describe('with OAuth off (the default)', () => {
  let plain: TestGateway;
  let token: string;
  beforeAll(async () => {
    plain = await startTestGateway({ faces: [whoami] });
    ({ token } = await plain.provision({ org: 'acme', brain: 'a1', upstreamUrl: 'http://127.0.0.1:9/mcp' }));
  });
  afterAll(async () => {
    await plain?.close();
  });

  it('serves no metadata, names none in challenges, and treats a JWT as an unknown token', async () => {
    expect((await fetch(`${plain.url}/.well-known/oauth-protected-resource`)).status).toBe(404);
    expect((await fetch(`${plain.url}/.well-known/oauth-protected-resource/brains/a1/mcp`)).status).toBe(404);
    const res = await fetch(`${plain.url}/brains/a1/mcp`, {
      headers: { authorization: `Bearer ${await sign()}` },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).not.toContain('resource_metadata');
    const ok = await fetch(`${plain.url}/brains/a1/mcp`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
  });
});
