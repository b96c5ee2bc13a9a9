/**
 * Modern answers in the shape a legacy (2024-11-05 … 2025-11-25) client expects: the `initialize` result
 * the gateway gives in the upstream's name, results without 2026-only fields, and error codes the
 * client's version knows (issue 6 §2). Pure.
 */
import { JSONRPC } from '../mcp/jsonrpc.js';
import type { DiscoverResult } from './probe.js';
import type { JsonRpcError } from './upstream-call.js';
import { LEGACY_VERSIONS, META, MODERN_ERRORS } from './wire.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The client's requested version when the gateway can emulate it, else the newest legacy one. */
export function negotiateLegacyVersion(requested: unknown): string {
  return typeof requested === 'string' && (LEGACY_VERSIONS as readonly string[]).includes(requested)
    ? requested
    : LEGACY_VERSIONS[0];
}

/**
 * The `initialize` result for a legacy client, from the upstream's `server/discover` (spec2026.md §3(b)):
 * its capabilities (without `extensions`, and without `tasks`, which do not translate), its serverInfo
 * from the result `_meta`, its instructions.
 */
export function initializeResult(discover: DiscoverResult, requestedVersion: unknown): Json {
  const capabilities: Json = { ...discover.capabilities };
  delete capabilities.extensions;
  delete capabilities.tasks;
  const serverInfo = discover._meta?.[META.serverInfo];
  const result: Json = {
    protocolVersion: negotiateLegacyVersion(requestedVersion),
    capabilities,
    serverInfo: isObject(serverInfo) ? serverInfo : { name: 'mcpgate-upstream', version: 'unknown' },
  };
  if (typeof discover.instructions === 'string') result.instructions = discover.instructions;
  return result;
}

/** A result without the 2026-only fields (`resultType`, caching hints, the serverInfo stamp). */
export function legacyResult(result: Json): Json {
  const out: Json = { ...result };
  delete out.resultType;
  delete out.ttlMs;
  delete out.cacheScope;
  if (isObject(out._meta) && META.serverInfo in out._meta) {
    const meta: Json = { ...out._meta };
    delete meta[META.serverInfo];
    if (Object.keys(meta).length === 0) delete out._meta;
    else out._meta = meta;
  }
  return out;
}

const capabilityNames = (data: unknown) => {
  const required = isObject(data) ? data.requiredCapabilities : undefined;
  return isObject(required) ? Object.keys(required).join(', ') : 'unknown';
};

/**
 * An upstream error as the legacy client should see it:
 * - resource not found is `-32602` in 2026-07-28 and `-32002` before it (server/resources.mdx);
 * - `-32020/-32021/-32022` exist only in 2026-07-28: they become codes every client knows, with a
 *   message naming the cause and the upstream's code kept in `data.upstreamCode`.
 */
export function legacyError(method: string, error: JsonRpcError): JsonRpcError {
  const keep = (code: number, message: string): JsonRpcError => ({
    code,
    message,
    data: { upstreamCode: error.code, ...(isObject(error.data) ? error.data : {}) },
  });
  switch (error.code) {
    case JSONRPC.INVALID_PARAMS:
      if (method === 'resources/read' && /not found/i.test(error.message)) {
        return { ...error, code: JSONRPC.RESOURCE_NOT_FOUND };
      }
      return error;
    case MODERN_ERRORS.MISSING_CLIENT_CAPABILITY:
      return keep(
        JSONRPC.INVALID_REQUEST,
        `The upstream needs client capabilities this client did not declare in initialize (${capabilityNames(error.data)}): ${error.message}`,
      );
    case MODERN_ERRORS.HEADER_MISMATCH:
      return keep(
        JSONRPC.INTERNAL_ERROR,
        `The upstream refused the gateway's 2026-07-28 request headers: ${error.message}`,
      );
    case MODERN_ERRORS.UNSUPPORTED_PROTOCOL_VERSION:
      return keep(
        JSONRPC.INTERNAL_ERROR,
        `The upstream does not speak protocol version 2026-07-28, the only one the gateway translates to: ${error.message}`,
      );
    default:
      return error;
  }
}

/** A failure of the translation itself, named for the client (never an internal detail). */
export function untranslatable(message: string, code: number = JSONRPC.INVALID_REQUEST): JsonRpcError {
  return { code, message };
}
