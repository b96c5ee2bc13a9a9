/**
 * The upstream leg of one legacy session: a Streamable HTTP session (2025-03-26 … 2025-11-25) held on the
 * client's behalf. Does I/O through the shared UpstreamClient (`send`, undici dispatch).
 *
 * - `initialize` is the client's own (its reply reaches the client) or the gateway's (the client
 *   reconnected and did not re-initialize, protocol.md §1.2; its reply is swallowed).
 * - After initialize: `Mcp-Session-Id` and `MCP-Protocol-Version` on every request (2025-06-18 §Protocol
 *   Version Header), then the standalone GET stream (./upstream-stream.ts) so pushes arrive unprompted.
 * - Session lost (the upstream restarted): re-initialize with the same params and retry once; the
 *   client notices nothing (DESIGN.md §2).
 */
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { JSONRPC, type JsonRpcErrorBody } from '../mcp/jsonrpc.js';
import { upstreamRequestHeaders } from '../proxy/headers.js';
import type { UpstreamClient, UpstreamRawResponse, UpstreamTarget } from '../proxy/upstream.js';
import type { ClientMessage } from './client-messages.js';
import { isSessionLost, upstreamErrorOf } from './upstream-errors.js';
import { runStandaloneStream } from './upstream-stream.js';
import { type Deliver, headerOf, relayReply, textOf } from './upstream-to-client.js';

export interface UpstreamInitialized {
  sessionId: string | null;
  protocolVersion: string | null;
  params: unknown;
  byClient: boolean;
}

export interface UpstreamSessionOptions {
  client: UpstreamClient;
  target: UpstreamTarget;
  /** The brain's own upstream credentials. */
  credentials: Readonly<Record<string, string>>;
  deliver: Deliver;
  logger: Logger;
  /** Aborted when the legacy session ends: every upstream exchange stops. */
  signal: AbortSignal;
  onInitialized(info: UpstreamInitialized): void;
}

export type ForwardOutcome = { ok: true } | { ok: false; error: JsonRpcErrorBody['error'] };

export interface UpstreamSession {
  /** An initialize was sent (it may still be in flight). */
  readonly initialized: boolean;
  /** Initialized and not being re-initialized: messages can go straight upstream. */
  readonly ready: boolean;
  /** Forwards the client's `initialize`; the reply reaches the client. Starts a fresh upstream session. */
  initializeForClient(message: ClientMessage): Promise<void>;
  /** Initializes on the client's behalf unless already done (params from `fallback` the first time). */
  ensureReady(fallback: () => Promise<unknown>): Promise<void>;
  /** The client's `notifications/initialized`: forwarded unless the gateway sent one; opens the GET stream. */
  clientInitialized(message: ClientMessage): Promise<void>;
  /** Forwards one message; for a request, resolves once its response reached the client. */
  forward(message: ClientMessage): Promise<ForwardOutcome>;
  /** Ends the upstream session (`DELETE`, 2025-11-25 §Session Management); never throws. */
  terminate(): Promise<void>;
  /** Follows an admin's change of the brain's URL or credentials (see `retarget` below). */
  retarget(next: { target: UpstreamTarget; credentials: Readonly<Record<string, string>> }): void;
}

const DELETE_TIMEOUT_MS = 5_000;
const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}';

const sameRecord = (a: Record<string, string>, b: Record<string, string>) => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
};

const versionOf = (result: unknown) => {
  const v = (result as { protocolVersion?: unknown } | undefined)?.protocolVersion;
  return typeof v === 'string' ? v : null;
};

