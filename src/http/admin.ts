/**
 * The admin API (`/admin/v1/*`, DESIGN.md §3): orgs, brains, tokens and sessions. I/O through the Store.
 *
 * Secrets discipline: a token's plaintext appears once, in its create response; upstream header values
 * are never returned (only their names); neither is ever passed to the logger.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { generateId, generateToken, hashToken } from '../auth/tokens.js';
import { GatewayError } from '../errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../mcp/json-depth.js';
import { checkUpstreamUrl } from '../proxy/ssrf.js';
import { notifyPeers } from '../routing/notify.js';
import type { Brain, Org, SessionRecord, TokenRecord } from '../store/types.js';
import {
  createBrainSchema,
  createOrgSchema,
  createTokenSchema,
  notifySchema,
  patchBrainSchema,
  patchOrgSchema,
  sessionsQuerySchema,
  slugSchema,
} from './admin-schemas.js';
import { createAuditRoutes } from './audit.js';
import type { AppEnv, GatewayDeps } from './context.js';

/** Admin bodies are small JSON objects: a larger one is refused before it is read (issue 7 §9). */
const MAX_ADMIN_BODY_BYTES = 1024 * 1024;

export function orgView(org: Org) {
  return {
    slug: org.slug,
    name: org.name,
    rateLimitPerMinute: org.rateLimitPerMinute,
    rateLimitBurst: org.rateLimitBurst,
    createdAt: org.createdAt.toISOString(),
  };
}

export function brainView(brain: Brain) {
  return {
    id: brain.id,
    org: brain.org,
    upstreamUrl: brain.upstreamUrl,
    upstreamHeaderNames: brain.upstreamHeaderNames,
    connectTimeoutMs: brain.connectTimeoutMs,
    firstByteTimeoutMs: brain.firstByteTimeoutMs,
    era: brain.era,
    createdAt: brain.createdAt.toISOString(),
    updatedAt: brain.updatedAt.toISOString(),
  };
}

export function tokenView(token: TokenRecord) {
  return {
    id: token.id,
    org: token.org,
    name: token.name,
    brains: token.brains,
    expiresAt: token.expiresAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    createdAt: token.createdAt.toISOString(),
  };
}

export function sessionView(session: SessionRecord) {
  return {
    id: session.id,
    kind: session.kind,
    org: session.org,
    brain: session.brain,
    tokenId: session.tokenId,
    ownerInstance: session.ownerInstance,
    protocolVersion: session.protocolVersion,
    createdAt: session.createdAt.toISOString(),
    lastSeenAt: session.lastSeenAt.toISOString(),
  };
}

function sha(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time comparison of the presented admin bearer with the configured one. */
function adminTokenMatches(header: string | undefined, expected: string | undefined): boolean {
  if (!expected || !header) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return false;
  return timingSafeEqual(sha(match[1]!), sha(expected));
}

async function readBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S): Promise<z.infer<S>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new GatewayError('ERR_VALIDATION', 'request body must be a JSON object', { field: 'body' });
  }
  // zod recurses over `data` (notify): a value nested thousands deep would overflow it (issue 7 §9).
  if (nestsDeeperThan(raw, MAX_JSON_DEPTH)) {
    throw new GatewayError('ERR_VALIDATION', 'body: JSON nested too deeply', { field: 'body' });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const field = [...issue.path, ...keys].map(String).join('.') || 'body';
    throw new GatewayError('ERR_VALIDATION', `${field}: ${issue.message}`, { field });
  }
  return parsed.data;
}

function param(c: Context<AppEnv>, name: string): string {
  const value = c.req.param(name) ?? '';
  if (!slugSchema.safeParse(value).success) throw new GatewayError('ERR_NOT_FOUND', 'not found');
  return value;
}

/** Name and message only: driver errors can carry query parameters, which may hold secrets. */
export function describeCause(err: unknown): string {
  const cause = err instanceof GatewayError && err.cause !== undefined ? err.cause : err;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
}

export function adminErrorBody(err: GatewayError) {
  return {
    error: { code: err.code, message: err.expose ? err.message : 'internal error', field: err.field },
  };
}

