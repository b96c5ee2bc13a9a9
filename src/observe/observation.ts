/**
 * One request as the gateway observes it (issue 7 §4–§6): its id, its face, what the face read from the
 * client's message, and when it started. Pure.
 *
 * The observe middleware (./middleware.ts) creates one per request under `/brains/*` and sets it on the
 * Hono context; the faces, which parse each client message once anyway, fill in the method and the name
 * it targets (`noteMessage`). Metrics, the audit log and the request log all read this one object when
 * the exchange ends (./recorder.ts), so no face calls them itself.
 */
import { randomUUID } from 'node:crypto';

/** `mcp`: Streamable HTTP (`/brains/:brain/mcp`); `sse`: legacy HTTP+SSE (`/sse`, `/messages`). */
export type FaceName = 'mcp' | 'sse' | 'other';

export interface Observation {
  /** `X-Request-Id`: the client's when sane, else minted here; sent upstream and logged. */
  readonly requestId: string;
  readonly face: FaceName;
  /** `performance.now()` at the start. */
  readonly startedAt: number;
  /** JSON-RPC method of the message, once the face read it. */
  method: string | undefined;
  /** The tool, prompt or resource the message names (`params.name` / `params.uri`), bounded in length. */
  name: string | undefined;
  /** The message was a JSON-RPC response (a client's answer), not a request: it is not audited. */
  response: boolean;
  /** The face records each message itself (legacy `POST /messages` may carry a batch). */
  perMessage: boolean;
  /**
   * The status the exchange stands for when the HTTP one cannot say: a translated request answered 200
   * with its upstream's failure inside the body (src/era/translated-requests.ts).
   */
  failedWith: number | undefined;
}

/**
 * Accepted incoming ids: what request-id conventions produce (UUIDs, ULIDs, hex, base64, `Root=1-…`
 * trace ids), at most 128 characters. Anything else is replaced, never echoed into a log or upstream.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9._~:+/=@-]{1,128}$/;

/** An id of the gateway's own: for a client that sent none, and for upstream calls no client made. */
export const newRequestId = (): string => randomUUID();

export function requestIdFrom(header: string | undefined | null): string {
  return header && SANE_REQUEST_ID.test(header) ? header : newRequestId();
}

export function faceOfPath(path: string): FaceName {
  if (path.endsWith('/mcp')) return 'mcp';
  if (path.endsWith('/sse') || path.endsWith('/messages')) return 'sse';
  return 'other';
}

export function createObservation(requestId: string, face: FaceName, startedAt: number): Observation {
  return {
    requestId,
    face,
    startedAt,
    method: undefined,
    name: undefined,
    response: false,
    perMessage: false,
    failedWith: undefined,
  };
}

/** Longest method or name kept: they come from the client. */
const MAX_FIELD = 200;

/**
 * A client's string as the audit log can keep it: bounded, and without NUL, which Postgres text cannot
 * hold (SQLSTATE 22021) — one such entry would fail its whole audit batch, again on every retry.
 */
export function bounded(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const kept = value.length > MAX_FIELD ? value.slice(0, MAX_FIELD) : value;
  return kept.includes('\u0000') ? kept.replaceAll('\u0000', '\ufffd') : kept;
}

/**
 * What a request targets: the tool of `tools/call`, the prompt of `prompts/get`, the resource of
 * `resources/read` and `resources/(un)subscribe`, the template ref of `completion/complete`.
 */
export function targetName(method: string | undefined, params: unknown): string | undefined {
  if (method === undefined || typeof params !== 'object' || params === null) return undefined;
  const p = params as { name?: unknown; uri?: unknown; ref?: { name?: unknown; uri?: unknown } };
  switch (method) {
    case 'tools/call':
    case 'prompts/get':
      return bounded(p.name);
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return bounded(p.uri);
    case 'completion/complete':
      return bounded(p.ref?.name ?? p.ref?.uri);
    default:
      return undefined;
  }
}

/**
 * Called by a face once it has parsed the client's message.
 *
 * @example
 * const body = await readJsonRpcBody(request, max);
 * if (observation) noteMessage(observation, body.method, body.params);
 */
export function noteMessage(observation: Observation, method: string | undefined, params: unknown): void {
  if (method === undefined) {
    observation.response = true;
    return;
  }
  observation.method = bounded(method);
  observation.name = targetName(method, params);
}
