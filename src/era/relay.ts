/**
 * What this instance holds of translated pass-through sessions, and how a client message reaches the
 * instance that needs it (issue 6 §3). In-process registry plus the event bus; no other I/O.
 *
 * A 2025 client answers an `elicitation/create` (or cancels a request) with a new POST, which the load
 * balancer may send to any instance, while the exchange waiting for it lives on the instance holding
 * the request's response stream. So a client message is handled here when its exchange is here, and
 * otherwise published (`session.message`) for the instance that has it. Likewise the GET streams of a
 * session hear of state changes (`session.changed`) wherever those were made.
 *
 * Bus payloads are bounded (Postgres NOTIFY < 8000 bytes): an answer larger than that cannot cross
 * instances and is refused with ERR_PAYLOAD_TOO_LARGE (README "Era translation").
 */
import type { EventBus } from '../events.js';
import type { Lifecycle } from '../http/context.js';
import type { JsonRpcId } from '../mcp/jsonrpc.js';
import type { Asker } from './asker.js';
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
  track(brain: string, sessionId: string, exchange: Exchange): () => void;
  addFeed(brain: string, sessionId: string, feed: Feed): () => void;
  /** A client's response or `notifications/cancelled`, wherever its exchange is. */
  route(brain: string, sessionId: string, message: Json, text: string): Promise<void>;
  /** A new state, made here: the feeds here follow it before this resolves. */
  applied(session: TranslatedSession): Promise<void>;
  /** The session ended here: its exchanges and feeds end too. */
  ended(brain: string, sessionId: string): void;
}

const key = (brain: string, id: string) => `${brain}\u0000${id}`;

export function createSessionRelay(options: { bus: EventBus; lifecycle: Lifecycle }): SessionRelay {
  const { bus } = options;
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

  function handleHere(k: string, message: Json, text: string): boolean {
    const here = exchanges.get(k);
    if (!here) return false;
    if ('result' in message || 'error' in message) {
      const id = message.id as JsonRpcId;
      for (const exchange of here) if (exchange.asker.answer(id, text)) return true;
      return false;
    }
    if (message.method === 'notifications/cancelled') {
      const params = message.params as { requestId?: unknown } | undefined;
      let found = false;
      for (const exchange of [...here]) {
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
      case 'session.message': {
        let message: Json;
        try {
          message = JSON.parse(event.message) as Json;
        } catch {
          return;
        }
        handleHere(key(event.brainId, event.sessionId), message, event.message);
        return;
      }
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
    track: (brain, sessionId, exchange) => add(exchanges, key(brain, sessionId), exchange),
    addFeed: (brain, sessionId, feed) => add(feeds, key(brain, sessionId), feed),
    async route(brain, sessionId, message, text) {
      if (handleHere(key(brain, sessionId), message, text)) return;
      await bus.publish({ type: 'session.message', brainId: brain, sessionId, message: text });
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
