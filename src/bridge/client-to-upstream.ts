/**
 * Client → upstream: what happens to each message a legacy client POSTs, after the 202. Pure routing over
 * an UpstreamSession; no I/O of its own.
 *
 * - `initialize` starts a fresh upstream session and its reply goes back to the client.
 * - Anything else on a session that never initialized means the v1 client reconnected after a dropped
 *   stream (it does not re-initialize, protocol.md §1.2): the gateway initializes upstream with the params
 *   this token last used on this brain, or a default, and carries on.
 * - Failures of a request become a JSON-RPC error for its id on the client's stream: the client never
 *   hangs (DESIGN.md §3). Local errors are mapped here and nowhere else in the bridge.
 */
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { JSONRPC, type JsonRpcErrorBody, jsonRpcError } from '../mcp/jsonrpc.js';
import type { ClientMessage } from './client-messages.js';
import type { UpstreamSession } from './upstream-session.js';
import type { Deliver } from './upstream-to-client.js';

/** What `initialize` the gateway sends for a client that never sent one and has no history here. */
export function defaultInitParams(protocolVersion: string | undefined): unknown {
  return {
    // The v1 SDK client names its negotiated version on every POST (protocol.md §1.2); else the SDK's latest.
    protocolVersion: protocolVersion ?? '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'mcpgate-legacy-bridge', version: '1' },
  };
}

export interface ClientToUpstreamOptions {
  upstream: UpstreamSession;
  deliver: Deliver;
  logger: Logger;
  signal: AbortSignal;
  /** The params for an initialize the gateway sends itself (last used by this token, or a default). */
  fallbackInitParams(clientVersion: string | undefined): Promise<unknown>;
}

function localError(err: unknown): JsonRpcErrorBody['error'] {
  if (err instanceof GatewayError && err.expose) return { code: JSONRPC.SERVER_ERROR, message: err.message };
  return { code: JSONRPC.INTERNAL_ERROR, message: 'Internal error' };
}

export type HandleClientMessage = (
  message: ClientMessage,
  clientVersion: string | undefined,
) => Promise<void>;

export function createClientToUpstream(options: ClientToUpstreamOptions): HandleClientMessage {
  const { upstream, deliver, logger, signal } = options;

  /** `status`: the HTTP status the failure stands for, in the audit log (src/observe/observe.ts). */
  const fail = (message: ClientMessage, error: JsonRpcErrorBody['error'], status = 502) => {
    message.observed?.fail(status);
    if (message.kind === 'request')
      deliver(JSON.stringify(jsonRpcError(error.code, error.message, message.id, error.data)));
  };

  async function handle(message: ClientMessage, clientVersion: string | undefined): Promise<void> {
    try {
      if (message.kind === 'request' && message.method === 'initialize') {
        await upstream.initializeForClient(message);
        return;
      }
      // An answer to a server→client request of an upstream session that is gone: nobody to give it to.
      if (message.kind === 'response' && !upstream.initialized) return;
      if (!upstream.ready) await upstream.ensureReady(() => options.fallbackInitParams(clientVersion));
      if (message.method === 'notifications/initialized') {
        await upstream.clientInitialized(message);
        return;
      }
      const outcome = await upstream.forward(message);
      if (!outcome.ok) fail(message, outcome.error);
    } catch (err) {
      if (signal.aborted) return; // the client is gone; nothing to tell it
      const code = err instanceof GatewayError ? err.code : 'ERR_INTERNAL';
      logger.warn({ code, method: message.method, kind: message.kind }, 'legacy message failed upstream');
      fail(message, localError(err), err instanceof GatewayError ? err.status : 500);
    }
  }

  // Requests run concurrently, but nothing overtakes a notification: the upstream has dispatched it by the
  // time it answers 202 (SDK transport), and e.g. server-everything registers its sampling and elicitation
  // tools on `notifications/initialized`, so a tools/call sent alongside would otherwise not find them.
  // With no notification in flight a message starts at once (the hot path: no extra promise hop).
  let barrier: Promise<void> | undefined;
  return function handleClientMessage(message, clientVersion) {
    const run = barrier ? barrier.then(() => handle(message, clientVersion)) : handle(message, clientVersion);
    if (message.kind === 'notification') {
      barrier = run;
      void run.finally(() => {
        if (barrier === run) barrier = undefined;
      });
    }
    return run;
  };
}
