/**
 * The other instances of this deployment and one signed call to any of them (issue 5 §2): the live peers
 * from the instance registry, and a POST to a peer's `/internal/v1` route carrying a JWT bound to the body
 * (./internal-token.ts). I/O: the Store, the peer over HTTP.
 *
 * A plain undici request, not deps.upstream: instance addresses are private by design, and the upstream
 * client's SSRF guard refuses those.
 */
import { type Dispatcher, request } from 'undici';
import type { GatewayDeps } from '../http/context.js';
import type { InstanceRecord } from '../store/types.js';
import { type InternalCallClaims, signInternalCall } from './internal-token.js';

export interface PeerCall {
  peer: Pick<InstanceRecord, 'id' | 'url'>;
  /** Below `/internal/v1`, e.g. `/sessions/notes/s-1/messages`. */
  path: string;
  /** What the callee checks again: the session (or subject), brain, token and protocol version. */
  claims: Omit<InternalCallClaims, 'from' | 'to'>;
  body: string;
  /** For the answer's headers and its body alike. */
  timeoutMs: number;
  headers?: Record<string, string>;
}

/**
 * @example
 * const res = await callPeer(deps, { peer, path: `/brains/notes/notify`, claims, body, timeoutMs: 2000 });
 * if (res.statusCode === 200) …
 */
export async function callPeer(
  deps: Pick<GatewayDeps, 'secrets' | 'instanceId'>,
  call: PeerCall,
): Promise<Dispatcher.ResponseData> {
  const token = await signInternalCall(
    deps.secrets.signingKey,
    { ...call.claims, from: deps.instanceId, to: call.peer.id },
    call.body,
  );
  return request(`${call.peer.url}/internal/v1${call.path}`, {
    method: 'POST',
    headers: { ...call.headers, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: call.body,
    headersTimeout: call.timeoutMs,
    bodyTimeout: call.timeoutMs,
  });
}

/**
 * Every other instance that has beaten within the TTL (or every other registered one, `staleToo`: right
 * after a database outage longer than the TTL, live peers have not beaten yet); none with a store that
 * has no peers.
 */
export async function livePeers(
  deps: Pick<GatewayDeps, 'config' | 'store' | 'instanceId'>,
  options: { staleToo?: boolean } = {},
): Promise<InstanceRecord[]> {
  if (deps.store.kind !== 'postgres') return [];
  const now = Date.now();
  return (await deps.store.listInstances()).filter(
    (i) =>
      i.id !== deps.instanceId &&
      (options.staleToo === true || now - i.heartbeatAt.getTime() <= deps.config.instanceTtlMs),
  );
}
