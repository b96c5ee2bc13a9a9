/**
 * Which era a brain's upstream speaks (issue 6 §1). Does I/O: one `server/discover` per brain, cached.
 *
 * The spec's dual-era sequence (spec2026.md §1.7): send a modern request first. A result naming
 * 2026-07-28, or a recognized modern error (-32020/-32021/-32022), means a modern server: never fall
 * back. Anything else (400/404/405 with a legacy body, a result without `supportedVersions`) means
 * initialize-era. The spec's last step, GET for an HTTP+SSE `endpoint` event, does not apply: brains are
 * Streamable HTTP upstreams.
 *
 * A pinned era (`2025` / `2026` on the brain) is taken as is. The answer is cached per brain and
 * upstream URL for `ttlMs`, dropped when the brain changes, and never cached when the upstream could not
 * be reached; callers that see the era turn out wrong call `forget` (re-probed on failure).
 */
import { GatewayError } from '../errors.js';
import type { UpstreamClient } from '../proxy/upstream.js';
import type { ResolvedBrain } from '../store/brain-cache.js';
import { callModern, type ModernUpstream } from './upstream-call.js';
import { type ClientSide, isModernErrorCode, MODERN_VERSION } from './wire.js';

/** `server/discover`'s result (server/discover.mdx). */
export interface DiscoverResult {
  supportedVersions: string[];
  capabilities: Record<string, unknown>;
  instructions?: string;
  _meta?: Record<string, unknown>;
  [key: string]: unknown;
}

export type UpstreamEra = '2025' | '2026';

export interface EraInfo {
  era: UpstreamEra;
  /** Set for `2026`: what `initialize` is answered from. */
  discover?: DiscoverResult | undefined;
  pinned: boolean;
}

export interface EraProbe {
  /** The era to speak; rejects only when a 2026 upstream cannot be reached for its `server/discover`. */
  eraOf(brain: ResolvedBrain): Promise<EraInfo>;
  /** The era if pinned or already probed, without waiting (undefined: not known yet). */
  known(brain: ResolvedBrain): UpstreamEra | undefined;
  /** True once an upstream of this brain refused a 2025 `initialize` with a modern error. */
  legacyRejected(brain: ResolvedBrain): boolean;
  markLegacyRejected(brain: ResolvedBrain): void;
  /** Drops what is known of the brain: the next use probes again. */
  forget(brainId: string): void;
}

export interface EraProbeOptions {
  client: UpstreamClient;
  ttlMs?: number;
  now?: () => number;
}

/** Who the gateway is when it probes: no optional capabilities (spec2026.md §1.3). */
export const PROBE_CLIENT: ClientSide = {
  protocolVersion: MODERN_VERSION,
  capabilities: {},
  clientInfo: { name: 'mcpgate', version: '1' },
};

export function upstreamOf(client: UpstreamClient, brain: ResolvedBrain): ModernUpstream {
  return {
    client,
    target: {
      url: brain.upstreamUrl,
      connectTimeoutMs: brain.connectTimeoutMs,
      firstByteTimeoutMs: brain.firstByteTimeoutMs,
    },
    credentials: brain.upstreamHeaders,
  };
}

function asDiscover(result: Record<string, unknown> | undefined): DiscoverResult | undefined {
  const versions = result?.supportedVersions;
  if (!Array.isArray(versions) || !versions.includes(MODERN_VERSION)) return undefined;
  const capabilities = result?.capabilities;
  return {
    ...result,
    supportedVersions: versions as string[],
    capabilities:
      typeof capabilities === 'object' && capabilities !== null
        ? (capabilities as Record<string, unknown>)
        : {},
  };
}

/** One probe: what the upstream answers to a modern `server/discover`. */
export async function probeEra(
  upstream: ModernUpstream,
): Promise<{ era: UpstreamEra; discover?: DiscoverResult }> {
  const reply = await callModern(upstream, { method: 'server/discover', params: {}, client: PROBE_CLIENT });
  const discover = asDiscover(reply.result);
  if (discover) return { era: '2026', discover };
  if (reply.error && isModernErrorCode(reply.error.code)) return { era: '2026' };
  return { era: '2025' };
}

interface Entry {
  url: string;
  at: number;
  info: EraInfo;
  legacyRejected: boolean;
}

export function createEraProbe(options: EraProbeOptions): EraProbe {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<EraInfo>>();

  const current = (brain: ResolvedBrain) => {
    const entry = entries.get(brain.id);
    return entry && entry.url === brain.upstreamUrl && now() - entry.at < ttlMs ? entry : undefined;
  };

  async function probe(brain: ResolvedBrain): Promise<EraInfo> {
    const found = await probeEra(upstreamOf(options.client, brain));
    const pinned = brain.era !== 'auto';
    if (brain.era === '2026' && !found.discover) {
      throw new GatewayError(
        'ERR_UPSTREAM_UNREACHABLE',
        'Upstream (pinned to 2026-07-28) did not answer server/discover',
        {
          expose: true,
        },
      );
    }
    const info: EraInfo = {
      era: pinned ? (brain.era as UpstreamEra) : found.era,
      discover: found.discover,
      pinned,
    };
    entries.set(brain.id, { url: brain.upstreamUrl, at: now(), info, legacyRejected: brain.era === '2026' });
    return info;
  }

  return {
    async eraOf(brain) {
      if (brain.era === '2025') return { era: '2025', pinned: true };
      const hit = current(brain);
      if (hit) return hit.info;
      let running = inflight.get(brain.id);
      if (!running) {
        running = probe(brain).finally(() => inflight.delete(brain.id));
        inflight.set(brain.id, running);
      }
      return running;
    },
    known(brain) {
      return brain.era === 'auto' ? current(brain)?.info.era : brain.era;
    },
    legacyRejected(brain) {
      return brain.era === '2026' || current(brain)?.legacyRejected === true;
    },
    markLegacyRejected(brain) {
      const entry = current(brain);
      if (entry) entry.legacyRejected = true;
    },
    forget(brainId) {
      entries.delete(brainId);
    },
  };
}
