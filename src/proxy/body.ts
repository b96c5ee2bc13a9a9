/**
 * Reads a client's POST body once, bounded, and checks it is one JSON-RPC message. Reads the request;
 * otherwise pure.
 *
 * The bytes are kept exactly as received so the pass-through forwards them byte-for-byte (issue 3 §1);
 * the parsed form is only looked at, never re-serialized. One message per POST is the rule since
 * 2025-06-18 (protocol.md §2.1) and the only shape in 2026-07-28 (spec2026.md §1.1), so a batch array is
 * refused here rather than half-audited.
 */
import { GatewayError } from '../errors.js';
import type { JsonRpcId } from '../mcp/jsonrpc.js';

export interface JsonRpcBody {
  /** The body exactly as the client sent it. */
  bytes: Uint8Array;
  /** The request id (null for notifications and responses): error answers carry it. */
  id: JsonRpcId;
  /** The method of a request or notification; undefined for a response. */
  method: string | undefined;
  /** `params` of a request or notification (initialize params are recorded with the session). */
  params: unknown;
  /** The whole message as parsed, for the few callers that look further (a client's answer's id). */
  message: Record<string, unknown>;
}

type Parsed = { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown; result?: unknown };

export function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError(
    'ERR_PAYLOAD_TOO_LARGE',
    `Payload Too Large: body must not exceed ${maxBytes} bytes`,
  );
}

/** Reads the stream to its end, giving up (and cancelling it) as soon as it passes `maxBytes`. */
async function readBounded(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** The whole body, refused past `maxBytes` (declared or counted) before it is all read. */
export async function readBodyBytes(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared)) {
    if (Number(declared) > maxBytes) throw tooLarge(maxBytes);
    // The HTTP parser holds the body to the declared length, so the fast whole-body read is bounded too.
    return new Uint8Array(await request.arrayBuffer());
  }
  if (!request.body) return new Uint8Array(0);
  return readBounded(request.body, maxBytes);
}

/** A JSON-RPC id MCP accepts on a request: a string or a finite number. */
export function isId(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * @example
 * const { bytes, id, method } = await readJsonRpcBody(request, config.maxBodyBytes);
 * // ERR_PAYLOAD_TOO_LARGE (413), ERR_PARSE (400, -32700) or ERR_INVALID_MESSAGE (400, -32600) otherwise
 */
export async function readJsonRpcBody(request: Request, maxBytes: number): Promise<JsonRpcBody> {
  const bytes = await readBodyBytes(request, maxBytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new GatewayError('ERR_PARSE', 'Parse error: Invalid JSON');
  }
  if (Array.isArray(parsed)) {
    throw new GatewayError('ERR_INVALID_MESSAGE', 'Invalid Request: send one JSON-RPC message per POST');
  }
  const message = parsed as Parsed | null;
  if (typeof message !== 'object' || message === null || message.jsonrpc !== '2.0') {
    throw new GatewayError('ERR_INVALID_MESSAGE', 'Invalid Request: not a JSON-RPC 2.0 message');
  }
  if (typeof message.method === 'string') {
    // A request's id is a string or a number (MCP forbids null); a notification has none at all.
    if (message.id !== undefined && !isId(message.id)) {
      throw new GatewayError('ERR_INVALID_MESSAGE', 'Invalid Request: id must be a string or a number');
    }
    return {
      bytes,
      id: message.id ?? null,
      method: message.method,
      params: message.params,
      message: message as Record<string, unknown>,
    };
  }
  if ((isId(message.id) || message.id === null) && ('result' in message || 'error' in message)) {
    return {
      bytes,
      id: null,
      method: undefined,
      params: undefined,
      message: message as Record<string, unknown>,
    };
  }
  throw new GatewayError('ERR_INVALID_MESSAGE', 'Invalid Request: not a JSON-RPC 2.0 message');
}