export function createUpstreamSession(options: UpstreamSessionOptions): UpstreamSession {
  const { client, deliver, logger, signal } = options;
  const baseFor = (credentials: Readonly<Record<string, string>>) =>
    upstreamRequestHeaders(new Headers(), credentials, {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    });
  let target = options.target;
  let base = baseFor(options.credentials);
  let sessionId: string | null = null;
  let protocolVersion: string | null = null;
  let isReady = false;
  let initParams: unknown;
  let initializedSent = false;
  let ready: Promise<void> | undefined;
  let headers: Record<string, string> = base;
  /** `headers` and `base` as flat lists: a message's X-Request-Id is appended, not copied in. */
  let headerList = Object.entries(headers).flat();
  let baseList = headerList;
  let stream: AbortController | undefined;
  let initCount = 0;
  /** Counts moves to another URL (`retarget`): an initialize answered after one belongs to the old server. */
  let placement = 0;

  /** Precomputes the headers of every later request, once per initialize rather than per message. */
  const adopt = (id: string | null, version: string | null) => {
    sessionId = id;
    protocolVersion = version;
    headers = { ...base };
    if (id !== null) headers['mcp-session-id'] = id;
    if (version !== null) headers['mcp-protocol-version'] = version;
    headerList = Object.entries(headers).flat();
    baseList = Object.entries(base).flat();
  };

  /** `requestId`: the client POST's `X-Request-Id` (issue 7 §6), when the face observed the message. */
  const post = (body: Uint8Array | string, withSession = true, requestId?: string) => {
    const h = withSession ? headerList : baseList;
    return client.send(target, {
      method: 'POST',
      headers: requestId === undefined ? h : [...h, 'x-request-id', requestId],
      body,
      signal,
    });
  };

  const get = (lastEventId: string | undefined, own: AbortSignal) => {
    const h: Record<string, string> = { ...headers, accept: 'text/event-stream' };
    if (lastEventId !== undefined) h['last-event-id'] = lastEventId;
    return client.send(target, { method: 'GET', headers: h, signal: own });
  };
  const resume = (lastEventId: string) => get(lastEventId, signal);

  const reset = () => {
    isReady = false;
    stream?.abort();
    stream = undefined;
    initializedSent = false;
    adopt(null, null);
  };

  const openStream = () => {
    stream?.abort();
    if (signal.aborted) return;
    const own = new AbortController();
    stream = own;
    signal.addEventListener('abort', () => own.abort(), { once: true, signal: own.signal });
    const forSession = sessionId;
    void runStandaloneStream({
      open: (lastEventId) => get(lastEventId, own.signal),
      deliver,
      signal: own.signal,
      onSessionLost: () => {
        if (forSession === null) return;
        reinitialize(forSession).catch((err) =>
          logger.warn({ code: (err as GatewayError).code }, 'upstream re-initialize failed'),
        );
      },
    });
  };

  /** The gateway's own initialize + initialized: the client never sees the result. */
  async function handshake(params: unknown): Promise<void> {
    const id = `mcpgate-init-${++initCount}`;
    const sent = { placement, target, base };
    const res = await post(JSON.stringify({ jsonrpc: '2.0', id, method: 'initialize', params }), false);
    if (res.status !== 200) {
      res.body.destroy();
      throw new GatewayError('ERR_UPSTREAM_UNREACHABLE', `Upstream refused initialize (HTTP ${res.status})`);
    }
    const seen: { result?: unknown } = {};
    await relayReply(res, {
      deliver,
      awaiting: id,
      resume,
      signal,
      onAnswer: (m) => {
        seen.result = m.result;
        return false;
      },
    });
    if (!seen.result) throw new GatewayError('ERR_UPSTREAM_UNREACHABLE', 'Upstream initialize failed');
    // Moved meanwhile: whoever waits on this handshake waits for the one at the new URL instead.
    if (answeredTooLate(sent, res)) return ensureReady(async () => params);
    const protocolVersion = versionOf(seen.result);
    adopt(headerOf(res, 'mcp-session-id') ?? null, protocolVersion);
    initParams = params;
    await (await post(INITIALIZED)).body.bytes();
    initializedSent = true;
    isReady = true;
    openStream();
    options.onInitialized({ sessionId, protocolVersion, params, byClient: false });
    logger.info({ protocolVersion }, 'upstream initialized by the gateway');
  }

  const ensureReady = async (fallback: () => Promise<unknown>) => {
    if (!ready) {
      const attempt = (async () => handshake(initParams ?? (await fallback())))();
      ready = attempt;
      // A failed handshake is retried by the next message rather than remembered.
      attempt.catch(() => {
        if (ready === attempt) ready = undefined;
      });
    }
    await ready;
  };

  async function reinitialize(lost: string): Promise<void> {
    if (sessionId === lost) {
      logger.info('upstream session lost; re-initializing');
      reset();
      ready = undefined;
    }
    await ensureReady(async () => initParams);
  }

  async function initializeForClient(message: ClientMessage): Promise<void> {
    if (sessionId !== null) void terminate();
    reset();
    let settle!: () => void;
    const mine = new Promise<void>((resolve) => (settle = resolve));
    ready = mine;
    let ok = false;
    const sent = { placement, target, base };
    try {
      const res = await post(message.body, false, message.observed?.requestId);
      if (res.status !== 200) {
        const error = upstreamErrorOf(res.status, await textOf(res));
        deliver(JSON.stringify({ jsonrpc: '2.0', error, id: message.id }));
        return;
      }
      await relayReply(res, {
        deliver,
        awaiting: message.id,
        resume,
        signal,
        onAnswer: (m) => {
          if (!m.result) return true;
          // The client still gets its result; the new server is initialized with its params next.
          if (answeredTooLate(sent, res)) {
            initParams = message.params;
            return true;
          }
          ok = true;
          // Adopt before the client sees the result: its next message may follow at once.
          adopt(headerOf(res, 'mcp-session-id') ?? null, versionOf(m.result));
          initParams = message.params;
          isReady = true;
          options.onInitialized({
            sessionId,
            protocolVersion: versionOf(m.result),
            params: message.params,
            byClient: true,
          });
          return true;
        },
      });
    } finally {
      // A move meanwhile may have started the next initialize: that one stays.
      if (!ok && ready === mine) ready = undefined;
      settle();
    }
  }

  async function forward(message: ClientMessage): Promise<ForwardOutcome> {
    for (let attempt = 0; ; attempt++) {
      const sent = sessionId;
      const res = await post(message.body, true, message.observed?.requestId);
      if (res.status >= 200 && res.status < 300) {
        if (message.kind !== 'request') {
          await res.body.bytes();
          return { ok: true };
        }
        if (await relayReply(res, { deliver, awaiting: message.id, resume, signal })) return { ok: true };
        const error = { code: JSONRPC.SERVER_ERROR, message: 'Upstream closed the stream before responding' };
        return { ok: false, error };
      }
      const text = await textOf(res);
      if (attempt === 0 && sent !== null && isSessionLost(res.status, text)) {
        await reinitialize(sent);
        continue;
      }
      return { ok: false, error: upstreamErrorOf(res.status, text) };
    }
  }

  /** Ends upstream session `id` on the server at `at` (`DELETE`); never throws. */
  async function endAt(at: UpstreamTarget, headersThere: Record<string, string>, id: string): Promise<void> {
    try {
      const res = await client.send(at, {
        method: 'DELETE',
        headers: { ...headersThere, 'mcp-session-id': id },
        signal: AbortSignal.timeout(DELETE_TIMEOUT_MS),
      });
      await res.body.bytes();
    } catch (err) {
      logger.debug({ code: (err as GatewayError).code }, 'upstream DELETE failed');
    }
  }

  /**
   * An initialize answered by the server the brain has just moved away from: its session is ended there
   * and not adopted. True when that was the case.
   */
  function answeredTooLate(
    sent: { placement: number; target: UpstreamTarget; base: Record<string, string> },
    res: UpstreamRawResponse,
  ): boolean {
    if (placement === sent.placement) return false;
    const id = headerOf(res, 'mcp-session-id');
    if (id !== undefined) void endAt(sent.target, sent.base, id);
    logger.info('an upstream initialize answered after the brain moved; ended on the old server');
    return true;
  }

  async function terminate(): Promise<void> {
    stream?.abort();
    if (sessionId === null) return;
    const id = sessionId;
    sessionId = null;
    await endAt(target, headers, id);
  }

  /**
   * The brain was changed by an admin. New credentials apply to the next request (and the GET stream is
   * reopened with them): a rotated upstream key stops being used at once. A new URL is another server,
   * where this upstream session means nothing: it is ended on the old one and a new one is initialized
   * on the new one with the same `initialize` params, as after an upstream restart.
   */
  function retarget(next: { target: UpstreamTarget; credentials: Readonly<Record<string, string>> }): void {
    const moved = next.target.url !== target.url;
    const nextBase = baseFor(next.credentials);
    const unchanged =
      !moved &&
      next.target.connectTimeoutMs === target.connectTimeoutMs &&
      next.target.firstByteTimeoutMs === target.firstByteTimeoutMs &&
      sameRecord(nextBase, base);
    if (unchanged) return;
    if (moved && sessionId !== null) void terminate(); // to the old URL, with the old credentials
    if (moved) placement++;
    logger.info({ moved }, 'upstream session follows the changed brain');
    target = next.target;
    base = nextBase;
    if (!moved) {
      adopt(sessionId, protocolVersion);
      if (stream && isReady) openStream();
      return;
    }
    const wasStarted = ready !== undefined;
    reset();
    ready = undefined;
    if (!wasStarted || initParams === undefined) return;
    ensureReady(async () => initParams).catch((err) =>
      logger.warn({ code: (err as GatewayError).code }, 'upstream initialize at the new URL failed'),
    );
  }

  return {
    retarget,
    get initialized() {
      return ready !== undefined;
    },
    get ready() {
      return isReady;
    },
    initializeForClient,
    ensureReady,
    async clientInitialized(message) {
      if (!initializedSent) {
        initializedSent = true;
        await (await post(message.body, true, message.observed?.requestId)).body.bytes();
      }
      if (!stream) openStream();
    },
    forward,
    terminate,
  };
}
