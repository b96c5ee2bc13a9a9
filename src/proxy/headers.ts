/**
 * Header rules for both faces (DESIGN.md §2, protocol.md §8). Pure.
 *
 * Requests: only the MCP headers listed here reach the upstream; the brain's own credentials are added
 * and the client's `Authorization` never is. Responses: only the MCP headers listed here come back;
 * hop-by-hop headers (RFC 9110 §7.6.1) never cross in either direction.
 */

const FORWARD_REQUEST = new Set([
  'accept',
  'content-type',
  'mcp-session-id',
  'mcp-protocol-version',
  'mcp-method',
  'mcp-name',
  'last-event-id',
]);
const FORWARD_REQUEST_PREFIX = 'mcp-param-';
/** `Mcp-Param-*` exists from this revision on (spec2026.md §1.2): older requests are not scanned for it. */
const PARAM_HEADERS_SINCE = '2026-07-28';

const RETURN_RESPONSE = new Set([
  'content-type',
  'mcp-session-id',
  'mcp-protocol-version',
  'allow',
  'retry-after',
  // Not `www-authenticate`: an upstream's challenge is about the brain's credentials, which the client
  // neither holds nor can fix, and relaying it would send OAuth clients after the wrong server.
]);

export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers that keep SSE unbuffered through nginx and Fly's proxy (deploy.md §1.5). */
export const SSE_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  'content-encoding': 'none',
};

/**
 * The headers sent upstream: the client's MCP headers plus the brain's credentials. The brain's headers
 * win over anything the client sent under the same name.
 */
export function upstreamRequestHeaders(
  client: Headers,
  brainHeaders: Readonly<Record<string, string>>,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  // Named lookups first: @hono/node-server answers `get` straight from the raw request, while `forEach`
  // makes it build a full Headers object — most of this function's cost on the pass-through's hot path.
  for (const name of FORWARD_REQUEST) {
    const value = client.get(name);
    if (value !== null) out[name] = value;
  }
  const version = out['mcp-protocol-version'];
  if (version !== undefined && version >= PARAM_HEADERS_SINCE) {
    client.forEach((value, name) => {
      if (name.startsWith(FORWARD_REQUEST_PREFIX)) out[name] = value;
    });
  }
  for (const [name, value] of Object.entries(extra)) out[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(brainHeaders)) out[name.toLowerCase()] = value;
  return out;
}

/** The upstream response headers a client may see. */
export function clientResponseHeaders(upstream: Headers): Headers {
  const out = new Headers();
  upstream.forEach((value, name) => {
    if (RETURN_RESPONSE.has(name) && !HOP_BY_HOP.has(name)) out.set(name, value);
  });
  return out;
}

/**
 * The same rule over a plain header record (undici's `request` shape: lower-case names, arrays for
 * repeated headers), giving a plain record, which @hono/node-server writes without building a Headers.
 */
export function clientResponseHeaderRecord(
  upstream: Readonly<Record<string, string | string[] | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RETURN_RESPONSE) {
    const value = upstream[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export function isEventStream(contentType: string | null | undefined): boolean {
  return (contentType ?? '').toLowerCase().startsWith('text/event-stream');
}
