/**
 * The legacy face (2024-11-05 HTTP+SSE, DESIGN.md §2): `GET /brains/:brain/sse` opens the client's
 * stream, `POST /brains/:brain/messages?sessionId=` takes its messages. Both run after client auth.
 * I/O: the client's socket, the store, the upstream (through the bridge).
 *
 * The stream and the 202s are written on the Node response (./sse-node.ts says why), so those routes
 * answer with @hono/node-server's RESPONSE_ALREADY_SENT.
 */
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import type { Face } from '../app.js';
import type { Principal } from '../auth/authenticator.js';
import {
  bodyError,
  type ClientMessage,
  parseClientMessages,
  readClientMessages,
} from '../bridge/client-messages.js';
import { type LegacySession, openLegacySession } from '../bridge/legacy-session.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { admitLegacyMessages } from '../limits/legacy-messages.js';
import { JSONRPC, jsonRpcErrorResponse, sessionNotFoundResponse } from '../mcp/jsonrpc.js';
import type { Observation } from '../observe/observation.js';
import { SSE_RESPONSE_HEADERS } from '../proxy/headers.js';
import { ownerRouting } from '../routing/owner.js';
import type { AppEnv } from './context.js';
import { createLegacyLane } from './legacy-lane.js';
import { accepted, bufferedBody, middlewareHeaders, nodeOf } from './sse-node.js';

export interface LegacyFaceOptions {
  /** Outgoing bytes a client may leave unread before it is disconnected (issue 4 §5). */
  maxBufferedBytes?: number;
  /** `retry:` for the client's EventSource: how soon it reconnects after a drop. */
  retryMs?: number;
}

async function readMessages(c: Context<AppEnv>, maxBytes: number): Promise<ClientMessage[]> {
  const buffered = bufferedBody(nodeOf(c).incoming, maxBytes);
  return buffered === undefined ? readClientMessages(c.req.raw, maxBytes) : parseClientMessages(buffered);
}

/**
 * @example
 * const gateway = await startGateway({ config, logger, faces: [createLegacyFace()] });
 */
export function createLegacyFace(options: LegacyFaceOptions = {}): Face {
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  const retryMs = options.retryMs ?? 1_000;

  return function legacyFace(app, deps, lanes) {
    // Routing table for POSTs; the shared registry (deps.sessions) handles push, revocation, keep-alive.
    const sessions = new Map<string, LegacySession>();
    // A POST for a session held by another instance goes to its owner (issue 5 §2, src/routing/owner.ts).
    const router = ownerRouting(deps);
    router.attachLocal((id) => sessions.get(id));
    // CORS sets its headers before the handler; responses written on the Node socket carry them over.
    const cors = deps.config.corsOrigins.length > 0;
    // An admin changed a brain (URL, credentials, timeouts): its open sessions here follow it.
    /** The latest change per brain: a slower read of an earlier change must not win over a later one. */
    const changes = new Map<string, number>();
    let changeCount = 0;
    const follow = (brainId: string) => {
      const affected = [...sessions.values()].filter((s) => s.brain === brainId);
      if (affected.length === 0) return;
      const change = ++changeCount;
      changes.set(brainId, change);
      deps.brains.invalidate(brainId);
      deps.brains
        .get(brainId)
        .then((next) => {
          if (!next || changes.get(brainId) !== change) return;
          changes.delete(brainId);
          // Sessions closed meanwhile are no longer in the table and are left alone.
          for (const session of affected) if (sessions.has(session.id)) session.brainChanged(next);
        })
        .catch((err) =>
          deps.logger.warn({ brain: brainId, code: err?.code }, 'open sessions kept the old brain'),
        );
    };
    const unsubscribe = deps.bus.subscribe((event) => {
      if (event.type === 'brain.changed') follow(event.brainId);
      // Changes published while the listener was away never arrive: read every brain in use again
      // (sessions whose brain did not change are left as they are).
      else if (event.type === 'resync')
        for (const brainId of new Set([...sessions.values()].map((s) => s.brain))) follow(brainId);
    });
    deps.lifecycle.onShutdown(async () => {
      unsubscribe();
      await Promise.allSettled([...sessions.values()].map((s) => s.close('shutting down')));
    });

    /** What becomes of the messages of an accepted POST, on the app's route and on the fast lane. */
    const acceptMessages = (
      session: LegacySession,
      principal: Principal,
      observation: Observation | undefined,
      messages: ClientMessage[],
      clientVersion: string | undefined,
    ) => {
      // Per JSON-RPC request: rate limits (refusals go out on the stream), audit and metrics (issue 7).
      const admitted = admitLegacyMessages({
        deps,
        observation,
        principal,
        brain: session.brain,
        session,
        messages,
      });
      session.accept(admitted, clientVersion);
    };
    // Most POSTs skip Hono: src/http/legacy-lane.ts (none with CORS on, whose headers the app adds).
    const lane = createLegacyLane({ deps, session: (id) => sessions.get(id), accept: acceptMessages });
    if (lane) lanes.push(lane);

    app.get('/:brain/sse', async (c) => {
      if (deps.lifecycle.draining) {
        // An EventSource gives up for good on any status but 200; a stream that ends at once with a
        // `retry:` makes it reconnect, and the balancer (which sees /readyz 503) sends it elsewhere.
        return new Response(`: shutting down\nretry: ${retryMs}\n\n`, {
          status: 200,
          headers: SSE_RESPONSE_HEADERS,
        });
      }
      const res = nodeOf(c).outgoing;
      if (!res) throw new GatewayError('ERR_INTERNAL', 'the legacy face needs the Node HTTP adapter');
      let session: LegacySession;
      try {
        session = await openLegacySession({
          deps,
          principal: c.get('principal'),
          brain: c.get('brain'),
          res,
          headers: middlewareHeaders(c, cors),
          maxBufferedBytes,
          retryMs,
          onClosed: (s) => sessions.delete(s.id),
        });
      } catch (err) {
        if (isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) {
          return jsonRpcErrorResponse(503, JSONRPC.SERVER_ERROR, 'Service unavailable: store not reachable', {
            headers: { 'retry-after': '2' },
          });
        }
        throw err;
      }
      sessions.set(session.id, session);
      return RESPONSE_ALREADY_SENT;
    });

    app.post('/:brain/messages', async (c) => {
      const id = c.req.query('sessionId');
      if (!id) {
        return jsonRpcErrorResponse(
          400,
          JSONRPC.SERVER_ERROR,
          'Bad Request: sessionId query parameter is required',
        );
      }
      const session = sessions.get(id);
      if (!session) {
        const routed = await router.route(c, id);
        // Handed to the owner (202 from it, or a fly-replay), which records each message (issue 7 §4).
        const observation = c.get('observation');
        if (observation && (routed.status === 202 || routed.headers.has('fly-replay'))) {
          observation.perMessage = true;
        }
        return routed;
      }
      // Unknown and someone else's look the same: no oracle for live session ids (DESIGN.md §3).
      if (!session || session.tokenId !== c.get('principal').tokenId || session.brain !== c.get('brain').id) {
        return sessionNotFoundResponse();
      }
      let messages: ClientMessage[];
      try {
        messages = await readMessages(c, deps.config.maxBodyBytes);
      } catch (err) {
        const refused = bodyError(err);
        if (!refused) throw err;
        return jsonRpcErrorResponse(refused.error.status, refused.code, refused.error.message);
      }
      acceptMessages(
        session,
        c.get('principal'),
        c.get('observation'),
        messages,
        c.req.header('mcp-protocol-version'),
      );
      return accepted(c, middlewareHeaders(c, cors));
    });
  };
}
