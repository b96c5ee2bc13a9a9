/**
 * One legacy client request carried to a 2026-07-28 upstream and back (issue 6 §2), the same for both
 * faces. Pure protocol logic over injected effects: the upstream call, and `io` for what goes to the
 * client (request-scoped notifications, real server→client requests).
 *
 * MRTR (spec2026.md §1.5): an `input_required` result becomes one real `elicitation/create` /
 * `sampling/createMessage` / `roots/list` request to the client per input request; once every answer is
 * in, the original request is sent again with a new id, `inputResponses`, and the `requestState`
 * exactly as received. Cancelling (`signal`) stops at once: the upstream exchange is closed and no retry
 * follows; `io.ask` withdraws what it asked.
 */
import { randomUUID } from 'node:crypto';
import { JSONRPC } from '../mcp/jsonrpc.js';
import { legacyError, legacyResult, untranslatable } from './legacy-shape.js';
import type { ToolCatalog } from './tool-headers.js';
import { paramHeaders } from './tool-headers.js';
import { callModern, type JsonRpcError, type ModernUpstream } from './upstream-call.js';
import { type ClientSide, isModernErrorCode, MODERN_ERRORS, NAMED_METHODS } from './wire.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface TranslateIo {
  /** A notification tied to the request (progress, log), for the client. */
  notify(message: Json): void;
  /** Sends a real request to the client; resolves with its result, rejects with its JSON-RPC error. */
  ask(method: string, params: unknown, signal: AbortSignal): Promise<Json>;
}

export interface TranslateContext {
  upstream: ModernUpstream;
  catalog: ToolCatalog;
  client: ClientSide;
  signal: AbortSignal;
  /** `X-Request-Id` of the client request being translated, sent with every upstream call it makes. */
  requestId?: string | undefined;
  /** The upstream answered like an initialize-era server: its era should be probed again. */
  onEraMismatch?(): void;
}

/**
 * `upstreamStatus`: the HTTP status the upstream answered an error with, for the request's observation
 * (issue 7 §4-§5); absent when the error is the gateway's own (refused, untranslatable, the client's).
 */
export type TranslateOutcome = { result: Json } | { error: JsonRpcError; upstreamStatus?: number };

/**
 * What an upstream's error answer stands for in the request's audit entry and metrics (issue 7 §4-§5):
 * a 4xx as is (a 2026-07-28 server answers an unknown method 404 and bad params 400: the request was
 * refused), anything else that is not a success 502, as the 2025 leg records it
 * (src/bridge/client-to-upstream.ts). An error in a 2xx is the upstream's answer, not a failure.
 */
export function observedStatus(upstreamStatus: number | undefined): number | undefined {
  if (upstreamStatus === undefined || (upstreamStatus >= 200 && upstreamStatus < 300)) return undefined;
  return upstreamStatus >= 400 && upstreamStatus < 500 ? upstreamStatus : 502;
}

/**
 * A 2026-07-28 server refuses with 404 only for an unknown method (-32601) and with 400 only in its own
 * terms (-32602 for the envelope, -32020…-32022); anything else there (a "Server not initialized", a
 * -32001 "Session not found", a body that is not JSON-RPC) sounds like an initialize-era server.
 */
function answersLikeLegacy(status: number, code: number): boolean {
  if (![400, 404, 405].includes(status)) return false;
  return code !== JSONRPC.METHOD_NOT_FOUND && code !== JSONRPC.INVALID_PARAMS && !isModernErrorCode(code);
}

/** Bounds a server that keeps asking: every round costs the client a human or an LLM call. */
const MAX_ROUNDS = 8;

/** The 2025-11-25 experimental tasks have no 2026 counterpart on the wire (SEP-2663). */
function refuseTasks(method: string, params: unknown): JsonRpcError | undefined {
  if (method.startsWith('tasks/')) {
    return untranslatable(
      `${method}: 2025-11-25 experimental tasks cannot be translated to this 2026-07-28 upstream`,
      JSONRPC.METHOD_NOT_FOUND,
    );
  }
  if (isObject(params) && params.task !== undefined) {
    return untranslatable(
      'Task-augmented requests (2025-11-25 experimental tasks) cannot be translated to this 2026-07-28 upstream; send the request without "task"',
      JSONRPC.INVALID_PARAMS,
    );
  }
  return undefined;
}

/** Why the client cannot be asked this (it did not declare the capability), or undefined. */
function missingCapability(method: string, params: Json, client: ClientSide): string | undefined {
  const caps = client.capabilities;
  if (method === 'elicitation/create') {
    if (!isObject(caps.elicitation)) return 'elicitation';
    if (params.mode === 'url' && !isObject(caps.elicitation.url)) return 'elicitation.url';
    return undefined;
  }
  if (method === 'sampling/createMessage') return isObject(caps.sampling) ? undefined : 'sampling';
  if (method === 'roots/list') return isObject(caps.roots) ? undefined : 'roots';
  return `${method} (not a request the 2026-07-28 revision embeds)`;
}

