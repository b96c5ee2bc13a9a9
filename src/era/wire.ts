/**
 * The 2026-07-28 request vocabulary the gateway speaks to a modern upstream on a legacy client's behalf:
 * the `_meta` envelope, the standard request headers and their header-safe encoding (spec2026.md §1.2,
 * §1.3). Pure.
 */
import { upstreamRequestHeaders } from '../proxy/headers.js';

export const MODERN_VERSION = '2026-07-28';

/** The `_meta` keys of the per-request envelope (BI "Per-request protocol fields"). */
export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

/** The 2026-07-28 error codes a legacy client has never heard of (spec2026.md §1.6). */
export const MODERN_ERRORS = {
  HEADER_MISMATCH: -32020,
  MISSING_CLIENT_CAPABILITY: -32021,
  UNSUPPORTED_PROTOCOL_VERSION: -32022,
} as const;

export const isModernErrorCode = (code: unknown): boolean =>
  code === MODERN_ERRORS.HEADER_MISMATCH ||
  code === MODERN_ERRORS.MISSING_CLIENT_CAPABILITY ||
  code === MODERN_ERRORS.UNSUPPORTED_PROTOCOL_VERSION;

/** The initialize-era versions the gateway emulates for legacy clients, newest first. */
export const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;

/** The only methods MRTR may answer with `input_required` (spec2026.md §1.5); also the ones `Mcp-Name` names. */
export const NAMED_METHODS: Readonly<Record<string, 'name' | 'uri'>> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
};

/** The client's side of a translated session: what it declared in `initialize`, and its log level. */
export interface ClientSide {
  /** The legacy version the gateway negotiated with the client. */
  protocolVersion: string;
  /** As the client declared them (legacy shape). */
  capabilities: Record<string, unknown>;
  clientInfo: unknown;
  /** From `logging/setLevel`; absent ⇒ the upstream sends no log notifications (spec2026.md §1.3). */
  logLevel?: string | undefined;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Legacy capabilities as the 2026 envelope reads them: an empty `elicitation` object meant form mode
 * (2025-11-25 client/elicitation), and experimental 2025 tasks are not wire-compatible with the 2026 Tasks
 * extension (SEP-2663), so they are never claimed.
 */
export function modernCapabilities(capabilities: Record<string, unknown>): Json {
  const out: Json = { ...capabilities };
  delete out.tasks;
  const elicitation = out.elicitation;
  if (isObject(elicitation) && elicitation.form === undefined && elicitation.url === undefined) {
    out.elicitation = { ...elicitation, form: {} };
  }
  return out;
}

/** `params` with the envelope merged into its `_meta` (the client's own keys, e.g. progressToken, stay). */
export function withEnvelope(params: unknown, client: ClientSide): Json {
  const base: Json = isObject(params) ? { ...params } : {};
  const meta: Json = isObject(base._meta) ? { ...base._meta } : {};
  meta[META.protocolVersion] = MODERN_VERSION;
  meta[META.clientCapabilities] = modernCapabilities(client.capabilities);
  if (client.clientInfo !== undefined) meta[META.clientInfo] = client.clientInfo;
  if (client.logLevel !== undefined) meta[META.logLevel] = client.logLevel;
  base._meta = meta;
  return base;
}

const SENTINEL_PREFIX = '=?base64?';
/** Visible ASCII with inner spaces: what a header carries as is (SH "Request Metadata"). */
const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** A value as an `Mcp-Name` / `Mcp-Param-*` header: as is when header-safe, else the base64 sentinel. */
export function headerValue(value: string): string {
  if (HEADER_SAFE.test(value) && !value.startsWith(SENTINEL_PREFIX)) return value;
  return `${SENTINEL_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

export interface ModernRequestOptions {
  id: string | number | undefined;
  method: string;
  params: unknown;
  client: ClientSide;
  /** `Mcp-Param-*` headers for a tools/call (./tool-headers.ts), lower-case names. */
  paramHeaders?: Readonly<Record<string, string>> | undefined;
  credentials: Readonly<Record<string, string>>;
  /**
   * `X-Request-Id` (issue 7 §6): the id of the client request this call serves, or one of the gateway's
   * own. The callers that send (./upstream-call.ts, ./listen.ts) always give one.
   */
  requestId?: string | undefined;
}

/** Headers and body of one 2026-07-28 POST. */
export function modernRequest(options: ModernRequestOptions): {
  headers: Record<string, string>;
  body: string;
} {
  const { method } = options;
  const params = withEnvelope(options.params, options.client);
  const extra: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'accept-encoding': 'identity',
    'mcp-protocol-version': MODERN_VERSION,
    'mcp-method': method,
    ...options.paramHeaders,
  };
  if (options.requestId !== undefined) extra['x-request-id'] = options.requestId;
  const nameKey = NAMED_METHODS[method];
  const name = nameKey === undefined ? undefined : params[nameKey];
  if (typeof name === 'string') extra['mcp-name'] = headerValue(name);
  const message: Json = { jsonrpc: '2.0', method, params };
  if (options.id !== undefined) message.id = options.id;
  return {
    headers: upstreamRequestHeaders(new Headers(), options.credentials, extra),
    body: JSON.stringify(message),
  };
}
