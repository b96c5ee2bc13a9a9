/**
 * The upstream leg of a legacy (HTTP+SSE) session when the brain's upstream speaks 2026-07-28 only
 * (issue 6 §2). Same contract as the 2025 leg (src/bridge/client-to-upstream.ts + upstream-session.ts):
 * takes each client message after the 202, answers on the client's stream. Does I/O through the
 * translation modules; holds the client's side of the session in memory (the instance holding the SSE
 * stream owns the session, DESIGN.md §4).
 *
 * - `initialize` is answered here, from `server/discover`; the client's version, capabilities and info
 *   are kept and sent with every upstream request (`_meta`).
 * - `ping` is answered here; `logging/setLevel` becomes the per-request log level.
 * - `resources/subscribe` / `unsubscribe` re-open the `subscriptions/listen` feed, which also carries
 *   list changes; its notifications reach the client unprompted.
 * - `input_required` becomes real server→client requests on the stream; the client's answers (POSTed
 *   responses) resolve them.
 * - `notifications/cancelled` aborts the request: its upstream exchange closes, an MRTR round in wait is
 *   withdrawn (the client gets `notifications/cancelled` for what the gateway asked), no retry is sent.
 */
import type { ClientMessage } from '../bridge/client-messages.js';
import type { Deliver } from '../bridge/upstream-to-client.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { JSONRPC, type JsonRpcId, jsonRpcError } from '../mcp/jsonrpc.js';
import { createAsker } from './asker.js';
import { initializeResult, negotiateLegacyVersion } from './legacy-shape.js';
import { createListenFeed, type ListenFeed, listenFilter } from './listen.js';
import type { DiscoverResult } from './probe.js';
import type { ToolCatalog } from './tool-headers.js';
import { observedStatus, translateRequest } from './translate.js';
import type { ModernUpstream } from './upstream-call.js';
import type { ClientSide } from './wire.js';

/** What the legacy session talks to upstream through: the 2025 leg, or this one. */
export interface BridgeLeg {
  handle(message: ClientMessage, clientVersion: string | undefined): Promise<void>;
  /** Ends everything the leg holds upstream; never throws. */
  terminate(): Promise<void>;
  /** The 2025 leg: whether its upstream session stands (false after a refused initialize). */
  initialized?(): boolean;
}

export interface LegInitialized {
  sessionId: string | null;
  protocolVersion: string | null;
  params: unknown;
  byClient: boolean;
}

export interface ModernLegOptions {
  upstream: ModernUpstream;
  catalog: ToolCatalog;
  /** The upstream's `server/discover` (cached by the probe, or asked again). */
  discover(): Promise<DiscoverResult>;
  deliver: Deliver;
  logger: Logger;
  signal: AbortSignal;
  fallbackInitParams(clientVersion: string | undefined): Promise<unknown>;
  onInitialized(info: LegInitialized): void;
  onEraMismatch(): void;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const LEVELS = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);

/** The client's side as it declared it in `initialize` params. */
export function clientSideOf(params: unknown): ClientSide {
  const p = isObject(params) ? params : {};
  return {
    protocolVersion: negotiateLegacyVersion(p.protocolVersion),
    capabilities: isObject(p.capabilities) ? p.capabilities : {},
    clientInfo: p.clientInfo,
  };
}

