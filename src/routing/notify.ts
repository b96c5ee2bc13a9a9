/**
 * Admin notify across instances (issue 5 §5): `POST /admin/v1/brains/:brain/notify` delivers to the
 * brain's sessions on this instance and asks every other live instance to do the same for its own, over
 * the signed internal route `POST /internal/v1/brains/:brain/notify`; `{delivered}` is the sum. A peer
 * that cannot be reached within the timeout counts 0 (and is logged), so a dead peer never delays the
 * answer past the timeout. I/O: the Store (instance list), the peers over HTTP.
 */
import type { GatewayDeps } from '../http/context.js';
import type { NotifyParams } from '../sessions/registry.js';
import { callPeer, livePeers } from './peers.js';

const PEER_TIMEOUT_MS = 2_000;

/** The `sub` of a notify call: never a session id (those have no colon). */
export const notifySubject = (brain: string) => `notify:${brain}`;

/** How many of the brain's sessions on other live instances got the notification. */
export async function notifyPeers(
  deps: Pick<GatewayDeps, 'config' | 'store' | 'secrets' | 'logger' | 'instanceId'>,
  brain: string,
  params: NotifyParams,
): Promise<number> {
  const peers = await livePeers(deps);
  const body = JSON.stringify(params);
  const counts = await Promise.all(
    peers.map(async (peer) => {
      try {
        const res = await callPeer(deps, {
          peer,
          path: `/brains/${encodeURIComponent(brain)}/notify`,
          claims: { sessionId: notifySubject(brain), brain, tokenId: '', protocolVersion: undefined },
          body,
          timeoutMs: PEER_TIMEOUT_MS,
        });
        const answer = (await res.body.json().catch(() => ({}))) as { delivered?: unknown };
        return res.statusCode === 200 && typeof answer.delivered === 'number' ? answer.delivered : 0;
      } catch (err) {
        deps.logger.warn({ peer: peer.id, code: (err as { code?: string }).code }, 'peer not notified');
        return 0;
      }
    }),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}
