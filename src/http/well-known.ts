/**
 * RFC 9728 OAuth 2.0 Protected Resource Metadata (issue 7 item 1; protocol.md §3.3). Pure over the Config.
 *
 * Served only when OAuth is configured (otherwise these paths are 404, which MCP clients read as "no
 * OAuth here"):
 * - `/.well-known/oauth-protected-resource` describes the origin (the fallback clients try last);
 * - `/.well-known/oauth-protected-resource/brains/<brain>/mcp` and `…/sse` describe one face of one brain,
 *   and are the URLs the 401 challenges point at. Their `resource` is exactly the face URL (RFC 9728 §3.3),
 *   which the SDK client accepts because it is a same-origin path prefix of the URL it connected to.
 * Any well-formed brain id gets a document, existing or not: metadata must not be an existence oracle.
 */
import { Hono } from 'hono';
import { allBrainsScope, brainScope, type FaceKind, resourceUrl } from '../auth/resource.js';
import type { Config } from '../config.js';
import { JSONRPC, jsonRpcErrorResponse } from '../mcp/jsonrpc.js';
import { slugSchema } from './admin-schemas.js';
import type { AppEnv } from './context.js';

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: string[];
  resource_name: string;
}

export function protectedResourceMetadata(
  config: Pick<Config, 'publicUrl' | 'oauth' | 'allowQueryToken'>,
  target?: { brain: string; face: FaceKind },
): ProtectedResourceMetadata | undefined {
  const { publicUrl, oauth } = config;
  if (!oauth || !publicUrl) return undefined;
  return {
    resource: resourceUrl(publicUrl, target),
    authorization_servers: [oauth.issuer],
    scopes_supported: [
      target ? brainScope(oauth.scopePrefix, target.brain) : allBrainsScope(oauth.scopePrefix),
    ],
    bearer_methods_supported:
      target?.face === 'sse' && config.allowQueryToken ? ['header', 'query'] : ['header'],
    resource_name: target ? `mcpgate brain ${target.brain}` : 'mcpgate',
  };
}

const CACHE_CONTROL = 'public, max-age=300';

export function createWellKnownRoutes(config: Pick<Config, 'publicUrl' | 'oauth' | 'allowQueryToken'>) {
  const app = new Hono<AppEnv>();
  if (!config.oauth) return app;

  app.get('/oauth-protected-resource', (c) =>
    c.json(protectedResourceMetadata(config), 200, { 'cache-control': CACHE_CONTROL }),
  );

  app.get('/oauth-protected-resource/brains/:brain/:face{mcp|sse}', (c) => {
    const brain = c.req.param('brain');
    if (!slugSchema.safeParse(brain).success) {
      return jsonRpcErrorResponse(404, JSONRPC.SERVER_ERROR, 'Not found');
    }
    const face = c.req.param('face') as FaceKind;
    return c.json(protectedResourceMetadata(config, { brain, face }), 200, {
      'cache-control': CACHE_CONTROL,
    });
  });

  return app;
}
