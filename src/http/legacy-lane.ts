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
 * no bearer, a repeated Host or Authorization header, a Host the app would not take as is, a body without
 * a length or over the limit, a session held elsewhere) at once; a refusal (401, 403, 404, 503) after
 * auth, and a session that closed during it, so the app answers it as always. Only a body that fails to
 * parse, which the lane has read, is answered here, as the route would.
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

/** `host` or `host:port` of a name or an IPv4/IPv6 address: what the app builds its URL from untouched. */
const PLAIN_HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** A Host or Authorization header given more than once (raw names and values alternate). */
function repeated(raw: string[]): boolean {
  let host = 0;
  let authorization = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'host') host++;
    else if (name === 'authorization') authorization++;
  }
  return host > 1 || authorization > 1;
}

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

  /** The app's answer to a request the lane took but does not serve; `done` once it has finished. */
  const toApp = (req: IncomingMessage, res: ServerResponse, app: NodeListener, done: () => void) => {
    Promise.resolve()
      .then(() => app(req, res))
      .then(done, (err) => {
        deps.logger.error({ cause: describeCause(err) }, 'request handed to the app failed');
        done();
      });
  };

  async function take(
    req: IncomingMessage,
    res: ServerResponse,
    app: NodeListener,
    session: S,
    token: string,
    done: () => void,
  ): Promise<void> {
    const observation = createObservation(
      requestIdFrom(req.headers['x-request-id'] as string | undefined),
      'sse',
      performance.now(),
    );
    let principal: Principal;
    try {
      const result = await deps.auth.authenticate(token);
      if (!result.ok) return toApp(req, res, app, done);
      principal = result.principal;
      if (principal.tokenId !== session.tokenId) return toApp(req, res, app, done);
      if (!(await visibleBrain(deps.brains, principal, session.brain))) return toApp(req, res, app, done);
    } catch {
      return toApp(req, res, app, done); // the store is unreachable: the app answers 503 as always
    }
    // Closed meanwhile (client gone, token revoked, shutdown): the app answers 404 as it would now.
    if (options.session(session.id) !== session) return toApp(req, res, app, done);
    // Node holds the whole body by now unless the client sent it apart from its head: the app reads that.
    const text = bufferedBody(req, config.maxBodyBytes);
    if (text === undefined) return toApp(req, res, app, done);
    let messages: ClientMessage[];
    try {
      messages = parseClientMessages(text);
    } catch (err) {
      const refused = bodyError(err);
      if (!refused) throw err;
      writeError(res, refused.error.status, refused.code, refused.error.message);
      finish(observation, principal, session, refused.error.status);
      done();
      return;
    }
    try {
      options.accept(
        session,
        principal,
        observation,
        messages,
        req.headers['mcp-protocol-version'] as string,
      );
    } catch (err) {
      if (!observation.perMessage) finish(observation, principal, session, 500);
      throw err;
    }
    // undici writes a request on a reused keep-alive connection only on the next turn of the event loop
    // (it first makes sure the upstream has not closed it, GHSA-35p6-xmwp-9g52). The 202 follows it
    // there, so answering the client never holds up the call itself (bench/RESULTS.md, third session).
    setImmediate(() => {
      try {
        if (!res.destroyed) writeAccepted(res, {});
      } finally {
        done();
      }
    });
  }

  /** What the app's error handler does with an error nobody expected: log it, answer 500 if it can. */
  const failed = (res: ServerResponse, session: S, done: () => void) => (err: unknown) => {
    try {
      deps.logger.error(
        { code: 'ERR_INTERNAL', path: `/brains/${session.brain}/messages`, cause: describeCause(err) },
        'request failed',
      );
      if (!res.headersSent) writeError(res, 500, JSONRPC.INTERNAL_ERROR, 'Internal error');
      else res.destroy();
    } finally {
      done();
    }
  };

  return function legacyLane(req, res, app) {
    if (req.method !== 'POST') return false;
    const match = MESSAGES_URL.exec(req.url ?? '');
    if (!match) return false;
    const session = options.session(match[2]!);
    if (!session || session.brain !== match[1]) return false;
    const { headers } = req;
    // Node keeps the first of repeated Host and Authorization headers, the app sees them all: those go
    // there, and so does a Host the app would refuse to build a URL from.
    if (repeated(req.rawHeaders)) return false;
    if (headers.host === undefined || !PLAIN_HOST.test(headers.host)) return false;
    if (hostAllowed && !hostAllowed(headers.host)) return false;
    if (!originAllowed(headers.origin)) return false;
    const token = bearerToken(headers.authorization);
    if (token === undefined || !checkedAsOrgToken(config, token)) return false;
    const declared = Number(headers['content-length']);
    if (!Number.isInteger(declared) || declared > config.maxBodyBytes) return false;
    // Counted like any request the app serves (src/http/inflight.ts) until its answer is written; the
    // returned function ends the count once, whoever calls it first.
    const done = deps.lifecycle.inflight.begin();
    take(req, res, app, session, token, done).catch(failed(res, session, done));
    return true;
  };
}
