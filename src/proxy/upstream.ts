/**
 * The upstream HTTP client shared by the pass-through and the legacy bridge. Does I/O (undici).
 *
 * Connect and first-byte timeouts come from the brain (or the configured defaults) and are enforced by
 * an undici Agent per distinct pair; the body has no timeout, because SSE streams live long. Failures
 * become GatewayErrors: ERR_UPSTREAM_UNREACHABLE (→ 502) or ERR_UPSTREAM_TIMEOUT (→ 504). A request
 * aborted by the caller's signal rejects with the signal's reason, untouched.
 *
 * With `blockPrivateAddresses` (MCPGATE_BLOCK_PRIVATE_UPSTREAMS) every connect goes through a guarded DNS
 * lookup that refuses non-public addresses, and IP-literal URLs (which skip DNS) are classified before
 * the request: the admin-time check alone would miss DNS that changes later (src/proxy/ssrf.ts).
 */
import { isIP } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { GatewayError } from '../errors.js';
import { type DispatchedResponse, type DispatchHeaders, dispatch } from './dispatch.js';
import { createGuardedLookup, isPublicAddress, UpstreamAddressBlocked } from './ssrf.js';

export interface UpstreamTarget {
  url: string;
  connectTimeoutMs?: number | null;
  firstByteTimeoutMs?: number | null;
}

export interface UpstreamRequest {
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array | string | null;
  signal?: AbortSignal;
}

/** What `send` takes: as `request`, with headers also as a flat `[name, value, …]` list. */
export type UpstreamSendRequest = Omit<UpstreamRequest, 'headers'> & { headers: DispatchHeaders };

/** What `send` resolves with: the head, and a body still arriving (./dispatch.ts). */
export type UpstreamRawResponse = DispatchedResponse;

export interface UpstreamClient {
  request(target: UpstreamTarget, init: UpstreamRequest): Promise<Response>;
  /**
   * Same request, timeouts and errors as `request`, on undici's dispatch layer: no WHATWG streams,
   * Headers or Node Readables per call, which cost the pass-through most of its per-message CPU (bench/).
   */
  send(target: UpstreamTarget, init: UpstreamSendRequest): Promise<UpstreamRawResponse>;
  close(): Promise<void>;
}

export interface UpstreamClientOptions {
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  /** Keep-alive connections per upstream origin. */
  connections?: number;
  /** Refuse loopback, private, link-local and other non-public addresses at connect time (SSRF). */
  blockPrivateAddresses?: boolean;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'ETIMEDOUT']);

function causeCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The caller's own abort passes through untouched; anything else becomes a 502 or 504 GatewayError. */
function upstreamError(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason ?? err;
  const code = causeCode(err);
  if (code && TIMEOUT_CODES.has(code)) {
    return new GatewayError('ERR_UPSTREAM_TIMEOUT', 'Upstream timed out', { cause: err, expose: true });
  }
  return new GatewayError('ERR_UPSTREAM_UNREACHABLE', 'Upstream unreachable', { cause: err, expose: true });
}

/** An IP-literal host never reaches `lookup`, so it is classified here. */
function literalHostBlocked(url: string): string | undefined {
  const hostname = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return isIP(hostname) && !isPublicAddress(hostname) ? hostname : undefined;
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const agents = new Map<string, Agent>();
  const lookup = options.blockPrivateAddresses ? createGuardedLookup() : undefined;

  function agentFor(connectMs: number, firstByteMs: number): Agent {
    const key = `${connectMs}/${firstByteMs}`;
    let agent = agents.get(key);
    if (!agent) {
      agent = new Agent({
        connect: lookup ? { timeout: connectMs, lookup } : { timeout: connectMs },
        headersTimeout: firstByteMs,
        bodyTimeout: 0,
        connections: options.connections ?? null,
        keepAliveTimeout: 4_000,
      });
      agents.set(key, agent);
    }
    return agent;
  }

  const dispatcherFor = (target: UpstreamTarget) =>
    agentFor(
      target.connectTimeoutMs ?? options.connectTimeoutMs,
      target.firstByteTimeoutMs ?? options.firstByteTimeoutMs,
    );

  return {
    async request(target, init) {
      const dispatcher = dispatcherFor(target);
      try {
        const blocked = options.blockPrivateAddresses ? literalHostBlocked(target.url) : undefined;
        if (blocked !== undefined) throw new UpstreamAddressBlocked(blocked);
        const response = await undiciFetch(target.url, {
          method: init.method,
          headers: init.headers,
          body: init.body ?? null,
          signal: init.signal,
          dispatcher,
          redirect: 'manual',
        });
        return response as unknown as Response;
      } catch (err) {
        throw upstreamError(err, init.signal);
      }
    },
    async send(target, init) {
      const dispatcher = dispatcherFor(target);
      try {
        const blocked = options.blockPrivateAddresses ? literalHostBlocked(target.url) : undefined;
        if (blocked !== undefined) throw new UpstreamAddressBlocked(blocked);
        return await dispatch(dispatcher, target.url, init);
      } catch (err) {
        throw upstreamError(err, init.signal);
      }
    },
    async close() {
      await Promise.all([...agents.values()].map((a) => a.close()));
      agents.clear();
    },
  };
}
