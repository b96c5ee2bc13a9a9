/**
 * Admin notify across instances (issue 5 §5): `POST /admin/v1/brains/:brain/notify` delivers to the
 * brain's sessions on this instance and asks every other live instance to do the same for its own, over
 * the signed internal route `POST /internal/v1/brains/:brain/notify`; `{delivered}` is the sum. A peer
 * that cannot be reached within the timeout counts 0 (and is logged), so a dead peer never delays the
 * answer past the timeout. I/O: the Store (instance list), the peers over HTTP.
 */
import { request } from 'undici';
import type { GatewayDeps } from '../http/context.js';
import type { NotifyParams } from '../sessions/registry.js';
import { signInternalCall } from './internal-token.js';

const PEER_TIMEOUT_MS = 2_000;

/** The `sub` of a notify call: never a session id (those have no colon). */
export const notifySubject = (brain: string) => `notify:${brain}`;

/** How many of the brain's sessions on other live instances got the notification. */
export async function notifyPeers(
  deps: Pick<GatewayDeps, 'config' | 'store' | 'secrets' | 'logger' | 'instanceId'>,
  brain: string,
  params: NotifyParams,
): Promise<number> {
  if (deps.store.kind !== 'postgres') return 0;
  const now = Date.now();
  const peers = (await deps.store.listInstances()).filter(
    (i) => i.id !== deps.instanceId && now - i.heartbeatAt.getTime() <= deps.config.instanceTtlMs,
  );
  const body = JSON.stringify(params);
  const counts = await Promise.all(
    peers.map(async (peer) => {
      try {
        const token = await signInternalCall(
          deps.secrets.signingKey,
          {
            from: deps.instanceId,
            to: peer.id,
            sessionId: notifySubject(brain),
            brain,
            tokenId: '',
            protocolVersion: undefined,
          },
          body,
        );
        const res = await request(`${peer.url}/internal/v1/brains/${encodeURIComponent(brain)}/notify`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
          headersTimeout: PEER_TIMEOUT_MS,
          bodyTimeout: PEER_TIMEOUT_MS,
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
