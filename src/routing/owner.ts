/**
 * Owner routing of legacy `POST /messages` (issue 5 §2, docs/scale-out.md "Owner routing"). A legacy
 * session lives on the instance holding its SSE stream (the owner). A POST that lands on another instance
 * is sent to the owner:
 *
 * - on Fly (FLY_MACHINE_ID set), for bodies ≤ 1 MB, by answering `fly-replay: instance=<owner machine>`:
 *   Fly's proxy re-delivers the real request to the owner, whose 202 (or 404) reaches the client;
 * - otherwise, and when the request is itself a replay (`fly-replay-src`) or a failed one
 *   (`fly-replay-failed`), or the body is larger, by forwarding it over HTTP to the owner's
 *   MCPGATE_INSTANCE_URL at `POST /internal/v1/sessions/:brain/:id/messages`, signed
 *   (./internal-token.ts). The owner answers the 202 and this instance relays it.
 *
 * Owner gone (no session record, owner not registered, heartbeat older than the TTL, connection refused or
 * no answer) → the same 404 as an unknown session, so the client reconnects.
 *
 * Hot path (issue 5 §4): owners are cached in-process per session, so a session already routed costs no
 * database round trip. An entry is dropped when the owner says the session is unknown, when the owner
 * cannot be reached, on `token.revoked` / `brain.deleted` for it, on `resync`, and after a TTL.
 *
 * One router per GatewayDeps (`ownerRouting(deps)`), shared by the legacy face, which attaches its local
 * sessions, and the internal route (src/http/internal.ts). I/O: the Store, the owner over HTTP.
 */
import type { Context } from 'hono';
import type { LegacySession } from '../bridge/legacy-session.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { AppEnv, GatewayDeps } from '../http/context.js';
import { bufferedBody, nodeOf } from '../http/sse-node.js';
import { JSONRPC, jsonRpcErrorResponse, sessionNotFoundResponse } from '../mcp/jsonrpc.js';
import { callPeer } from './peers.js';

/** Fly cannot replay larger requests (research/deploy.md §1.1). */
export const FLY_REPLAY_MAX_BYTES = 1024 * 1024;
/** How long the owner of a session is trusted without asking the store again. */
const OWNER_CACHE_TTL_MS = 5 * 60_000;
const OWNER_CACHE_MAX = 50_000;
/** An owner that has not answered a forwarded POST by then is treated as gone. */
const FORWARD_TIMEOUT_MS = 5_000;

export interface OwnerEntry {
  brain: string;
  tokenId: string;
  ownerId: string;
  url: string;
  machineId: string | null;
  expiresAt: number;
}

export type RoutedBy = 'fly-replay' | 'forward' | 'gone';

export interface OwnerRouting {
  /** The legacy face attaches its sessions here, so calls routed to this instance can reach them. */
  attachLocal(lookup: (id: string) => LegacySession | undefined): void;
  /** A legacy session held by this instance. */
  local(id: string): LegacySession | undefined;
  /** Answers a `POST /messages` for a session this instance does not hold. */
  route(c: Context<AppEnv>, sessionId: string): Promise<Response>;
  /** Counters for tests and the benchmark. */
  readonly stats: Record<RoutedBy | 'lookups', number>;
  readonly cacheSize: number;
}

type Deps = Pick<GatewayDeps, 'config' | 'store' | 'secrets' | 'logger' | 'bus' | 'instanceId' | 'observe'>;

const routers = new WeakMap<object, OwnerRouting>();

/** The router of this gateway (created on first use). */
export function ownerRouting(deps: Deps): OwnerRouting {
  let router = routers.get(deps);
  if (!router) {
    router = createOwnerRouting(deps);
    routers.set(deps, router);
  }
  return router;
}

const storeUnavailable = () =>
  jsonRpcErrorResponse(503, JSONRPC.SERVER_ERROR, 'Service unavailable: store not reachable', {
    headers: { 'retry-after': '2' },
  });

