/**
 * What this instance holds of translated pass-through sessions, and how a client message reaches the
 * instance that needs it (issue 6 §3). In-process registry; messages for other instances go through
 * src/routing/translated-messages.ts, state changes through the event bus.
 *
 * A 2025 client answers an `elicitation/create` (or cancels a request) with a new POST, which the load
 * balancer may send to any instance, while the exchange waiting for it lives on the instance holding
 * the request's response stream. So a client message is handled here when its exchange is here, and
 * otherwise sent over the signed internal route: an answer to the instance whose tag its id carries
 * (./asker.ts), a cancel to every other live instance. Any size the client may post crosses; a message
 * whose exchange no longer exists anywhere is dropped. The GET streams of a session hear of state changes
 * (`session.changed`) wherever those were made.
 *
 * One relay per GatewayDeps (`sessionRelay(deps)`), shared by the Streamable HTTP face, which tracks its
 * exchanges, and the internal route (src/http/internal.ts), which delivers messages to them.
 */
import { GatewayError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { GatewayDeps, Lifecycle } from '../http/context.js';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import {
  createPeerMessages,
  type Delivery,
  instanceTag,
  type MessageTarget,
  type PeerMessages,
} from '../routing/translated-messages.js';
import { type Asker, tagOfAskId } from './asker.js';
import type { TranslatedSession } from './translated-sessions.js';

type Json = Record<string, unknown>;

export interface Exchange {
  tokenId: string;
  /** The client's id of the request being translated. */
  requestId: JsonRpcId;
  asker: Asker;
  abort(reason: string): void;
}

export interface Feed {
  tokenId: string;
  /** Follows a new state of the session (resolves once the upstream acknowledged it). */
  apply(session: TranslatedSession): Promise<void>;
  /** Reads the session again (it changed on another instance, or ended). */
  reload(): void;
  close(reason: string): void;
}

export interface SessionRelay {
  /** This instance's tag, for the ids of the requests its askers send (./asker.ts). */
  readonly tag: string;
  track(brain: string, sessionId: string, exchange: Exchange): () => void;
  addFeed(brain: string, sessionId: string, feed: Feed): () => void;
  /**
   * A client's response or `notifications/cancelled`, wherever its exchange is. Rejects with
   * ERR_UPSTREAM_UNREACHABLE when the instance that may wait for it could not be reached: the client's
   * POST then gets 503, so it sends the answer again rather than leave the request waiting.
   */
  route(session: TranslatedSession, message: Json, text: string): Promise<void>;
  /** A client message another instance sent here; false when nothing here waits for it. */
  deliver(target: MessageTarget, text: string): boolean;
  /** A new state, made here: the feeds here follow it before this resolves. */
  applied(session: TranslatedSession): Promise<void>;
  /** The session ended here: its exchanges and feeds end too. */
  ended(brain: string, sessionId: string): void;
}

const key = (brain: string, id: string) => `${brain}\u0000${id}`;

export interface SessionRelayOptions {
  bus: EventBus;
  lifecycle: Lifecycle;
  /** This instance's tag (src/routing/translated-messages.ts `instanceTag`). */
  tag: string;
  peers: PeerMessages;
}

export function createSessionRelay(options: SessionRelayOptions): SessionRelay {
  const { bus, tag, peers } = options;
  const exchanges = new Map<string, Set<Exchange>>();
  const feeds = new Map<string, Set<Feed>>();

  const add = <T>(map: Map<string, Set<T>>, k: string, item: T) => {
    const set = map.get(k) ?? new Set<T>();
    map.set(k, set);
    set.add(item);
    return () => {
      set.delete(item);
      if (set.size === 0 && map.get(k) === set) map.delete(k);
    };
  };

  function handleHere(target: MessageTarget, message: Json, text: string): boolean {
    const here = [...(exchanges.get(key(target.brain, target.sessionId)) ?? [])].filter(
      (exchange) => exchange.tokenId === target.tokenId,
    );
    if ('result' in message || 'error' in message) {
      const id = message.id as JsonRpcId;
      for (const exchange of here) if (exchange.asker.answer(id, text)) return true;
      return false;
    }
    if (message.method === 'notifications/cancelled') {
      const params = message.params as { requestId?: unknown } | undefined;
      let found = false;
      for (const exchange of here) {
        if (String(exchange.requestId) !== String(params?.requestId)) continue;
        exchange.abort('cancelled by the client');
        found = true;
      }
      return found;
    }
    return false;
  }

  const endWhere = (match: (item: { tokenId: string }, k: string) => boolean, reason: string) => {
    for (const [k, set] of exchanges) for (const e of [...set]) if (match(e, k)) e.abort(reason);
    for (const [k, set] of feeds) for (const f of [...set]) if (match(f, k)) f.close(reason);
  };

  bus.subscribe((event) => {
    switch (event.type) {
      case 'session.changed':
        for (const feed of feeds.get(key(event.brainId, event.sessionId)) ?? []) feed.reload();
        return;
      case 'token.revoked':
        endWhere((item) => item.tokenId === event.tokenId, 'token revoked');
        return;
      case 'brain.deleted':
        endWhere((_item, k) => k.startsWith(`${event.brainId}\u0000`), 'brain deleted');
        return;
      default:
    }
  });
  options.lifecycle.onShutdown(() => endWhere(() => true, 'shutting down'));

  return {
    tag,
    track: (brain, sessionId, exchange) => add(exchanges, key(brain, sessionId), exchange),
    addFeed: (brain, sessionId, feed) => add(feeds, key(brain, sessionId), feed),
    async route(session, message, text) {
      const target = { brain: session.brain, sessionId: session.id, tokenId: session.tokenId };
      if (handleHere(target, message, text)) return;
      let delivery: Delivery = 'nowhere';
      if ('result' in message || 'error' in message) {
        // Asked by another instance (its tag is in the id), or by one that no longer waits for it.
        const asker = tagOfAskId(message.id);
        if (asker !== undefined && asker !== tag) delivery = await peers.toTagged(asker, target, text);
      } else if (message.method === 'notifications/cancelled') {
        delivery = await peers.toEveryone(target, text);
      }
      if (delivery === 'undelivered') {
        throw new GatewayError(
          'ERR_UPSTREAM_UNREACHABLE',
          'Service unavailable: the instance waiting for this message could not be reached; send it again',
          { expose: true },
        );
      }
    },
    deliver(target, text) {
      let message: Json;
      try {
        message = JSON.parse(text) as Json;
      } catch {
        return false;
      }
      return handleHere(target, message, text);
    },
    async applied(session) {
      const here = [...(feeds.get(key(session.brain, session.id)) ?? [])];
      await Promise.all(here.map((feed) => feed.apply(session)));
    },
    ended(brain, sessionId) {
      const k = key(brain, sessionId);
      endWhere((_item, itemKey) => itemKey === k, 'session deleted');
    },
  };
}

const relays = new WeakMap<object, SessionRelay>();

/** The relay of this gateway (created on first use). */
export function sessionRelay(
  deps: Pick<GatewayDeps, 'config' | 'store' | 'secrets' | 'logger' | 'bus' | 'lifecycle' | 'instanceId'>,
): SessionRelay {
  let relay = relays.get(deps);
  if (!relay) {
    relay = createSessionRelay({
      bus: deps.bus,
      lifecycle: deps.lifecycle,
      tag: instanceTag(deps.instanceId),
      peers: createPeerMessages(deps),
    });
    relays.set(deps, relay);
  }
  return relay;
}