/** An embedded request's params as the client's version has them. */
function legacyAskParams(method: string, params: Json, client: ClientSide): Json {
  if (method !== 'elicitation/create') return params;
  // 2025-11-25 URL mode carries an elicitationId; 2026 has none (correlation lives in requestState).
  if (params.mode === 'url') return { ...params, elicitationId: randomUUID() };
  // Form mode was the only mode before 2025-11-25, which added `mode`.
  if (client.protocolVersion < '2025-11-25') {
    const { mode: _mode, ...rest } = params;
    return rest;
  }
  return params;
}

type Answers = { ok: true; answers: Json } | { ok: false; error: JsonRpcError };

async function answerAll(requests: Json, ctx: TranslateContext, io: TranslateIo): Promise<Answers> {
  const entries = Object.entries(requests);
  for (const [, request] of entries) {
    const method = isObject(request) && typeof request.method === 'string' ? request.method : '?';
    const missing = missingCapability(
      method,
      isObject(request) ? ((request.params as Json) ?? {}) : {},
      ctx.client,
    );
    if (missing) {
      const error = untranslatable(
        `The upstream asks the client for ${method}, but this client did not declare the "${missing}" capability in initialize`,
      );
      return { ok: false, error };
    }
  }
  const answers = await Promise.all(
    entries.map(async ([key, request]) => {
      const { method, params } = request as { method: string; params?: Json };
      return [
        key,
        await io.ask(method, legacyAskParams(method, params ?? {}, ctx.client), ctx.signal),
      ] as const;
    }),
  );
  return { ok: true, answers: Object.fromEntries(answers) };
}

/** Progress must keep increasing for the client; a re-run MRTR round may start over (spec2026.md §3(b)5). */
function progressFilter(io: TranslateIo): (message: Json) => void {
  const last = new Map<unknown, number>();
  return (message) => {
    if (message.method === 'notifications/progress' && isObject(message.params)) {
      const { progressToken, progress } = message.params;
      if (typeof progress === 'number') {
        const before = last.get(progressToken);
        if (before !== undefined && progress <= before) return;
        last.set(progressToken, progress);
      }
    }
    io.notify(message);
  };
}

/**
 * @example
 * const outcome = await translateRequest('tools/call', params, ctx, io);
 * // undefined when cancelled; else { result } or { error } in the client's version's shape
 */
export async function translateRequest(
  method: string,
  params: unknown,
  ctx: TranslateContext,
  io: TranslateIo,
): Promise<TranslateOutcome | undefined> {
  const refused = refuseTasks(method, params);
  if (refused) return { error: refused };
  const base: Json = isObject(params) ? params : {};
  const tool = method === 'tools/call' && typeof base.name === 'string' ? base.name : undefined;
  const onNotification = progressFilter(io);
  let round: Json = base;
  let headersRetried = false;

  try {
    for (let rounds = 0; rounds <= MAX_ROUNDS; ) {
      const declarations = tool === undefined ? [] : await ctx.catalog.declarationsFor(tool);
      const reply = await callModern(ctx.upstream, {
        method,
        params: round,
        client: ctx.client,
        paramHeaders: tool === undefined ? undefined : paramHeaders(declarations, base.arguments),
        signal: ctx.signal,
        requestId: ctx.requestId,
        onNotification,
      });
      if (ctx.signal.aborted) return undefined;
      if (reply.error) {
        const mismatch = reply.error.code === MODERN_ERRORS.HEADER_MISMATCH;
        if (mismatch && tool !== undefined && !headersRetried) {
          // The tool's annotations changed since the catalog listed them: list again, retry once.
          headersRetried = true;
          ctx.catalog.invalidate();
          continue;
        }
        if (answersLikeLegacy(reply.status, reply.error.code)) ctx.onEraMismatch?.();
        return { error: legacyError(method, reply.error), upstreamStatus: reply.status };
      }
      const result = reply.result;
      if (method === 'tools/list') ctx.catalog.absorb(result.tools);
      if (result.resultType !== 'input_required') return { result: legacyResult(result) };
      if (!(method in NAMED_METHODS)) {
        return {
          error: untranslatable(
            `The upstream answered ${method} with input_required, which only tools/call, prompts/get and resources/read may use`,
            JSONRPC.INTERNAL_ERROR,
          ),
        };
      }
      rounds++;
      if (rounds > MAX_ROUNDS) break;
      const requests = isObject(result.inputRequests) ? result.inputRequests : {};
      const answered = await answerAll(requests, ctx, io);
      if (!answered.ok) return { error: answered.error };
      // Responses are per round, never accumulated; requestState goes back byte for byte, or not at all.
      const { inputResponses: _r, requestState: _s, ...rest } = base;
      round = { ...rest, inputResponses: answered.answers };
      if (typeof result.requestState === 'string') round.requestState = result.requestState;
    }
    return {
      error: untranslatable(
        `The upstream asked for input more than ${MAX_ROUNDS} times; giving up`,
        JSONRPC.INTERNAL_ERROR,
      ),
    };
  } catch (err) {
    if (ctx.signal.aborted) return undefined;
    if (isAskError(err)) return { error: err.error };
    throw err;
  }
}

/** What `io.ask` rejects with when the client answered its request with an error. */
export class AskError extends Error {
  constructor(readonly error: JsonRpcError) {
    super(error.message);
    this.name = 'AskError';
  }
}

const isAskError = (err: unknown): err is AskError => err instanceof AskError;
