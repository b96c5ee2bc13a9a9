/**
 * One legacy (2024-11-05 HTTP+SSE) session: the client's stream, its upstream leg, its store record and
 * its place in the live-session registry, with one lifecycle. Does I/O (store, upstream, client socket).
 *
 * Client stream closed (or overflowing, revoked, deleted, shutdown) → upstream `DELETE`, record removed
 * (issue 4 "Lifecycle"). The hot path touches no database: last-seen is written at most once per
 * keep-alive interval, and only for a session that saw traffic (DESIGN.md §4).
 */
import { setMaxListeners } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Principal } from '../auth/authenticator.js';
import { generateSessionId } from '../auth/tokens.js';
import { selectBridgeLeg } from '../era/leg-switch.js';
import type { GatewayDeps } from '../http/context.js';
import { formatSseEvent, KEEPALIVE_COMMENT } from '../mcp/sse.js';
import type { LiveSession } from '../sessions/registry.js';
import type { ResolvedBrain } from '../store/brain-cache.js';
import type { ClientMessage } from './client-messages.js';
import { type ClientStreamEnd, openClientStream } from './client-stream.js';
import { createClientToUpstream, defaultInitParams } from './client-to-upstream.js';
import { createUpstreamSession, type UpstreamInitialized } from './upstream-session.js';

export interface LegacySession extends LiveSession {
  /** Takes the messages of one accepted POST; replies arrive on the client's stream. */
  accept(messages: ClientMessage[], clientVersion: string | undefined): void;
  /** Requests accepted and not answered yet. */
  readonly inflight: number;
  /** An admin changed the brain: later upstream calls use its new URL and credentials. */
  brainChanged(next: ResolvedBrain): void;
}

export interface OpenLegacySessionOptions {
  deps: Pick<GatewayDeps, 'store' | 'logger' | 'upstream' | 'instanceId' | 'sessions' | 'lifecycle' | 'bus'>;
  principal: Principal;
  brain: ResolvedBrain;
  res: ServerResponse;
  /** Extra response headers for the stream (CORS, set by middleware). */
  headers: Record<string, string>;
  maxBufferedBytes: number;
  /** `retry:` sent with the endpoint event: how soon a dropped v1 client reconnects (its default is 3 s). */
  retryMs: number;
  onClosed(session: LegacySession): void;
}

/** Enough of a session id to correlate log lines, too little to use it (DESIGN.md §5). */
export const shortId = (id: string) => `${id.slice(0, 6)}…`;

