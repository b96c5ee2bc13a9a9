/**
 * Instance-to-instance routes (issue 5 §2), mounted at `/internal/v1`. Only peers holding MCPGATE_SECRET
 * can call them: every call carries a short-lived JWT addressed to this instance and bound to the body
 * (src/routing/internal-token.ts); anything else is 401. I/O: the local legacy sessions and translated
 * exchanges.
 *
 * `POST /sessions/:brain/:id/messages` — a legacy client's POST that landed on another instance, for a
 * session held here. Answers what the legacy face would have: 202, or 404 / 400 / 413 with its bodies.
 *
 * `POST /translated/:brain/:id/messages` — a translated session's client message (an answer to a request
 * the gateway asked, or a cancel) that landed on another instance (src/routing/translated-messages.ts).
 * 202 when an exchange here took it, 404 when nothing here waits for it.
 *
 * `POST /brains/:brain/notify` — admin notify from a peer (src/routing/notify.ts): delivered to this
 * instance's sessions of the brain.
 */
import { performance } from 'node:perf_hooks';
import { type Context, Hono } from 'hono';
import { type ClientMessage, parseClientMessages } from '../bridge/client-messages.js';
import { sessionRelay } from '../era/relay.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { admitLegacyMessages } from '../limits/legacy-messages.js';
import { JSONRPC, jsonRpcErrorResponse, sessionNotFoundResponse } from '../mcp/jsonrpc.js';
import { createObservation, requestIdFrom } from '../observe/observation.js';
import { type InternalCallClaims, verifyInternalCall } from '../routing/internal-token.js';
import { notifySubject } from '../routing/notify.js';
import { ownerRouting, readBodyText } from '../routing/owner.js';
import type { NotifyParams } from '../sessions/registry.js';
import type { AppEnv, GatewayDeps } from './context.js';

const BODY_ERROR_CODES: Partial<Record<string, number>> = {
  ERR_PARSE: JSONRPC.PARSE_ERROR,
  ERR_INVALID_MESSAGE: JSONRPC.INVALID_REQUEST,
  ERR_PAYLOAD_TOO_LARGE: JSONRPC.SERVER_ERROR,
};

const bearerOf = (c: Context<AppEnv>) => {
  const auth = c.req.header('authorization');
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
};

const unauthorized = () =>
  jsonRpcErrorResponse(401, JSONRPC.SERVER_ERROR, 'Unauthorized: not a valid internal call');

const bodyError = (err: unknown) => {
  const code = err instanceof GatewayError ? BODY_ERROR_CODES[err.code] : undefined;
  if (code === undefined) throw err;
  return jsonRpcErrorResponse((err as GatewayError).status, code, (err as GatewayError).message);
};

export function createInternalRoutes(
  deps: Pick<
    GatewayDeps,
    | 'config'
    | 'store'
    | 'secrets'
    | 'logger'
    | 'bus'
    | 'instanceId'
    | 'limits'
    | 'observe'
    | 'sessions'
    | 'lifecycle'
  >,
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const router = ownerRouting(deps);

  /**
   * The body and claims of a call signed for this instance, about `subject` of the URL's brain; or the
   * response refusing it (401, or 413 for a body past `maxBytes`).
   */
  async function signedCall(
    c: Context<AppEnv>,
    subject: string,
    maxBytes: number,
  ): Promise<{ body: string; claims: InternalCallClaims } | Response> {
    const token = bearerOf(c);
    if (!token) return unauthorized();
    let body: string;
    try {
      body = await readBodyText(c, maxBytes);
    } catch (err) {
      if (isGatewayError(err, 'ERR_PAYLOAD_TOO_LARGE')) return bodyError(err);
      throw err;
    }
    const claims = await verifyInternalCall(deps.secrets.signingKey, token, deps.instanceId, body);
    if (!claims || claims.sessionId !== subject || claims.brain !== c.req.param('brain')) {
      deps.logger.warn({ path: c.req.path }, 'refused an internal call that is not validly signed');
      return unauthorized();
    }
    return { body, claims };
  }

  app.post('/sessions/:brain/:id/messages', async (c) => {
    const brain = c.req.param('brain');
    const id = c.req.param('id');
    const call = await signedCall(c, id, deps.config.maxBodyBytes);
    if (call instanceof Response) return call;
    const { body, claims } = call;
    const session = router.local(id);
    if (!session || session.tokenId !== claims.tokenId || session.brain !== brain) {
      return sessionNotFoundResponse();
    }
    let messages: ClientMessage[];
    try {
      messages = parseClientMessages(body);
    } catch (err) {
      return bodyError(err);
    }
    // The owner admits each message (rate limits, audit, metrics: issue 7), as the legacy face does.
    const admitted = admitLegacyMessages({
      deps,
      observation: createObservation(requestIdFrom(c.req.header('x-request-id')), 'sse', performance.now()),
      principal: { org: session.org, tokenId: session.tokenId, brains: null },
      brain,
      session,
      messages,
    });
    session.accept(admitted, claims.protocolVersion);
    return c.text('Accepted', 202);
  });

  app.post('/translated/:brain/:id/messages', async (c) => {
    const target = { brain: c.req.param('brain'), sessionId: c.req.param('id') };
    const call = await signedCall(c, target.sessionId, deps.config.maxBodyBytes);
    if (call instanceof Response) return call;
    const taken = sessionRelay(deps).deliver({ ...target, tokenId: call.claims.tokenId }, call.body);
    return taken ? c.text('Accepted', 202) : sessionNotFoundResponse();
  });

  app.post('/brains/:brain/notify', async (c) => {
    const brain = c.req.param('brain');
    const call = await signedCall(c, notifySubject(brain), 64 * 1024);
    if (call instanceof Response) return call;
    let params: NotifyParams;
    try {
      params = JSON.parse(call.body) as NotifyParams;
    } catch {
      return unauthorized();
    }
    return c.json({ delivered: deps.sessions.notifyBrain(brain, params) });
  });

  return app;
}
