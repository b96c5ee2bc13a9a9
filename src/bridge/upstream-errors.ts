/**
 * Reading a Streamable HTTP upstream's failure answers: is the session gone, and which JSON-RPC error
 * should the client see. Pure.
 */
import { JSONRPC, type JsonRpcErrorBody } from '../mcp/jsonrpc.js';

/**
 * The spec says an unknown session gets 404 (2025-11-25 §Session Management). The SDK's example servers
 * and server-everything answer 400 with one of these texts instead (protocol.md §2.2) and no code tells
 * them apart, so the texts are matched here and nowhere else.
 */
const LOST_SESSION_400 = /No valid session ID|Server not initialized|Mcp-Session-Id header is required/i;

export function isSessionLost(status: number, body: string): boolean {
  return status === 404 || (status === 400 && LOST_SESSION_400.test(body));
}

/** The upstream's own JSON-RPC error when it sent one (kept as is), else one naming the HTTP status. */
export function upstreamErrorOf(status: number, body: string): JsonRpcErrorBody['error'] {
  try {
    const parsed = JSON.parse(body) as Partial<JsonRpcErrorBody> | null;
    if (parsed?.error && typeof parsed.error.code === 'number' && typeof parsed.error.message === 'string') {
      return parsed.error;
    }
  } catch {}
  return { code: JSONRPC.SERVER_ERROR, message: `Upstream error: HTTP ${status}` };
}
