/**
 * Era translation on the Streamable HTTP face (issue 6 §3): a 2025-era client (it sends `initialize`) of
 * a 2026-only upstream gets a session the gateway issues and holds in the Store, so any instance serves
 * it, and every request translated as on the legacy face (./translate.ts). Everything else goes to the
 * pass-through untouched: 2026 clients (they send `Mcp-Method`), 2025 brains, upstream-issued sessions.
 * Web-standard Request → Response; I/O through the Store, the bus and the upstream client.
 *
 * On an `auto` brain whose upstream speaks 2026, a 2025 `initialize` is first passed through: an upstream
 * that also serves 2025 (a dual-era server) keeps its own clients. Only a refusal in 2026 terms (`-32022`)
 * makes the gateway translate, and it remembers that for the brain.
 */
import type { Principal } from '../auth/authenticator.js';
import { storeUnavailableResponse } from '../auth/middleware.js';
import { isGatewayError } from '../errors.js';
import type { GatewayDeps } from '../http/context.js';
import { JSONRPC, type JsonRpcId, jsonRpcErrorResponse, sessionNotFoundResponse } from '../mcp/jsonrpc.js';
import { noteMessage, type Observation } from '../observe/observation.js';
import { type JsonRpcBody, readJsonRpcBody } from '../proxy/body.js';
import type { ResolvedBrain } from '../store/brain-cache.js';
import { openFeedStream } from './feed-stream.js';
import { initializeResult } from './legacy-shape.js';
import { sessionRelay } from './relay.js';
import { eraServices } from './services.js';
import { createTranslatedRequests } from './translated-requests.js';
import {
  createTranslatedSessions,
  TRANSLATED_PREFIX,
  type TranslatedSession,
} from './translated-sessions.js';
import { MODERN_ERRORS } from './wire.js';

export interface TranslatingTarget {
  principal: Principal;
  brain: ResolvedBrain;
  /** The request's observation (issue 7 §4-§5): translated requests are audited and counted too. */
  observation?: Observation;
}