export async function openLegacySession(options: OpenLegacySessionOptions): Promise<LegacySession> {
  const { deps, principal, brain } = options;
  const { store } = deps;
  const id = generateSessionId();
  const logger = deps.logger.child({ session: shortId(id), brain: brain.id, tokenId: principal.tokenId });
  await store.putSession({
    id,
    brain: brain.id,
    kind: 'legacy',
    org: principal.org,
    tokenId: principal.tokenId,
    ownerInstance: deps.instanceId,
    upstreamSessionId: null,
    protocolVersion: null,
    initParams: null,
  });

  const abort = new AbortController();
  // Every upstream call in flight listens on it until it settles (src/proxy/dispatch.ts): a client with
  // many concurrent calls is normal, not a leak, so Node's warning at 10 listeners does not apply.
  setMaxListeners(0, abort.signal);
  let closing: Promise<void> | undefined;
  let active = false;
  /** Requests handed to the leg and not finished (src/limits/legacy-messages.ts bounds it). */
  let inflight = 0;
  const stream = openClientStream({
    res: options.res,
    headers: options.headers,
    maxBufferedBytes: options.maxBufferedBytes,
    onClose: (reason: ClientStreamEnd, backlog: number) => {
      // Never silent: a client that stops reading is dropped, and the log says why (issue 4 §5).
      if (reason === 'client not reading')
        logger.warn({ backlog }, 'legacy client stopped reading; disconnected');
      void session.close(reason);
    },
  });
  const deliver = (json: string) => {
    stream.write(formatSseEvent({ event: 'message', data: json }));
  };

  function recordInitialized(info: UpstreamInitialized) {
    if (info.byClient) deps.sessions.rememberInit(principal.tokenId, brain.id, info.params);
    const persist = async () => {
      await store.updateSession(brain.id, id, {
        upstreamSessionId: info.sessionId,
        protocolVersion: info.protocolVersion,
        initParams: info.params,
      });
      if (info.byClient) await store.setLastInitParams(principal.tokenId, brain.id, info.params);
    };
    persist().catch((err) => logger.warn({ code: err?.code }, 'could not record the session'));
  }
  const fallbackInitParams = async (clientVersion: string | undefined) => {
    const last =
      deps.sessions.recallInit(principal.tokenId, brain.id) ??
      (await store.getLastInitParams(principal.tokenId, brain.id).catch(() => undefined));
    return last ?? defaultInitParams(clientVersion);
  };

  const upstream = createUpstreamSession({
    client: deps.upstream,
    target: {
      url: brain.upstreamUrl,
      connectTimeoutMs: brain.connectTimeoutMs,
      firstByteTimeoutMs: brain.firstByteTimeoutMs,
    },
    credentials: brain.upstreamHeaders,
    deliver,
    logger,
    signal: abort.signal,
    onInitialized: recordInitialized,
  });

  const handle = createClientToUpstream({
    upstream,
    deliver,
    logger,
    signal: abort.signal,
    fallbackInitParams,
  });
  // The brain's era picks the leg: this 2025 one, or translation to a 2026-07-28 upstream (issue 6).
  const leg = selectBridgeLeg({
    deps,
    brain,
    legacy: { handle, terminate: () => upstream.terminate(), initialized: () => upstream.ready },
    modern: { deliver, logger, signal: abort.signal, fallbackInitParams, onInitialized: recordInitialized },
  });

  const session: LegacySession = {
    id,
    kind: 'legacy',
    org: principal.org,
    brain: brain.id,
    tokenId: principal.tokenId,
    accept(messages, clientVersion) {
      active = true;
      // Answered 202 already, finished on the stream later: a drain waits for it (src/http/inflight.ts).
      for (const message of messages) {
        const done = deps.lifecycle.inflight.begin();
        const { observed } = message;
        const request = message.kind === 'request';
        if (request) inflight++;
        // The audit entry and metrics of the message close with its exchange (src/observe/observe.ts).
        const end = () => {
          if (request) inflight--;
          done();
          observed?.end();
        };
        void leg.handle(message, clientVersion).finally(end);
      }
    },
    get inflight() {
      return inflight;
    },
    brainChanged(next) {
      // The 2025 leg follows at once. A session translated to a 2026-07-28 upstream (src/era) keeps the
      // brain it opened with until its client reconnects.
      upstream.retarget({
        target: {
          url: next.upstreamUrl,
          connectTimeoutMs: next.connectTimeoutMs,
          firstByteTimeoutMs: next.firstByteTimeoutMs,
        },
        credentials: next.upstreamHeaders,
      });
    },
    push(message) {
      return stream.write(formatSseEvent({ event: 'message', data: message }));
    },
    keepAlive() {
      stream.write(KEEPALIVE_COMMENT);
      if (!active) return;
      active = false;
      store.touchSession(brain.id, id).catch(() => {});
    },
    close(reason) {
      closing ??= (async () => {
        deps.sessions.remove(session);
        options.onClosed(session);
        stream.end();
        abort.abort();
        await leg.terminate();
        await store.deleteSession(brain.id, id).catch(() => {});
        logger.info({ reason }, 'legacy session closed');
      })();
      return closing;
    },
  };

  deps.sessions.add(session);
  stream.write(
    formatSseEvent({
      event: 'endpoint',
      data: `/brains/${brain.id}/messages?sessionId=${id}`,
      retry: options.retryMs,
    }),
  );
  logger.info('legacy session opened');
  return session;
}
