/**
 * The gateway's internal event bus: wake-ups and cache invalidations between parts of one process, and
 * (with Postgres) between instances. Delivery is at-most-once: events never carry the only copy of
 * anything that matters (DESIGN.md §4).
 */

export type GatewayEvent =
  | { type: 'token.revoked'; tokenId: string }
  | { type: 'brain.changed'; brainId: string }
  | { type: 'brain.deleted'; brainId: string }
  | { type: 'brain.notify'; brainId: string; params: { level: string; logger?: string; data: unknown } }
  /** A translated session's state changed (log level, subscriptions), or the session ended (issue 6). */
  | { type: 'session.changed'; brainId: string; sessionId: string }
  /** Sent after a listener reconnects: notifications in the gap are lost, so every cache starts over. */
  | { type: 'resync' };

export type EventHandler = (event: GatewayEvent) => void;

export interface EventBus {
  publish(event: GatewayEvent): Promise<void>;
  subscribe(handler: EventHandler): () => void;
  close(): Promise<void>;
}

/** In-process bus: the single-instance default, and the local fan-out behind the Postgres bus. */
export function createLocalBus(): EventBus & { emitLocal(event: GatewayEvent): void } {
  const handlers = new Set<EventHandler>();
  const emitLocal = (event: GatewayEvent) => {
    for (const handler of handlers) handler(event);
  };
  return {
    emitLocal,
    async publish(event) {
      emitLocal(event);
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {
      handlers.clear();
    },
  };
}