export interface TranslatingFace {
  /**
   * Whether the request may be the translator's: a session id it issued, or a sessionless POST without
   * `Mcp-Method` (a 2025 client opening) on a brain not pinned to 2025. Synchronous and cheap, so the
   * pass-through's hot path pays nothing else.
   */
  claims(request: Request, brain: ResolvedBrain): boolean;
  /** Serves the request, or hands it (or an equivalent one, if its body was read) to `passthrough`. */
  handle(
    request: Request,
    target: TranslatingTarget,
    passthrough: (request: Request) => Promise<Response>,
  ): Promise<Response>;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

function failure(err: unknown, id: JsonRpcId): Response {
  if (isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) return storeUnavailableResponse();
  if (!isGatewayError(err)) throw err;
  const code =
    err.code === 'ERR_PARSE'
      ? JSONRPC.PARSE_ERROR
      : err.code === 'ERR_INVALID_MESSAGE'
        ? JSONRPC.INVALID_REQUEST
        : JSONRPC.SERVER_ERROR;
  return jsonRpcErrorResponse(err.status, code, err.expose ? err.message : 'Internal error', { id });
}

/** The upstream refused a 2025 `initialize` in 2026 terms: it has no 2025 leg (spec2026.md §1.7). */
async function refusedAsModern(res: Response): Promise<boolean> {
  if (res.status !== 400) return false;
  try {
    const body = (await res.clone().json()) as { error?: { code?: unknown } };
    return body.error?.code === MODERN_ERRORS.UNSUPPORTED_PROTOCOL_VERSION;
  } catch {
    return false;
  }
}

export function createTranslatingFace(deps: GatewayDeps): TranslatingFace {
  const { config, logger } = deps;
  const era = eraServices(deps);
  const sessions = createTranslatedSessions({
    store: deps.store,
    bus: deps.bus,
    instanceId: deps.instanceId,
  });
  const relay = sessionRelay(deps);
  const requests = createTranslatedRequests({ deps, era, sessions, relay });

  async function initialize(body: JsonRpcBody, target: TranslatingTarget): Promise<Response> {
    const { brain, principal } = target;
    const info = await era.probe.eraOf(brain);
    if (!info.discover) {
      return jsonRpcErrorResponse(502, JSONRPC.SERVER_ERROR, 'Upstream did not answer server/discover', {
        id: body.id,
      });
    }
    const params = isObject(body.params) ? body.params : {};
    const answer = initializeResult(info.discover, params.protocolVersion);
    const session = await sessions.create({
      brain: brain.id,
      org: brain.org,
      tokenId: principal.tokenId,
      protocolVersion: answer.protocolVersion as string,
      initialize: params,
    });
    logger.info({ brain: brain.id, protocolVersion: answer.protocolVersion }, 'translated session opened');
    return json(200, { jsonrpc: '2.0', id: body.id, result: answer }, { 'mcp-session-id': session.id });
  }

  /**
   * A 2025 opening on a brain probed as 2025: straight through, body unread. If the upstream now refuses
   * it in 2026 terms, it changed era since the probe: it is probed again (the client's retry translates).
   */
  async function knownLegacy(
    request: Request,
    brain: ResolvedBrain,
    passthrough: (r: Request) => Promise<Response>,
  ): Promise<Response> {
    const res = await passthrough(request);
    if (await refusedAsModern(res)) {
      era.probe.forget(brain.id);
      logger.info(
        { brain: brain.id },
        'upstream refused a 2025 initialize in 2026-07-28 terms; probing it again',
      );
    }
    return res;
  }

  /**
   * A sessionless POST without `Mcp-Method` on a brain not known to be 2025: a 2025 client's opening.
   * Only an `initialize` makes the gateway probe the upstream; anything else passes on as it came.
   */
  async function opening(
    request: Request,
    target: TranslatingTarget,
    passthrough: (r: Request) => Promise<Response>,
  ) {
    const { brain } = target;
    let body: JsonRpcBody;
    try {
      body = await readJsonRpcBody(request, config.maxBodyBytes);
    } catch (err) {
      if (request.signal.aborted) return new Response(null, { status: 499 });
      return failure(err, null);
    }
    if (target.observation) noteMessage(target.observation, body.method, body.params);
    const again = () =>
      passthrough(
        new Request(request.url, {
          method: 'POST',
          headers: request.headers,
          body: body.bytes,
          signal: request.signal,
        }),
      );
    if (body.method !== 'initialize') return again();
    const info = await era.probe.eraOf(brain).catch(() => undefined);
    if (info?.era !== '2026' && brain.era !== '2026') return again();
    if (!era.probe.legacyRejected(brain)) {
      const res = await again();
      if (!(await refusedAsModern(res))) return res;
      await res.body?.cancel();
      era.probe.markLegacyRejected(brain);
      logger.info({ brain: brain.id }, 'upstream serves 2026-07-28 only: translating 2025 clients');
    }
    try {
      return await initialize(body, target);
    } catch (err) {
      return failure(err, body.id);
    }
  }

  async function serve(
    request: Request,
    session: TranslatedSession,
    target: TranslatingTarget,
  ): Promise<Response> {
    const { brain } = target;
    if (request.method === 'DELETE') {
      await sessions.remove(brain.id, session.id);
      relay.ended(brain.id, session.id);
      return new Response(null, { status: 200 });
    }
    if (request.method === 'GET') {
      if (deps.lifecycle.draining) {
        return jsonRpcErrorResponse(503, JSONRPC.SERVER_ERROR, 'Service unavailable: draining', {
          headers: { 'retry-after': '1' },
        });
      }
      const info = await era.probe.eraOf(brain);
      return openFeedStream({
        session,
        upstream: era.upstreamFor(brain),
        catalog: era.catalogFor(brain),
        capabilities: info.discover?.capabilities ?? {},
        reload: () => sessions.lookup(brain.id, session.id, true),
        register: (feed) => relay.addFeed(brain.id, session.id, feed),
        keepAliveMs: config.keepAliveMs,
        logger: logger.child({ brain: brain.id }),
      });
    }
    return requests.post(request, session, brain, target.observation);
  }

  const face: TranslatingFace = {
    claims(request, brain) {
      const sessionId = request.headers.get('mcp-session-id');
      if (sessionId !== null) return sessionId.startsWith(TRANSLATED_PREFIX);
      return request.method === 'POST' && brain.era !== '2025' && !request.headers.has('mcp-method');
    },
    async handle(request, target, passthrough) {
      const { brain, principal } = target;
      const sessionId = request.headers.get('mcp-session-id');
      try {
        if (sessionId !== null) {
          if (!sessionId.startsWith(TRANSLATED_PREFIX)) return passthrough(request);
          const session = await sessions.lookup(brain.id, sessionId);
          // Not ours after all (an upstream-issued id that happens to look like one): the pass-through's.
          if (!session) return passthrough(request);
          // Someone else's looks like unknown: no oracle for live session ids (DESIGN.md §3).
          if (session.tokenId !== principal.tokenId) return sessionNotFoundResponse();
          return await serve(request, session, target);
        }
        if (!face.claims(request, brain)) return passthrough(request);
        if (era.probe.known(brain) === '2025') return await knownLegacy(request, brain, passthrough);
        return await opening(request, target, passthrough);
      } catch (err) {
        if (request.signal.aborted) return new Response(null, { status: 499 });
        return failure(err, null);
      }
    },
  };
  return face;
}
