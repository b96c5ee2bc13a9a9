/**
 * `?access_token=` for clients that cannot set headers (browser EventSource, a few desktop agents; issue 7
 * item 8). Pure. Opt-in per deployment (MCPGATE_ALLOW_QUERY_TOKEN) and accepted on exactly one route:
 * `GET /brains/:brain/sse`. The MCP spec forbids query tokens (protocol.md §3.3) and RFC 6750 §2.3 warns
 * that URLs end up in logs, so anywhere else the parameter is ignored, and where it is accepted the
 * middleware strips it from the request the face sees.
 */

export const QUERY_TOKEN_PARAM = 'access_token';

const SSE_PATH = /^\/brains\/[^/]+\/sse$/;

/** The one route a query token may authenticate. */
export function isQueryTokenRoute(method: string, path: string): boolean {
  return method === 'GET' && SSE_PATH.test(path);
}

/** The URL without its `access_token` parameter (every occurrence). */
export function withoutQueryToken(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has(QUERY_TOKEN_PARAM)) return url;
  parsed.searchParams.delete(QUERY_TOKEN_PARAM);
  return parsed.href;
}

/**
 * For loggers and metric labels: replaces the value of any `access_token` parameter in a URL or path with
 * `[redacted]`, leaving the rest as it was.
 *
 * @example
 * redactQueryToken('/brains/a/sse?access_token=mcpg_x&v=1'); // '/brains/a/sse?access_token=[redacted]&v=1'
 */
export function redactQueryToken(urlOrPath: string): string {
  return urlOrPath.replace(/([?&]access_token=)[^&#]*/gi, '$1[redacted]');
}
