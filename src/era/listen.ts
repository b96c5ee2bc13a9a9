/**
 * Pushes from a 2026-07-28 upstream for one translated session: a `subscriptions/listen` stream
 * (spec2026.md §1.4) whose `list_changed` and `resources/updated` notifications reach the legacy client
 * as unsolicited notifications. Does I/O through the shared UpstreamClient.
 *
 * A new filter (the client subscribed or unsubscribed a resource) opens a new stream and closes the old
 * one only once the new one is acknowledged, so nothing is missed across the switch (a duplicate may
 * arrive; spec2026.md §3(b)5). A stream that ends or fails is opened again after a backoff.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { readSseStream } from '../mcp/sse.js';
import { newRequestId } from '../observe/observation.js';
import { isEventStream } from '../proxy/headers.js';
import { type ModernUpstream, upstreamId } from './upstream-call.js';
import { type ClientSide, META, modernRequest } from './wire.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

/** What to listen for: every list the upstream says can change, and the client's subscribed URIs. */
export function listenFilter(capabilities: Json, subscriptions: readonly string[]): ListenFilter | undefined {
  const filter: ListenFilter = {};
  const changes = (name: string) =>
    isObject(capabilities[name]) && (capabilities[name] as Json).listChanged === true;
  if (changes('tools')) filter.toolsListChanged = true;
  if (changes('prompts')) filter.promptsListChanged = true;
  if (changes('resources')) filter.resourcesListChanged = true;
  if (subscriptions.length > 0) filter.resourceSubscriptions = [...subscriptions];
  return Object.keys(filter).length > 0 ? filter : undefined;
}

/** A listen notification as a legacy one: without the subscription id (spec2026.md §3(b)). */
export function unsolicited(message: Json): Json {
  if (!isObject(message.params) || !isObject(message.params._meta)) return message;
  const { [META.subscriptionId]: _id, ...meta } = message.params._meta;
  const params: Json = { ...message.params };
  if (Object.keys(meta).length === 0) delete params._meta;
  else params._meta = meta;
  return { ...message, params };
}

export interface ListenFeedOptions {
  upstream: ModernUpstream;
  client(): ClientSide;
  /** A notification for the client (already in the legacy shape). */
  deliver(message: Json): void;
  logger: Logger;
  /** `notifications/tools/list_changed` came: `Mcp-Param-*` annotations may have changed. */
  onToolsChanged?(): void;
  /** How long a new stream may take to be acknowledged. */
  ackTimeoutMs?: number;
}

export interface ListenFeed {
  /**
   * Listens with this filter from now on (nothing when undefined); resolves once acknowledged.
   * `requestId`: the client request that asked for it (a subscribe), sent as `X-Request-Id` on the new
   * stream. A stream opened again after it ended serves no request: it gets a fresh id.
   */
  update(filter: ListenFilter | undefined, requestId?: string): Promise<void>;
  close(): void;
}

interface Stream {
  controller: AbortController;
  acked: Promise<void>;
  done: Promise<void>;
  ended: boolean;
}

export function createListenFeed(options: ListenFeedOptions): ListenFeed {
  const { upstream, logger } = options;
  const ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
  let current: { stream: Stream; filter: ListenFilter } | undefined;
  let closed = false;
  let queue: Promise<void> = Promise.resolve();
  let failures = 0;

  function open(filter: ListenFilter, requestId: string): Stream {
    const controller = new AbortController();
    let ack!: () => void;
    let nack!: (err: unknown) => void;
    const acked = new Promise<void>((resolve, reject) => {
      ack = resolve;
      nack = reject;
    });
    acked.catch(() => {});
    const stream: Stream = { controller, acked, done: Promise.resolve(), ended: false };
    stream.done = (async () => {
      try {
        const { headers, body } = modernRequest({
          id: upstreamId(),
          method: 'subscriptions/listen',
          params: { notifications: filter },
          client: options.client(),
          credentials: upstream.credentials,
          requestId,
        });
        const res = await upstream.client.send(upstream.target, {
          method: 'POST',
          headers,
          body,
          signal: controller.signal,
        });
        const type = res.headers['content-type'];
        if (res.status !== 200 || !isEventStream(Array.isArray(type) ? type[0] : type)) {
          res.body.destroy();
          throw new GatewayError(
            'ERR_UPSTREAM_UNREACHABLE',
            `Upstream refused subscriptions/listen (HTTP ${res.status})`,
          );
        }
        await readSseStream(res.body, {
          onEvent(event) {
            if (event.data === '') return;
            let message: Json;
            try {
              message = JSON.parse(event.data) as Json;
            } catch {
              return;
            }
            if (message.method === 'notifications/subscriptions/acknowledged') return ack();
            if (typeof message.method !== 'string' || message.id !== undefined) return; // the closing result
            if (message.method === 'notifications/tools/list_changed') options.onToolsChanged?.();
            options.deliver(unsolicited(message));
          },
        });
        nack(
          new GatewayError(
            'ERR_UPSTREAM_UNREACHABLE',
            'Upstream ended subscriptions/listen before acknowledging it',
          ),
        );
      } catch (err) {
        nack(err);
      } finally {
        stream.ended = true;
      }
    })();
    return stream;
  }

  /** Keeps the current stream alive: opened again (with backoff) whenever it ends. */
  function watch(stream: Stream, filter: ListenFilter) {
    void stream.done.then(async () => {
      if (closed || current?.stream !== stream) return;
      failures++;
      const wait = Math.min(250 * 2 ** Math.min(failures, 7), 30_000);
      await delay(wait);
      if (closed || current?.stream !== stream) return;
      logger.debug({ failures }, 'subscriptions/listen ended; listening again');
      void feed.update(filter).catch(() => {});
    });
  }

  async function switchTo(filter: ListenFilter | undefined, requestId: string): Promise<void> {
    if (closed) return;
    const previous = current;
    if (!filter) {
      current = undefined;
      previous?.stream.controller.abort();
      return;
    }
    const stream = open(filter, requestId);
    const timer = setTimeout(() => stream.controller.abort(), ackTimeoutMs);
    try {
      await stream.acked;
    } catch (err) {
      stream.controller.abort();
      if (!current || current.stream.ended) {
        // Nothing is listening now: try again later rather than leave the client deaf.
        current = { stream, filter };
        watch(stream, filter);
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
    failures = 0;
    current = { stream, filter };
    previous?.stream.controller.abort();
    if (closed) stream.controller.abort();
    else watch(stream, filter);
  }

  const feed: ListenFeed = {
    update(filter, requestId = newRequestId()) {
      const next = queue.then(() => switchTo(filter, requestId));
      queue = next.catch(() => {});
      return next;
    },
    close() {
      closed = true;
      current?.stream.controller.abort();
      current = undefined;
    },
  };
  return feed;
}
