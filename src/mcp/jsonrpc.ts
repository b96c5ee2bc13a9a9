/**
 * JSON-RPC 2.0 wire constants and the error-body builder used by every client-facing route. Pure.
 *
 * Codes follow JSON-RPC 2.0 §5.1 and the MCP SDK's transport errors (research/protocol.md §2.2):
 * transport-level failures use SERVER_ERROR (-32000) and an unknown session SESSION_NOT_FOUND (-32001).
 */

export const JSONRPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  SERVER_ERROR: -32000,
  SESSION_NOT_FOUND: -32001,
  /** MCP: resource not found (2025-era); 2026-07-28 uses INVALID_PARAMS instead. */
  RESOURCE_NOT_FOUND: -32002,
} as const;

export type JsonRpcId = string | number | null;

export interface JsonRpcErrorBody {
  jsonrpc: '2.0';
  error: { code: number; message: string; data?: unknown };
  id: JsonRpcId;
}

export function jsonRpcError(
  code: number,
  message: string,
  id: JsonRpcId = null,
  data?: unknown,
): JsonRpcErrorBody {
  const error: JsonRpcErrorBody['error'] = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', error, id };
}

/** A response for an HTTP face: JSON-RPC error body with the given status. */
export function jsonRpcErrorResponse(
  status: number,
  code: number,
  message: string,
  options: { id?: JsonRpcId; headers?: Record<string, string> } = {},
): Response {
  return new Response(JSON.stringify(jsonRpcError(code, message, options.id ?? null)), {
    status,
    headers: { 'content-type': 'application/json', ...options.headers },
  });
}

/** Session-not-found, byte-for-byte what the SDK's Streamable HTTP transport answers (protocol.md §2.2). */
export function sessionNotFoundResponse(): Response {
  return jsonRpcErrorResponse(404, JSONRPC.SESSION_NOT_FOUND, 'Session not found');
}
