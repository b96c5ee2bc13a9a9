/**
 * Reads a legacy client's `POST /messages` body once, bounded, and splits it into JSON-RPC messages.
 * Reads the request; otherwise pure.
 *
 * 2024-11-05 allows JSON-RPC batches; Streamable HTTP upstreams since 2025-06-18 do not (protocol.md
 * §2.1), so a batch becomes one upstream POST per message and each reply reaches the client on its own.
 * A single message keeps the client's bytes for the upstream POST: parsed once to route it, never
 * re-serialized (the text as received is what goes upstream).
 */
import { GatewayError } from '../errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../mcp/json-depth.js';
import { JSONRPC, type JsonRpcId } from '../mcp/jsonrpc.js';
import type { MessageObservation } from '../observe/observe.js';
import { isId, readBodyBytes } from '../proxy/body.js';

export type ClientMessageKind = 'request' | 'notification' | 'response';

export interface ClientMessage {
  kind: ClientMessageKind;
  /** Request id, or the id a response answers; null for notifications. */
  id: JsonRpcId;
  method: string | undefined;
  params: unknown;
  /** What to POST upstream. */
  body: string;
  /** Set by the face for audit and metrics (src/limits/legacy-messages.ts); its request id goes upstream. */
  observed?: MessageObservation;
}

type Raw = { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };

const BODY_ERROR_CODES: Partial<Record<string, number>> = {
  ERR_PARSE: JSONRPC.PARSE_ERROR,
  ERR_INVALID_MESSAGE: JSONRPC.INVALID_REQUEST,
  ERR_PAYLOAD_TOO_LARGE: JSONRPC.SERVER_ERROR,
};

/** A body the client got wrong (400, 413): the error and its JSON-RPC code; undefined for any other error. */
export function bodyError(err: unknown): { error: GatewayError; code: number } | undefined {
  const code = err instanceof GatewayError ? BODY_ERROR_CODES[err.code] : undefined;
  return code === undefined ? undefined : { error: err as GatewayError, code };
}

const invalid = () => new GatewayError('ERR_INVALID_MESSAGE', 'Invalid Request: not a JSON-RPC 2.0 message');

function classify(value: unknown, body: string): ClientMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid();
  const m = value as Raw;
  if (m.jsonrpc !== '2.0') throw invalid();
  if (typeof m.method === 'string') {
    if (isId(m.id)) return { kind: 'request', id: m.id, method: m.method, params: m.params, body };
    if (m.id === undefined)
      return { kind: 'notification', id: null, method: m.method, params: m.params, body };
    throw invalid();
  }
  if ((isId(m.id) || m.id === null) && ('result' in m || 'error' in m)) {
    return { kind: 'response', id: m.id, method: undefined, params: undefined, body };
  }
  throw invalid();
}

/**
 * @example
 * const messages = await readClientMessages(c.req.raw, config.maxBodyBytes);
 * // ERR_PAYLOAD_TOO_LARGE (413), ERR_PARSE (400) or ERR_INVALID_MESSAGE (400) otherwise
 */
export async function readClientMessages(request: Request, maxBytes: number): Promise<ClientMessage[]> {
  const bytes = await readBodyBytes(request, maxBytes);
  return parseClientMessages(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

/** The messages of a body already read (and bounded) by the caller. */
export function parseClientMessages(text: string): ClientMessage[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GatewayError('ERR_PARSE', 'Parse error: Invalid JSON');
  }
  if (!Array.isArray(parsed)) return [classify(parsed, text)];
  if (parsed.length === 0) throw invalid();
  // Each item is serialized again for its own upstream POST: JSON.stringify recurses (issue 7 §9).
  if (nestsDeeperThan(parsed, MAX_JSON_DEPTH)) {
    throw new GatewayError('ERR_INVALID_MESSAGE', 'Invalid Request: JSON nested too deeply');
  }
  return parsed.map((item) => classify(item, JSON.stringify(item)));
}
