/**
 * OAuth resource identifiers (RFC 8707), protected-resource metadata URLs (RFC 9728) and brain scopes
 * for the gateway's public surface. Pure. The choices are recorded in docs/decisions/0004.
 *
 * - Each face is its own resource: `${publicUrl}/brains/<brain>/mcp` and `…/sse`, each with a path-aware
 *   PRM document (`/.well-known/oauth-protected-resource/brains/<brain>/mcp`) whose `resource` is exactly
 *   that URL (RFC 9728 §3.3). The origin itself is a resource too, described by the root PRM document,
 *   for clients that fall back to root discovery.
 * - A token is accepted on a brain's routes when its `aud` names the origin or any of that brain's
 *   resources, so one token serves `/sse` and the `/messages` POSTs that belong to it.
 * - Brain scopes: `<prefix><brain>` grants one brain, `<prefix>*` every brain of the token's org.
 */

export type FaceKind = 'mcp' | 'sse';

const FACE_PATH = /^\/brains\/([^/]+)\/(mcp|sse|messages)$/;

/** The resource a request path belongs to: `/messages` is part of the legacy `/sse` face. */
export function faceOfPath(path: string): { brain: string; face: FaceKind } | undefined {
  const match = FACE_PATH.exec(path);
  if (!match) return undefined;
  return { brain: match[1]!, face: match[2] === 'mcp' ? 'mcp' : 'sse' };
}

/** The canonical resource identifier: the origin, or one brain's face. */
export function resourceUrl(publicUrl: string, target?: { brain: string; face: FaceKind }): string {
  return target ? `${publicUrl}/brains/${target.brain}/${target.face}` : publicUrl;
}

/** Where the PRM document for that resource lives (RFC 9728 §3.1: the well-known segment goes first). */
export function metadataUrl(publicUrl: string, target?: { brain: string; face: FaceKind }): string {
  const suffix = target ? `/brains/${target.brain}/${target.face}` : '';
  return `${publicUrl}/.well-known/oauth-protected-resource${suffix}`;
}

/**
 * Every `aud` value accepted on a brain's routes. The origin appears with and without a trailing slash
 * because `new URL(origin).href` (what the SDK client sends as `resource`) adds one.
 */
export function acceptedAudiences(publicUrl: string, brain: string, extra: readonly string[] = []): string[] {
  return [
    publicUrl,
    `${publicUrl}/`,
    `${publicUrl}/brains/${brain}`,
    resourceUrl(publicUrl, { brain, face: 'mcp' }),
    resourceUrl(publicUrl, { brain, face: 'sse' }),
    ...extra,
  ];
}

export function brainScope(prefix: string, brain: string): string {
  return `${prefix}${brain}`;
}

export function allBrainsScope(prefix: string): string {
  return `${prefix}*`;
}

/**
 * Which brains a token's scopes grant: null for every brain of the org, a list otherwise. A token
 * without any brain scope gets every brain only when brain scopes are optional.
 */
export function brainsGranted(
  scopes: readonly string[],
  options: { prefix: string; required: boolean },
): string[] | null {
  if (scopes.includes(allBrainsScope(options.prefix))) return null;
  const listed = scopes
    .filter((s) => s.startsWith(options.prefix))
    .map((s) => s.slice(options.prefix.length));
  if (listed.length > 0) return listed;
  return options.required ? [] : null;
}