export function createAdminRoutes(deps: GatewayDeps): Hono<AppEnv> {
  const { store, secrets, bus } = deps;
  const app = new Hono<AppEnv>();

  /** MCPGATE_BLOCK_PRIVATE_UPSTREAMS: a clear 400 now; src/proxy/upstream.ts re-checks on every connect. */
  async function assertUpstreamAllowed(url: string | undefined): Promise<void> {
    if (url === undefined || !deps.config.blockPrivateUpstreams) return;
    const verdict = await checkUpstreamUrl(url);
    if (!verdict.ok) {
      throw new GatewayError(
        'ERR_VALIDATION',
        `upstreamUrl: ${verdict.address} is a ${verdict.class} address; this gateway only reaches public upstreams`,
        { field: 'upstreamUrl' },
      );
    }
  }

  app.use('*', async (c, next) => {
    if (!adminTokenMatches(c.req.header('authorization'), deps.config.adminToken)) {
      return c.json({ error: { code: 'ERR_UNAUTHORIZED', message: 'admin token required' } }, 401, {
        'www-authenticate': 'Bearer realm="mcpgate-admin"',
      });
    }
    await next();
    return undefined;
  });
  // After the token check: a stranger's body is never read at all.
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_ADMIN_BODY_BYTES,
      onError: (c) =>
        c.json(
          adminErrorBody(
            new GatewayError('ERR_PAYLOAD_TOO_LARGE', `request body over ${MAX_ADMIN_BODY_BYTES} bytes`),
          ),
          413,
        ),
    }),
  );

  app.post('/orgs', async (c) => {
    const body = await readBody(c, createOrgSchema);
    const org = await store.createOrg({ slug: body.slug, name: body.name ?? null });
    deps.logger.info({ org: org.slug }, 'org created');
    return c.json(orgView(org), 201);
  });

  app.get('/orgs', async (c) => c.json((await store.listOrgs()).map(orgView)));

  // Rate-limit override (issue 7 §3): applies on this instance at once, on the others within 30 s.
  app.patch('/orgs/:org', async (c) => {
    const slug = param(c, 'org');
    const body = await readBody(c, patchOrgSchema);
    const org = await store.updateOrg(slug, body);
    if (!org) throw new GatewayError('ERR_NOT_FOUND', `org ${slug} not found`);
    deps.limits.rate.orgChanged(org);
    deps.logger.info({ org: slug, fields: Object.keys(body) }, 'org updated');
    return c.json(orgView(org));
  });

  app.get('/orgs/:org/brains', async (c) => {
    const org = param(c, 'org');
    if (!(await store.getOrg(org))) throw new GatewayError('ERR_NOT_FOUND', `org ${org} not found`);
    return c.json((await store.listBrains(org)).map(brainView));
  });

  app.post('/orgs/:org/brains', async (c) => {
    const org = param(c, 'org');
    const body = await readBody(c, createBrainSchema);
    await assertUpstreamAllowed(body.upstreamUrl);
    const brain = await store.createBrain({
      id: body.id,
      org,
      upstreamUrl: body.upstreamUrl,
      upstreamHeadersEnc: await secrets.sealHeaders(body.upstreamHeaders),
      upstreamHeaderNames: Object.keys(body.upstreamHeaders ?? {}),
      connectTimeoutMs: body.connectTimeoutMs ?? null,
      firstByteTimeoutMs: body.firstByteTimeoutMs ?? null,
      era: body.era,
    });
    await bus.publish({ type: 'brain.changed', brainId: brain.id });
    deps.logger.info({ org, brain: brain.id }, 'brain created');
    return c.json(brainView(brain), 201);
  });

  app.get('/brains/:brain', async (c) => {
    const brain = await store.getBrain(param(c, 'brain'));
    if (!brain) throw new GatewayError('ERR_NOT_FOUND', 'brain not found');
    return c.json(brainView(brain));
  });

  app.patch('/brains/:brain', async (c) => {
    const id = param(c, 'brain');
    const body = await readBody(c, patchBrainSchema);
    await assertUpstreamAllowed(body.upstreamUrl);
    const headers =
      body.upstreamHeaders === undefined
        ? {}
        : {
            upstreamHeadersEnc: await secrets.sealHeaders(body.upstreamHeaders ?? undefined),
            upstreamHeaderNames: Object.keys(body.upstreamHeaders ?? {}),
          };
    const brain = await store.updateBrain(id, {
      upstreamUrl: body.upstreamUrl,
      connectTimeoutMs: body.connectTimeoutMs,
      firstByteTimeoutMs: body.firstByteTimeoutMs,
      era: body.era,
      ...headers,
    });
    if (!brain) throw new GatewayError('ERR_NOT_FOUND', 'brain not found');
    await bus.publish({ type: 'brain.changed', brainId: id });
    deps.logger.info({ brain: id, fields: Object.keys(body) }, 'brain updated');
    return c.json(brainView(brain));
  });

  app.delete('/brains/:brain', async (c) => {
    const id = param(c, 'brain');
    if (!(await store.deleteBrain(id))) throw new GatewayError('ERR_NOT_FOUND', 'brain not found');
    await bus.publish({ type: 'brain.deleted', brainId: id });
    deps.logger.info({ brain: id }, 'brain deleted');
    return c.body(null, 204);
  });

  // Pushes `notifications/message` onto every live session of the brain held by this instance.
  app.post('/brains/:brain/notify', async (c) => {
    const id = param(c, 'brain');
    const body = await readBody(c, notifySchema);
    if (!(await store.getBrain(id))) throw new GatewayError('ERR_NOT_FOUND', 'brain not found');
    // Here, and on every other live instance (issue 5 §5): `delivered` counts them all.
    const delivered = deps.sessions.notifyBrain(id, body) + (await notifyPeers(deps, id, body));
    deps.logger.info({ brain: id, level: body.level, delivered }, 'brain notified');
    return c.json({ delivered });
  });

  app.post('/orgs/:org/tokens', async (c) => {
    const org = param(c, 'org');
    const body = await readBody(c, createTokenSchema);
    if (!(await store.getOrg(org))) throw new GatewayError('ERR_NOT_FOUND', `org ${org} not found`);
    if (body.brains) {
      const own = new Set((await store.listBrains(org)).map((b) => b.id));
      const foreign = body.brains.find((b) => !own.has(b));
      if (foreign !== undefined) {
        throw new GatewayError('ERR_VALIDATION', `brains: ${foreign} is not a brain of org ${org}`, {
          field: 'brains',
        });
      }
    }
    const plaintext = generateToken();
    const token = await store.createToken({
      id: generateId('tok'),
      org,
      name: body.name ?? null,
      hash: hashToken(plaintext),
      brains: body.brains ? [...new Set(body.brains)] : null,
      expiresAt: body.expiresInSeconds ? new Date(deps.now().getTime() + body.expiresInSeconds * 1000) : null,
    });
    deps.logger.info({ org, tokenId: token.id }, 'token created');
    return c.json({ ...tokenView(token), token: plaintext }, 201);
  });

  app.delete('/tokens/:id', async (c) => {
    const id = c.req.param('id');
    const token = await store.getToken(id);
    if (!token) throw new GatewayError('ERR_NOT_FOUND', 'token not found');
    await store.revokeToken(id, deps.now());
    await bus.publish({ type: 'token.revoked', tokenId: id });
    deps.logger.info({ tokenId: id }, 'token revoked');
    return c.body(null, 204);
  });

  app.get('/sessions', async (c) => {
    const query = sessionsQuerySchema.safeParse(c.req.query());
    if (!query.success) {
      const field = String(query.error.issues[0]!.path[0] ?? 'query');
      throw new GatewayError('ERR_VALIDATION', `${field}: ${query.error.issues[0]!.message}`, { field });
    }
    return c.json((await store.listSessions(query.data)).map(sessionView));
  });

  app.route('/audit', createAuditRoutes(deps));

  app.notFound((c) => c.json({ error: { code: 'ERR_NOT_FOUND', message: 'no such admin route' } }, 404));

  app.onError((err, c) => {
    const gatewayError =
      err instanceof GatewayError ? err : new GatewayError('ERR_INTERNAL', 'internal error', { cause: err });
    if (gatewayError.status >= 500)
      deps.logger.error({ code: gatewayError.code, cause: describeCause(err) }, 'admin error');
    return c.json(adminErrorBody(gatewayError), gatewayError.status as 400);
  });

  return app;
}
