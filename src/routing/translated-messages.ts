/**
 * A translated session's client messages across instances (issue 6 §3, decision 0006). A 2025 client
 * answers the gateway's `elicitation/create` (or cancels its request) with a new POST that the load
 * balancer may send to any instance, while the exchange waiting for it lives on the instance holding the
 * request's response stream. The instance the POST reached sends it on over the signed internal route
 * `POST /internal/v1/translated/:brain/:id/messages` (src/http/internal.ts), so a message of any size the
 * client may post crosses (the event bus carries less than 8000 bytes):
 *
 * - an answer names the gateway's request id, which carries the asking instance's tag
 *   (src/era/asker.ts): it goes to that instance alone;
 * - a cancel names the client's own request id, which says nothing of where the request runs: it goes to
 *   every other live instance, and the one holding the request takes it.
 *
 * A peer that is gone, cannot be reached in time, or holds nothing for the message leaves it undelivered:
 * nothing waits for it anywhere, and the client's POST is answered all the same. I/O: the Store (the
 * instance list), the peers over HTTP.
 */
import { createHash } from 'node:crypto';
import type { GatewayDeps } from '../http/context.js';
import { callPeer, livePeers } from './peers.js';

/** A peer that has not taken the message by then is treated as gone. */
const PEER_TIMEOUT_MS = 5_000;

/** Whose session a message is for: the callee checks the token again against the exchange it holds. */
export interface MessageTarget {
  brain: string;
  sessionId: string;
  tokenId: string;
}

/**
 * `taken`: an instance's exchange has it. `nowhere`: no live exchange waits for it (the instance, or the
 * request, is gone): dropping it is right. `undelivered`: the instance list or a peer could not be
 * reached, so the one waiting may never hear of it: the client should send it again.
 */
export type Delivery = 'taken' | 'nowhere' | 'undelivered';

export interface PeerMessages {
  /** Sends a client message to the instance with this tag. */
  toTagged(tag: string, target: MessageTarget, text: string): Promise<Delivery>;
  /** Sends a client message to every other live instance. */
  toEveryone(target: MessageTarget, text: string): Promise<Delivery>;
}

/**
 * The tag of an instance in the ids of the requests it asks: opaque to clients (a digest, not the
 * instance id the admin API lists), and the same on every instance, so any of them finds the instance
 * record behind it. Pure.
 */
export const instanceTag = (instanceId: string) =>
  createHash('sha256').update(`mcpgate-ask:${instanceId}`).digest('hex').slice(0, 16);

export const translatedMessagesPath = (brain: string, sessionId: string) =>
  `/translated/${encodeURIComponent(brain)}/${encodeURIComponent(sessionId)}/messages`;

type Deps = Pick<GatewayDeps, 'config' | 'store' | 'secrets' | 'logger' | 'instanceId'>;

export function createPeerMessages(deps: Deps): PeerMessages {
  const { logger } = deps;

  async function send(peer: { id: string; url: string }, target: MessageTarget, text: string) {
    try {
      const res = await callPeer(deps, {
        peer,
        path: translatedMessagesPath(target.brain, target.sessionId),
        claims: { ...target, protocolVersion: undefined },
        body: text,
        timeoutMs: PEER_TIMEOUT_MS,
      });
      await res.body.dump();
      if (res.statusCode === 202) return 'taken';
      if (res.statusCode === 404) return 'nowhere';
      if (res.statusCode === 401) {
        logger.error({ peer: peer.id }, 'peer refused a signed internal call: is MCPGATE_SECRET shared?');
      }
      return 'undelivered';
    } catch (err) {
      logger.info(
        { peer: peer.id, code: (err as { code?: string }).code },
        'peer unreachable; a translated session message was not delivered',
      );
      return 'undelivered';
    }
  }

  /** The peers; undefined when the store cannot say. */
  const peers = (staleToo: boolean) =>
    livePeers(deps, { staleToo }).catch((err: unknown) => {
      logger.warn({ code: (err as { code?: string }).code }, 'instance list unavailable');
      return undefined;
    });

  return {
    async toTagged(tag, target, text) {
      // A stale heartbeat alone does not mean gone (./owner.ts): the tagged instance is still tried.
      const all = await peers(true);
      if (!all) return 'undelivered';
      const peer = all.find((p) => instanceTag(p.id) === tag);
      return peer ? send(peer, target, text) : 'nowhere';
    },
    async toEveryone(target, text) {
      const all = await peers(false);
      if (!all) return 'undelivered';
      const outcomes = await Promise.all(all.map((peer) => send(peer, target, text)));
      if (outcomes.includes('taken')) return 'taken';
      return outcomes.includes('undelivered') ? 'undelivered' : 'nowhere';
    },
  };
}
