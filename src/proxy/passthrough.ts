/**
 * Streamable HTTP pass-through (issue 3): one client request → one upstream request to the brain, the
 * answer streamed back unchanged. Web-standard Request → Response; does I/O through the upstream client,
 * the session bindings and the store.
 *
 * What it adds on the way: the brain's credentials instead of the client's token, the session binding
 * check (a session id belongs to the token that created it), bounded body validation, failures as
 * JSON-RPC errors for the request id (502/504/413/400), SSE keep-alives, and cancellation both ways.
 * What it never does: buffer a stream, re-serialize a body, or change an upstream status or body.
 */
import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/authenticator.js';
import { storeUnavailableResponse } from '../auth/middleware.js';
import { GatewayError, type GatewayErrorCode, isGatewayError } from '../errors.js';
import type { GatewayDeps } from '../http/context.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../mcp/json-depth.js';
import { JSONRPC, type JsonRpcId, jsonRpcErrorResponse, sessionNotFoundResponse } from '../mcp/jsonrpc.js';
import { encodeSse, formatSseEvent } from '../mcp/sse.js';
import { noteMessage, type Observation } from '../observe/observation.js';
import type { SessionBindings } from '../sessions/passthrough-binding.js';
import type { LiveSession } from '../sessions/registry.js';
import type { ResolvedBrain } from '../store/brain-cache.js';
import { type JsonRpcBody, readJsonRpcBody } from './body.js';
import { toClientResponse } from './client-response.js';
import { upstreamRequestHeaders } from './headers.js';
import type { LiveStreams } from './live-streams.js';
import type { UpstreamRawResponse } from './upstream.js';

export interface PassthroughRequest {
  principal: Principal;
  brain: ResolvedBrain;
  /** Filled with the message's method and target (audit, metrics); its request id goes upstream. */
  observation?: Observation;
}

export interface Passthrough {
  handle(request: Request, target: PassthroughRequest): Promise<Response>;
}

export interface PassthroughOptions {
  deps: GatewayDeps;
  bindings: SessionBindings;
  streams: LiveStreams;
}

/** Session ids are visible ASCII (2025-11-25 transports §Session Management); anything else is unknown. */
const SESSION_ID = /^[\x21-\x7e]{1,512}$/;

/**
 * Upstreams must not compress: undici would inflate the body again for nothing, and a compressing
 * upstream may hold SSE events back to fill its window.
 */
const EXTRA_UPSTREAM_HEADERS = { 'accept-encoding': 'identity' } as const;

const WIRE_CODES: Partial<Record<GatewayErrorCode, number>> = {
  ERR_PARSE: JSONRPC.PARSE_ERROR,
  ERR_INVALID_MESSAGE: JSONRPC.INVALID_REQUEST,
};

/** Keep-alive sweeps (MCPGATE_KEEPALIVE_MS apart) between refreshes of an open GET stream's session. */
const TOUCH_EVERY_SWEEPS = 4;

/** The status a client that already hung up is "answered" with; nobody reads it. */
const CLIENT_GONE = 499;

function upstreamBrokeOff(cause: unknown): GatewayError {
  return new GatewayError('ERR_UPSTREAM_UNREACHABLE', 'Upstream unreachable', { cause, expose: true });
}

function errorResponse(err: unknown, id: JsonRpcId): Response {
  if (isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) return storeUnavailableResponse();
  if (!isGatewayError(err)) throw err;
  const code = WIRE_CODES[err.code] ?? JSONRPC.SERVER_ERROR;
  return jsonRpcErrorResponse(err.status, code, err.expose ? err.message : 'Internal error', { id });
}

function initializeVersion(body: JsonRpcBody | undefined): string | null {
  if (body?.method !== 'initialize') return null;
  const version = (body.params as { protocolVersion?: unknown } | undefined)?.protocolVersion;
  return typeof version === 'string' ? version : null;
}

/** A pass-through GET stream as a live session of this instance: pushes go between upstream events. */
function pushTarget(options: {
  sessionId: string | undefined;
  target: PassthroughRequest;
  end: (reason: string) => void;
  inject: (event: Uint8Array) => boolean;
  /** Called on the registry's keep-alive sweep: an open stream is use (idle expiry, src/sessions/expiry.ts). */
  stillOpen: () => void;
}): LiveSession {
  const { target, end, inject } = options;
  return {
    id: options.sessionId ?? `stream-${randomUUID()}`,
    kind: 'passthrough',
    org: target.brain.org,
    brain: target.brain.id,
    tokenId: target.principal.tokenId,
    push: (message) => inject(encodeSse(formatSseEvent({ event: 'message', data: message }))),
    // The relay writes its own keep-alives (./keepalive.ts).
    keepAlive: options.stillOpen,
    async close(reason) {
      end(reason);
    },
  };
}

