/**
 * The legacy face's fast lane (docs/decisions/0007): `POST /brains/:brain/messages?sessionId=` for a
 * session this instance holds, taken on the Node request before Hono. I/O: the client's request and
 * response, the auth caches (the store behind them on a miss).
 *
 * It is the legacy bridge's hottest route (every message of every legacy client) and its work is small:
 * the Hono app's request objects and nine middlewares cost more than the route itself (bench/RESULTS.md).
 * The lane runs the same checks in the same order as the middleware chain, each through the function that
 * chain uses (Host and Origin checks, org-token auth, brain visibility, the route's session check), and
 * the same admission and hand-over as the Hono route. Anything it does not handle the plain way goes to
 * the app untouched, before the body is read: a request it does not match (another route, CORS on, a JWT,
 * no bearer, a body without a length or over the limit, a session held elsewhere) at once; a refusal
 * (401, 403, 404, 503) after auth, so the app answers it as always. Only a body that fails to parse, which
 * the lane has read, is answered here, as the route would.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { NodeLane, NodeListener } from '../app.js';
import { bearerToken, type Principal } from '../auth/authenticator.js';
import { checkedAsOrgToken, visibleBrain } from '../auth/middleware.js';
import { createHostCheck, createOriginCheck } from '../auth/origin.js';
import { bodyError, type ClientMessage, parseClientMessages } from '../bridge/client-messages.js';
import { JSONRPC, jsonRpcError } from '../mcp/jsonrpc.js';
import { createObservation, type Observation, requestIdFrom } from '../observe/observation.js';
import { describeCause } from './admin.js';
import type { GatewayDeps } from './context.js';
import { bufferedBody, writeAccepted } from './sse-node.js';

/** The session a lane may serve: held here, with the token and brain it was opened for. */
export interface LaneSession {
  readonly id: string;
  readonly brain: string;
  readonly tokenId: string;
}

export interface LegacyLaneOptions<S extends LaneSession> {
  deps: Pick<GatewayDeps, 'config' | 'auth' | 'brains' | 'lifecycle' | 'observe' | 'logger'>;
  /** The session with this id held by this instance, if any. */
  session(id: string): S | undefined;
  /** What the Hono route does with the messages of an accepted POST (admission, hand-over). */
  accept(
    session: S,
    principal: Principal,
    observation: Observation,
    messages: ClientMessage[],
    clientVersion: string | undefined,
  ): void;
}

/** Brain slugs and base62 session ids: anything else (percent-encoding, more parameters) takes the app. */
const MESSAGES_URL = /^\/brains\/([a-z0-9][a-z0-9_-]*)\/messages\?sessionId=([0-9A-Za-z]+)$/;

/** A JSON-RPC error answer written on the Node response. */
function writeError(res: ServerResponse, status: number, code: number, message: string): void {
  const body = JSON.stringify(jsonRpcError(code, message));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Undefined when CORS is on: every answer then carries its headers, which only the app adds. */
export function createLegacyLane<S extends LaneSession>(options: LegacyLaneOptions<S>): NodeLane | undefined {
  const { deps } = options;
  const { config } = deps;
  if (config.corsOrigins.length > 0) return undefined;
  const hostAllowed = createHostCheck(config);
  const originAllowed = createOriginCheck(config);

  /** The app's route finishes an exchange it refuses this way (src/observe/middleware.ts). */
  const finish = (observation: Observation, principal: Principal, session: S, status: number) =>
    deps.observe.finish({
      observation,
      httpMethod: 'POST',
      principal,
      brain: session.brain,
      session: session.id,
      status,
      audit: true,
      endedAt: performance.now(),
    });

  async function take(
    req: IncomingMessage,
    res: ServerResponse,
    app: NodeListener,
    session: S,
    token: string,
  ): Promise<void> {
    // Counted like any request the app serves (src/http/inflight.ts), observed from here on.
    const done = deps.lifecycle.inflight.begin();
    const toApp = () => void Promise.resolve(app(req, res)).finally(done);
    const observation = createObservation(
      requestIdFrom(req.headers['x-request-id'] as string | undefined),
      'sse',
      performance.now(),
    );
    let principal: Principal;
    try {
      const result = await deps.auth.authenticate(token);
      if (!result.ok) return toApp();
      principal = result.principal;
      if (principal.tokenId !== session.tokenId) return toApp();
      if (!(await visibleBrain(deps.brains, principal, session.brain))) return toApp();
    } catch {
      return toApp(); // the store is unreachable: the app answers 503 as always
    }
    // Node holds the whole body by now unless the client sent it apart from its head: the app reads that.
    const text = bufferedBody(req, config.maxBodyBytes);
    if (text === undefined) return toApp();
    let answered = true;
    try {
      let messages: ClientMessage[];
      try {
        messages = parseClientMessages(text);
      } catch (err) {
        const refused = bodyError(err);
        if (!refused) throw err;
        writeError(res, refused.error.status, refused.code, refused.error.message);
        finish(observation, principal, session, refused.error.status);
        return;
      }
      options.accept(
        session,
        principal,
        observation,
        messages,
        req.headers['mcp-protocol-version'] as string,
      );
      // undici writes a request on a reused keep-alive connection only on the next turn of the event loop
      // (it first makes sure the upstream has not closed it, GHSA-35p6-xmwp-9g52). The 202 follows it
      // there, so answering the client never holds up the call itself (bench/RESULTS.md, third session).
      answered = false;
      setImmediate(() => {
        if (!res.destroyed) writeAccepted(res, {});
        done();
      });
    } catch (err) {
      deps.logger.error(
        {
          code: 'ERR_INTERNAL',
          path: `/brains/${session.brain}/messages`,
          reqId: observation.requestId,
          cause: describeCause(err),
        },
        'request failed',
      );
      if (!res.headersSent) writeError(res, 500, JSONRPC.INTERNAL_ERROR, 'Internal error');
      if (!observation.perMessage) finish(observation, principal, session, 500);
    } finally {
      if (answered) done();
    }
  }

  return function legacyLane(req, res, app) {
    if (req.method !== 'POST') return false;
    const match = MESSAGES_URL.exec(req.url ?? '');
    if (!match) return false;
    const session = options.session(match[2]!);
    if (!session || session.brain !== match[1]) return false;
    const { headers } = req;
    if (hostAllowed && (headers.host === undefined || !hostAllowed(headers.host))) return false;
    if (!originAllowed(headers.origin)) return false;
    const token = bearerToken(headers.authorization);
    if (token === undefined || !checkedAsOrgToken(config, token)) return false;
    const declared = Number(headers['content-length']);
    if (!Number.isInteger(declared) || declared > config.maxBodyBytes) return false;
    void take(req, res, app, session, token);
    return true;
  };
}