/** The POST body as text, at most `maxBytes` (ERR_PAYLOAD_TOO_LARGE past that, declared or counted). */
export async function readBodyText(c: Context, maxBytes: number): Promise<string> {
  const buffered = bufferedBody(nodeOf(c).incoming, maxBytes);
  if (buffered !== undefined) return buffered;
  const tooLarge = () =>
    new GatewayError('ERR_PAYLOAD_TOO_LARGE', `Payload Too Large: body must not exceed ${maxBytes} bytes`);
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();
  const body = c.req.raw.body;
  if (!body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

export function createOwnerRouting(deps: Deps): OwnerRouting {
  const { store, config, logger } = deps;
  const cache = new Map<string, OwnerEntry>();
  const pending = new Map<string, Promise<OwnerEntry | undefined>>();
  let localLookup: (id: string) => LegacySession | undefined = () => undefined;
  const stats = { 'fly-replay': 0, forward: 0, gone: 0, lookups: 0 };
  const count = (outcome: RoutedBy) => {
    stats[outcome]++;
    deps.observe.metrics.routedForwards.inc({ outcome });
  };

  const dropWhere = (predicate: (entry: OwnerEntry) => boolean) => {
    for (const [id, entry] of cache) if (predicate(entry)) cache.delete(id);
  };
  deps.bus.subscribe((event) => {
    if (event.type === 'resync') cache.clear();
    else if (event.type === 'token.revoked') dropWhere((e) => e.tokenId === event.tokenId);
    else if (event.type === 'brain.deleted') dropWhere((e) => e.brain === event.brainId);
  });

  /** The live owner of a legacy session other than this instance, from the store. */
  async function lookup(brain: string, id: string): Promise<OwnerEntry | undefined> {
    stats.lookups++;
    const session = await store.getSession(brain, id);
    if (session?.kind !== 'legacy' || session.ownerInstance === deps.instanceId) return undefined;
    const owner = await store.getInstance(session.ownerInstance);
    if (!owner) return undefined;
    // A stale heartbeat alone does not mean gone: right after a database outage longer than the TTL, live
    // owners have not beaten yet. Such an owner is still tried (refused or 404 → gone), but not cached.
    // Heartbeats are stamped by the database clock; a little skew only shifts the cutoff a little.
    const stale = Date.now() - owner.heartbeatAt.getTime() > config.instanceTtlMs;
    const entry: OwnerEntry = {
      brain: session.brain,
      tokenId: session.tokenId,
      ownerId: owner.id,
      url: owner.url,
      machineId: owner.machineId,
      expiresAt: Date.now() + OWNER_CACHE_TTL_MS,
    };
    if (stale) return entry;
    if (cache.size >= OWNER_CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(id, entry);
    return entry;
  }

  async function ownerOf(brain: string, id: string): Promise<OwnerEntry | undefined> {
    const hit = cache.get(id);
    if (hit && hit.expiresAt > Date.now()) return hit;
    if (hit) cache.delete(id);
    let inflight = pending.get(id);
    if (!inflight) {
      inflight = lookup(brain, id).finally(() => pending.delete(id));
      pending.set(id, inflight);
    }
    return inflight;
  }

  const gone = (id: string) => {
    count('gone');
    cache.delete(id);
    return sessionNotFoundResponse();
  };

  async function forward(c: Context<AppEnv>, owner: OwnerEntry, id: string, body: string): Promise<Response> {
    const principal = c.get('principal');
    let res: Awaited<ReturnType<typeof callPeer>>;
    try {
      res = await callPeer(deps, {
        peer: { id: owner.ownerId, url: owner.url },
        path: `/sessions/${encodeURIComponent(owner.brain)}/${encodeURIComponent(id)}/messages`,
        claims: {
          sessionId: id,
          brain: owner.brain,
          tokenId: principal.tokenId,
          protocolVersion: c.req.header('mcp-protocol-version'),
        },
        body,
        timeoutMs: FORWARD_TIMEOUT_MS,
        // The owner records the messages under the client's request id (issue 7 §4, §6).
        headers: { 'x-request-id': c.get('observation')?.requestId ?? '' },
      });
    } catch (err) {
      logger.info(
        { owner: owner.ownerId, code: (err as { code?: string }).code },
        'owner of a legacy session unreachable; answering 404',
      );
      return gone(id);
    }
    const text = await res.body.text();
    if (res.statusCode === 404) return gone(id);
    if (res.statusCode === 401) {
      // Only a misconfiguration gets here (MCPGATE_SECRET differs between instances).
      logger.error(
        { owner: owner.ownerId },
        'owner refused a signed internal call: is MCPGATE_SECRET shared?',
      );
      return jsonRpcErrorResponse(502, JSONRPC.SERVER_ERROR, 'Bad gateway: internal call refused');
    }
    count('forward');
    const contentType = res.headers['content-type'];
    const headers: Record<string, string> = {};
    if (typeof contentType === 'string') headers['content-type'] = contentType;
    const retryAfter = res.headers['retry-after'];
    if (typeof retryAfter === 'string') headers['retry-after'] = retryAfter;
    return new Response(text, { status: res.statusCode, headers });
  }

  return {
    attachLocal(lookupLocal) {
      localLookup = lookupLocal;
    },
    local: (id) => localLookup(id),
    stats,
    get cacheSize() {
      return cache.size;
    },
    async route(c, id) {
      // One instance, one memory store: a session not held here does not exist.
      if (store.kind !== 'postgres') return sessionNotFoundResponse();
      const principal = c.get('principal');
      const brain = c.get('brain');
      let owner: OwnerEntry | undefined;
      try {
        owner = await ownerOf(brain.id, id);
      } catch (err) {
        if (isGatewayError(err, 'ERR_STORE_UNAVAILABLE')) return storeUnavailable();
        throw err;
      }
      // Unknown, gone, and someone else's look the same (DESIGN.md §3).
      if (!owner) return gone(id);
      if (owner.tokenId !== principal.tokenId || owner.brain !== brain.id) return sessionNotFoundResponse();

      let body: string;
      try {
        body = await readBodyText(c, config.maxBodyBytes);
      } catch (err) {
        if (!isGatewayError(err, 'ERR_PAYLOAD_TOO_LARGE')) throw err;
        return jsonRpcErrorResponse(413, JSONRPC.SERVER_ERROR, err.message);
      }
      const replayed = c.req.header('fly-replay-src') ?? c.req.header('fly-replay-failed');
      if (
        config.flyMachineId &&
        owner.machineId &&
        replayed === undefined &&
        Buffer.byteLength(body) <= FLY_REPLAY_MAX_BYTES
      ) {
        count('fly-replay');
        // Fly's proxy acts on the header alone. 421 (not 202) so nothing could mistake it for acceptance.
        return new Response(null, {
          status: 421,
          headers: { 'fly-replay': `instance=${owner.machineId};timeout=2s;fallback=prefer_self` },
        });
      }
      return forward(c, owner, id, body);
    },
  };
}
