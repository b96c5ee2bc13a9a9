/**
 * The POSTs of a translated pass-through session (issue 6 §3): the gateway answers what is its own to
 * answer (`ping`, `logging/setLevel`, `resources/subscribe`), relays the client's answers and cancels to
 * the instance waiting for them, and translates every other request (./translate.ts) with its reply
 * streamed back (./reply.ts). I/O through the Store, the bus, the upstream client and (for answers and
 * cancels held elsewhere) the peers.
 */
import { GatewayError, isGatewayError } from '../errors.js';
import type { GatewayDeps } from '../http/context.js';
import { JSONRPC, type JsonRpcId, jsonRpcErrorResponse } from '../mcp/jsonrpc.js';
import { noteMessage, type Observation } from '../observe/observation.js';
import { type JsonRpcBody, readJsonRpcBody } from '../proxy/body.js';
import type { ResolvedBrain } from '../store/brain-cache.js';
import { createAsker } from './asker.js';
import type { SessionRelay } from './relay.js';
import { createReply } from './reply.js';
import type { EraServices } from './services.js';
import { AskError, observedStatus, translateRequest } from './translate.js';
import {
  clientSideOfSession,
  type TranslatedSession,
  type TranslatedSessions,
} from './translated-sessions.js';

export interface TranslatedRequestsOptions {
  deps: Pick<GatewayDeps, 'config' | 'logger' | 'lifecycle'>;
  era: EraServices;
  sessions: TranslatedSessions;
  relay: SessionRelay;
}

export interface TranslatedRequests {
  post(
    request: Request,
    session: TranslatedSession,
    brain: ResolvedBrain,
    observation?: Observation,
  ): Promise<Response>;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const LEVELS = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);

const result = (id: JsonRpcId, value: unknown) =>
  new Response(JSON.stringify({ jsonrpc: '2.0', id, result: value }), {
    status: 200,
    headers: { 'content-type': 'application/json' },
  });
const accepted = () => new Response(null, { status: 202 });

export function createTranslatedRequests(options: TranslatedRequestsOptions): TranslatedRequests {
  const { deps, era, sessions, relay } = options;
  const { config, logger } = deps;

  function translate(
    request: Request,
    body: JsonRpcBody,
    target: { session: TranslatedSession; brain: ResolvedBrain; observation: Observation | undefined },
  ): Promise<Response> {
    const { session, brain, observation } = target;
    const requestId = observation?.requestId;
    const controller = new AbortController();
    const accept = request.headers.get('accept') ?? '';
    const { channel, response } = createReply({
      acceptsSse: accept.includes('text/event-stream'),
      keepAliveMs: config.keepAliveMs,
      onCancel: () => controller.abort(),
    });
    const asker = createAsker({ send: (message) => channel.write(message), tag: relay.tag });
    const untrack = relay.track(brain.id, session.id, {
      tokenId: session.tokenId,
      requestId: body.id,
      asker,
      abort: () => controller.abort(),
    });
    const done = deps.lifecycle.inflight.begin();
    void (async () => {
      try {
        const outcome = await translateRequest(
          body.method!,
          body.params,
          {
            upstream: era.upstreamFor(brain),
            catalog: era.catalogFor(brain),
            client: clientSideOfSession(session),
            signal: controller.signal,
            requestId,
            onEraMismatch: () => era.probe.forget(brain.id),
          },
          {
            notify: (message) => channel.write(message),
            ask: (method, params, signal) =>
              channel.canStream
                ? asker.ask(method, params, signal)
                : Promise.reject(
                    new AskError({
                      code: JSONRPC.INVALID_REQUEST,
                      message: `The upstream asks the client for ${method}, which needs an event stream; this request did not accept text/event-stream`,
                    }),
                  ),
          },
        );
        if (!outcome) channel.abandon();
        else if ('result' in outcome) channel.finish({ jsonrpc: '2.0', id: body.id, result: outcome.result });
        else {
          // Answered 200 with the error inside: the audit entry and metrics carry what it stands for.
          if (observation) observation.failedWith = observedStatus(outcome.upstreamStatus);
          channel.finish({ jsonrpc: '2.0', id: body.id, error: outcome.error });
        }
      } catch (err) {
        const exposed = err instanceof GatewayError && err.expose;
        // Unreachable 502, timed out 504, ours 500, as on the legacy face (./legacy-leg.ts).
        if (observation) observation.failedWith = err instanceof GatewayError ? err.status : 500;
        logger.warn(
          { brain: brain.id, code: (err as GatewayError).code, method: body.method },
          'translated request failed',
        );
        channel.finish({
          jsonrpc: '2.0',
          id: body.id,
          error: exposed
            ? { code: JSONRPC.SERVER_ERROR, message: err.message }
            : { code: JSONRPC.INTERNAL_ERROR, message: 'Internal error' },
        });
      } finally {
        untrack();
        asker.close();
        done();
      }
    })();
    request.signal.addEventListener('abort', () => controller.abort(), {
      once: true,
      signal: controller.signal,
    });
    return response;
  }

  /** 202 once the message reached whoever waits for it (or nobody does); 503 to send it again. */
  async function routed(session: TranslatedSession, body: JsonRpcBody, text: string): Promise<Response> {
    try {
      await relay.route(session, body.message, text);
      return accepted();
    } catch (err) {
      if (!isGatewayError(err, 'ERR_UPSTREAM_UNREACHABLE')) throw err;
      return jsonRpcErrorResponse(503, JSONRPC.SERVER_ERROR, err.message, {
        headers: { 'retry-after': '1' },
      });
    }
  }

  async function post(
    request: Request,
    session: TranslatedSession,
    brain: ResolvedBrain,
    observation?: Observation,
  ): Promise<Response> {
    const body = await readJsonRpcBody(request, config.maxBodyBytes);
    if (observation) noteMessage(observation, body.method, body.params);
    const text = Buffer.from(body.bytes).toString('utf8');
    if (body.method === undefined) {
      // The client answers a request the gateway made (MRTR round): to whichever instance waits for it.
      return routed(session, body, text);
    }
    const params = isObject(body.params) ? body.params : {};
    if (body.id === null) {
      if (body.method === 'notifications/cancelled') return routed(session, body, text);
      // No other client notification has a 2026-07-28 counterpart (initialized, roots/list_changed).
      return accepted();
    }
    switch (body.method) {
      case 'initialize':
        return jsonRpcErrorResponse(
          400,
          JSONRPC.INVALID_REQUEST,
          'Invalid Request: Server already initialized',
          { id: body.id },
        );
      case 'ping':
        return result(body.id, {});
      case 'logging/setLevel': {
        if (typeof params.level !== 'string' || !LEVELS.has(params.level)) {
          return jsonRpcErrorResponse(
            200,
            JSONRPC.INVALID_PARAMS,
            'Invalid params: level must be an RFC 5424 level',
            { id: body.id },
          );
        }
        await sessions.update(session, { logLevel: params.level });
        return result(body.id, {});
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        if (typeof params.uri !== 'string') {
          return jsonRpcErrorResponse(200, JSONRPC.INVALID_PARAMS, 'Invalid params: uri is required', {
            id: body.id,
          });
        }
        const set = new Set(session.state.subscriptions ?? []);
        if (body.method === 'resources/subscribe') set.add(params.uri);
        else set.delete(params.uri);
        const next = await sessions.update(session, { subscriptions: [...set] });
        // A GET stream here listens with the new filter before the client hears "subscribed".
        await relay.applied(next);
        return result(body.id, {});
      }
      default:
        return translate(request, body, { session, brain, observation });
    }
  }

  return { post };
}
