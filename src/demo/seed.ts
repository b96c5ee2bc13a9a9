/**
 * Demo mode: seeds org `demo`, brain `demo` (pointing at the in-process demo brain) and a fresh org token,
 * and formats the banner printed by `mcpgate serve --demo`. I/O through the Store only.
 */
import { generateId, generateToken, hashToken } from '../auth/tokens.js';
import type { GatewayDeps } from '../http/context.js';

export interface DemoSeed {
  orgToken: string;
  adminToken: string;
}

export async function seedDemo(deps: GatewayDeps, upstreamUrl: string): Promise<DemoSeed> {
  const { store } = deps;
  await store.createOrg({ slug: 'demo', name: 'Demo org' });
  await store.createBrain({
    id: 'demo',
    org: 'demo',
    upstreamUrl,
    upstreamHeadersEnc: await deps.secrets.sealHeaders({ 'X-Demo-Upstream-Key': 'demo-upstream-secret' }),
    upstreamHeaderNames: ['X-Demo-Upstream-Key'],
  });
  const orgToken = generateToken();
  await store.createToken({
    id: generateId('tok'),
    org: 'demo',
    name: 'demo',
    hash: hashToken(orgToken),
    brains: null,
    expiresAt: null,
  });
  return { orgToken, adminToken: deps.config.adminToken ?? '' };
}

export function demoBanner(baseUrl: string, seed: DemoSeed): string {
  return [
    '',
    'mcpgate demo is running (embedded store; everything is forgotten on exit)',
    '',
    `  Streamable HTTP  ${baseUrl}/brains/demo/mcp`,
    `  legacy HTTP+SSE  ${baseUrl}/brains/demo/sse`,
    `  org token        ${seed.orgToken}`,
    `  admin token      ${seed.adminToken}`,
    '',
    '  Try it (from this checkout; SDK v1 Streamable HTTP client, then the admin API):',
    `    node --input-type=module -e "import {Client} from '@modelcontextprotocol/sdk/client/index.js'; import {StreamableHTTPClientTransport as T} from '@modelcontextprotocol/sdk/client/streamableHttp.js'; const c = new Client({name: 'try', version: '1'}); await c.connect(new T(new URL('${baseUrl}/brains/demo/mcp'), {requestInit: {headers: {Authorization: 'Bearer ${seed.orgToken}'}}})); console.log(JSON.stringify(await c.callTool({name: 'echo', arguments: {message: 'hi'}}))); await c.close()"`,
    `    curl -H "Authorization: Bearer ${seed.adminToken}" ${baseUrl}/admin/v1/orgs`,
    '',
  ].join('\n');
}