export function createModernLeg(options: ModernLegOptions): BridgeLeg {
  const { upstream, catalog, logger, signal } = options;
  const send = (message: Json) => options.deliver(JSON.stringify(message));
  const reply = (id: JsonRpcId, result: unknown) => send({ jsonrpc: '2.0', id, result });
  const fail = (id: JsonRpcId, code: number, message: string, data?: unknown) =>
    send(jsonRpcError(code, message, id, data) as unknown as Json);

  let client: ClientSide | undefined;
  let started: Promise<void> | undefined;
  let feed: ListenFeed | undefined;
  let capabilities: Json = {};
  const subscriptions = new Set<string>();
  const inflight = new Map<string, AbortController>();
  const asker = createAsker({ send, signal });

  /** `requestId`: the client request that starts it (a subscribe, `notifications/initialized`). */
  const startFeed = (requestId?: string) => {
    if (feed || signal.aborted) return;
    feed = createListenFeed({
      upstream,
      client: () => client ?? clientSideOf({}),
      deliver: send,
      logger,
      onToolsChanged: () => catalog.invalidate(),
    });
    feed.update(listenFilter(capabilities, [...subscriptions]), requestId).catch((err) => {
      logger.warn({ code: (err as GatewayError).code }, 'subscriptions/listen failed; retrying');
    });
  };

  /** A client that never initialized here (it reconnected, protocol.md §1.2): its last params, or a default. */
  const ensureClient = (clientVersion: string | undefined) => {
    started ??= (async () => {
      if (client) return;
      const params = await options.fallbackInitParams(clientVersion);
      client = clientSideOf(params);
      capabilities = (await options.discover()).capabilities;
      options.onInitialized({
        sessionId: null,
        protocolVersion: client.protocolVersion,
        params,
        byClient: false,
      });
      startFeed();
    })();
    started.catch(() => {
      started = undefined;
    });
    return started;
  };

  async function initialize(message: ClientMessage): Promise<void> {
    const discover = await options.discover();
    client = clientSideOf(message.params);
    capabilities = discover.capabilities;
    started = Promise.resolve();
    const requested = isObject(message.params) ? message.params.protocolVersion : undefined;
    // Recorded first: a client that reconnects right after finds its params (protocol.md §1.2).
    options.onInitialized({
      sessionId: null,
      protocolVersion: client.protocolVersion,
      params: message.params,
      byClient: true,
    });
    reply(message.id, initializeResult(discover, requested));
    logger.info(
      { protocolVersion: client.protocolVersion },
      'initialize answered from server/discover (2026-07-28 upstream)',
    );
  }

  async function subscribe(message: ClientMessage): Promise<void> {
    const uri = isObject(message.params) ? message.params.uri : undefined;
    if (typeof uri !== 'string')
      return fail(message.id, JSONRPC.INVALID_PARAMS, 'Invalid params: uri is required');
    if (message.method === 'resources/subscribe') subscriptions.add(uri);
    else subscriptions.delete(uri);
    if (!feed) startFeed(message.observed?.requestId);
    else await feed.update(listenFilter(capabilities, [...subscriptions]), message.observed?.requestId);
    reply(message.id, {});
  }

  async function forward(message: ClientMessage, current: ClientSide): Promise<void> {
    const key = String(message.id);
    const controller = new AbortController();
    const stop = () => controller.abort();
    signal.addEventListener('abort', stop, { once: true, signal: controller.signal });
    inflight.set(key, controller);
    try {
      const outcome = await translateRequest(
        message.method!,
        message.params,
        {
          upstream,
          catalog,
          client: current,
          signal: controller.signal,
          requestId: message.observed?.requestId,
          onEraMismatch: options.onEraMismatch,
        },
        { notify: send, ask: asker.ask },
      );
      if (!outcome || controller.signal.aborted) return; // cancelled: no response (basic/utilities/cancellation)
      if ('result' in outcome) return reply(message.id, outcome.result);
      const status = observedStatus(outcome.upstreamStatus);
      if (status !== undefined) message.observed?.fail(status);
      send({ jsonrpc: '2.0', id: message.id, error: outcome.error });
    } finally {
      if (inflight.get(key) === controller) inflight.delete(key);
      controller.abort();
    }
  }

  async function request(message: ClientMessage, clientVersion: string | undefined): Promise<void> {
    if (message.method === 'initialize') return initialize(message);
    await ensureClient(clientVersion);
    const current = client!;
    switch (message.method) {
      case 'ping':
        return reply(message.id, {});
      case 'logging/setLevel': {
        const level = isObject(message.params) ? message.params.level : undefined;
        if (typeof level !== 'string' || !LEVELS.has(level)) {
          return fail(message.id, JSONRPC.INVALID_PARAMS, 'Invalid params: level must be an RFC 5424 level');
        }
        current.logLevel = level;
        return reply(message.id, {});
      }
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return subscribe(message);
      default:
        return forward(message, current);
    }
  }

  async function notification(message: ClientMessage, clientVersion: string | undefined): Promise<void> {
    if (message.method === 'notifications/cancelled') {
      const id = isObject(message.params) ? message.params.requestId : undefined;
      inflight.get(String(id))?.abort();
      return;
    }
    if (message.method === 'notifications/initialized') {
      await ensureClient(clientVersion);
      startFeed(message.observed?.requestId);
    }
    // Anything else (roots/list_changed, progress) has no 2026-07-28 counterpart: dropped.
  }

  return {
    async handle(message, clientVersion) {
      try {
        if (message.kind === 'response') {
          asker.answer(message.id, message.body);
          return;
        }
        if (message.kind === 'notification') return await notification(message, clientVersion);
        await request(message, clientVersion);
      } catch (err) {
        if (signal.aborted) return; // the client is gone; nothing to tell it
        const code = err instanceof GatewayError ? err.code : 'ERR_INTERNAL';
        logger.warn({ code, method: message.method }, 'translated message failed upstream');
        // Unreachable 502, timed out 504, ours 500: what the 2025 leg records for the same failures.
        message.observed?.fail(err instanceof GatewayError ? err.status : 500);
        if (message.kind !== 'request') return;
        if (err instanceof GatewayError && err.expose) fail(message.id, JSONRPC.SERVER_ERROR, err.message);
        else fail(message.id, JSONRPC.INTERNAL_ERROR, 'Internal error');
      }
    },
    async terminate() {
      for (const controller of inflight.values()) controller.abort();
      inflight.clear();
      asker.close();
      feed?.close();
    },
  };
}