export function createPassthrough(options: PassthroughOptions): Passthrough {
  const { deps, bindings, streams } = options;
  const { config, logger } = deps;

  /** Records a session id the upstream issued, before the client can see (and use) it. */
  async function bindIssued(sessionId: string, target: PassthroughRequest, body: JsonRpcBody | undefined) {
    await bindings.bind({
      brain: target.brain.id,
      org: target.brain.org,
      sessionId,
      tokenId: target.principal.tokenId,
      protocolVersion: initializeVersion(body),
      initParams: body?.method === 'initialize' ? body.params : null,
    });
  }

  return {
    async handle(request, target) {
      const { brain, principal } = target;
      const method = request.method;
      let body: JsonRpcBody | undefined;
      try {
        if (method === 'POST') body = await readJsonRpcBody(request, config.maxBodyBytes);
        if (body && target.observation) noteMessage(target.observation, body.method, body.params);
        // initialize params are stored with the session binding, by code that recurses (issue 7 §9).
        if (body?.method === 'initialize' && nestsDeeperThan(body.params, MAX_JSON_DEPTH)) {
          throw new GatewayError('ERR_INVALID_MESSAGE', 'Invalid Request: JSON nested too deeply');
        }
      } catch (err) {
        if (request.signal.aborted) return new Response(null, { status: CLIENT_GONE });
        return errorResponse(err, null);
      }
      const id = body?.id ?? null;
      if (method === 'GET' && deps.lifecycle.draining) {
        return jsonRpcErrorResponse(503, JSONRPC.SERVER_ERROR, 'Service unavailable: draining', {
          headers: { 'retry-after': '1' },
        });
      }

      const sessionId = request.headers.get('mcp-session-id') ?? undefined;
      if (sessionId !== undefined) {
        // Unknown, malformed, or another token's: one answer for all, and the upstream never sees it.
        if (!SESSION_ID.test(sessionId)) return sessionNotFoundResponse();
        try {
          const binding = await bindings.lookup(brain.id, sessionId);
          if (binding?.tokenId !== principal.tokenId) return sessionNotFoundResponse();
        } catch (err) {
          return errorResponse(err, id);
        }
        bindings.noteUse(brain.id, sessionId, request.headers.get('mcp-protocol-version') ?? undefined);
      }

      // The client's signal aborts the exchange until the answer starts; after that, a client gone
      // cancels the relayed body, which ends the upstream body (./keepalive.ts).
      const signal = request.signal;
      let upstream: UpstreamRawResponse;
      try {
        upstream = await deps.upstream.send(
          {
            url: brain.upstreamUrl,
            connectTimeoutMs: brain.connectTimeoutMs,
            firstByteTimeoutMs: brain.firstByteTimeoutMs,
          },
          {
            method,
            headers: upstreamRequestHeaders(
              request.headers,
              brain.upstreamHeaders,
              target.observation
                ? { ...EXTRA_UPSTREAM_HEADERS, 'x-request-id': target.observation.requestId }
                : EXTRA_UPSTREAM_HEADERS,
            ),
            body: body?.bytes ?? null,
            signal,
          },
        );
      } catch (err) {
        if (signal.aborted) return new Response(null, { status: CLIENT_GONE });
        if (isGatewayError(err)) logger.warn({ brain: brain.id, code: err.code }, 'upstream request failed');
        return errorResponse(err, id);
      }

      const issued = upstream.headers['mcp-session-id'];
      const ok = upstream.status >= 200 && upstream.status < 300;
      try {
        if (typeof issued === 'string' && ok && issued !== sessionId) await bindIssued(issued, target, body);
        if (sessionId !== undefined && (upstream.status === 404 || (method === 'DELETE' && ok))) {
          // DELETE ended it, or the upstream no longer knows it (a client must re-initialize either way).
          await bindings.unbind(brain.id, sessionId);
        }
        return await toClientResponse(upstream, {
          keepAliveMs: config.keepAliveMs,
          onStream: (end, inject) => {
            const unlist = streams.add({ tokenId: principal.tokenId, brain: brain.id, abort: end });
            if (method !== 'GET') return unlist;
            // The standalone stream is where a server's unprompted messages go: admin notify too (issue 4 §7).
            let sweeps = 0;
            const live = pushTarget({
              sessionId,
              target,
              end,
              inject,
              // An open stream is use of its session: lastSeenAt refreshed every TOUCH_EVERY_SWEEPS
              // keep-alive sweeps (a minute by default), from the store, cached binding or not.
              stillOpen: () => {
                if (sessionId === undefined || ++sweeps % TOUCH_EVERY_SWEEPS !== 0) return;
                deps.store
                  .touchSession(brain.id, sessionId)
                  .catch((err) => logger.debug({ brain: brain.id, code: err?.code }, 'session touch failed'));
              },
            });
            deps.sessions.add(live);
            return () => {
              unlist();
              deps.sessions.remove(live);
            };
          },
          onStreamEnd: (how, err) => {
            if (how === 'error') logger.debug({ brain: brain.id, err: String(err) }, 'upstream stream ended');
          },
        });
      } catch (err) {
        upstream.body.destroy();
        if (signal.aborted) return new Response(null, { status: CLIENT_GONE });
        // Reading a collected body failed: the upstream broke off mid-answer.
        return errorResponse(isGatewayError(err) ? err : upstreamBrokeOff(err), id);
      }
    },
  };
}
