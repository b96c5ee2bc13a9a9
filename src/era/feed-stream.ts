/**
 * The standalone GET stream of a translated pass-through session (issue 6 §3): what a 2025 client reads
 * for unsolicited messages, fed from an upstream `subscriptions/listen` (list changes, updates of the
 * resources the session subscribed). Does I/O through the listen feed; holds one upstream stream while
 * the client's stream is open.
 */
import type { Logger } from '../log.js';
import { formatSseEvent, KEEPALIVE_COMMENT } from '../mcp/sse.js';
import { SSE_RESPONSE_HEADERS } from '../proxy/headers.js';
import { createListenFeed, listenFilter } from './listen.js';
import type { Feed } from './relay.js';
import type { ToolCatalog } from './tool-headers.js';
import { clientSideOfSession, type TranslatedSession } from './translated-sessions.js';
import type { ModernUpstream } from './upstream-call.js';

export interface FeedStreamOptions {
  session: TranslatedSession;
  upstream: ModernUpstream;
  catalog: ToolCatalog;
  /** The upstream's capabilities (`server/discover`): which lists can change. */
  capabilities: Record<string, unknown>;
  /** Reads the session again from the store (undefined once it is gone). */
  reload(): Promise<TranslatedSession | undefined>;
  /** Registers the feed with the relay; returns the function that unregisters it. */
  register(feed: Feed): () => void;
  keepAliveMs: number;
  logger: Logger;
}

const encoder = new TextEncoder();

export function openFeedStream(options: FeedStreamOptions): Response {
  const { logger } = options;
  let session = options.session;
  let closed = false;
  let unregister = () => {};
  let timer: NodeJS.Timeout | undefined;
  let lastWrite = Date.now();
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const listen = createListenFeed({
    upstream: options.upstream,
    client: () => clientSideOfSession(session),
    deliver: (message) => {
      if (closed) return;
      controller.enqueue(encoder.encode(formatSseEvent({ event: 'message', data: JSON.stringify(message) })));
      lastWrite = Date.now();
    },
    logger,
    onToolsChanged: () => options.catalog.invalidate(),
  });
  const filterOf = (s: TranslatedSession) => listenFilter(options.capabilities, s.state.subscriptions ?? []);

  const close = (reason: string) => {
    if (closed) return;
    closed = true;
    if (timer) clearInterval(timer);
    unregister();
    listen.close();
    try {
      controller.close();
    } catch {}
    logger.debug({ reason }, 'translated GET stream closed');
  };

  const feed: Feed = {
    tokenId: session.tokenId,
    async apply(next) {
      if (closed || next.state.rev <= session.state.rev) return;
      session = next;
      await listen.update(filterOf(next));
    },
    reload() {
      options
        .reload()
        .then((next) => (next ? feed.apply(next) : close('session ended')))
        .catch((err) =>
          logger.warn({ code: (err as { code?: string }).code }, 'translated session reload failed'),
        );
    },
    close,
  };

  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      close('client closed');
    },
  });
  unregister = options.register(feed);
  timer = setInterval(() => {
    if (closed || Date.now() - lastWrite < options.keepAliveMs) return;
    controller.enqueue(encoder.encode(KEEPALIVE_COMMENT));
    lastWrite = Date.now();
  }, options.keepAliveMs);
  timer.unref();
  listen.update(filterOf(session)).catch((err) => {
    logger.warn({ code: (err as { code?: string }).code }, 'subscriptions/listen failed; retrying');
  });
  return new Response(body, { status: 200, headers: { ...SSE_RESPONSE_HEADERS } });
}
