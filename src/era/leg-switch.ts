/**
 * Picks a legacy session's upstream leg by the brain's era (issue 6 §1): the 2025 leg (initialize,
 * Mcp-Session-Id, GET stream) or the translating 2026-07-28 leg. Pure routing; the probe does the I/O.
 *
 * A brain pinned to 2025 costs nothing. Otherwise the first message waits for the (cached) probe; an
 * upstream that cannot be probed gets the 2025 leg, whose errors reach the client as before, and is
 * probed again by the next session. Once chosen, messages go straight to the leg (no extra promise hop).
 */
import { GatewayError } from '../errors.js';
import type { GatewayDeps } from '../http/context.js';
import type { ResolvedBrain } from '../store/brain-cache.js';
import { type BridgeLeg, createModernLeg, type ModernLegOptions } from './legacy-leg.js';
import { eraServices } from './services.js';

export interface LegSwitchOptions {
  deps: Pick<GatewayDeps, 'upstream' | 'bus'>;
  brain: ResolvedBrain;
  legacy: BridgeLeg;
  /** The session's side of the translating leg, used only if the upstream speaks 2026-07-28. */
  modern: Omit<ModernLegOptions, 'upstream' | 'catalog' | 'discover' | 'onEraMismatch'>;
}

export function selectBridgeLeg(options: LegSwitchOptions): BridgeLeg {
  const { brain, legacy } = options;
  if (brain.era === '2025') return legacy;
  const { probe, catalogFor, upstreamFor } = eraServices(options.deps);

  const modern = () =>
    createModernLeg({
      ...options.modern,
      upstream: upstreamFor(brain),
      catalog: catalogFor(brain),
      async discover() {
        const info = await probe.eraOf(brain);
        if (info.discover) return info.discover;
        throw new GatewayError('ERR_UPSTREAM_UNREACHABLE', 'Upstream did not answer server/discover', {
          expose: true,
        });
      },
      onEraMismatch: () => probe.forget(brain.id),
    });

  let chosen: BridgeLeg | undefined;
  let choosing: Promise<BridgeLeg> | undefined;
  const choose = () => {
    choosing ??= probe.eraOf(brain).then(
      (info) => (chosen = info.era === '2026' ? modern() : legacy),
      // Pinned to 2026 but unreachable now: the translating leg still answers, with the error.
      () => (chosen = brain.era === '2026' ? modern() : legacy),
    );
    return choosing;
  };

  return {
    handle(message, clientVersion) {
      const handled = chosen
        ? chosen.handle(message, clientVersion)
        : choose().then((leg) => leg.handle(message, clientVersion));
      if (message.method !== 'initialize' || brain.era !== 'auto') return handled;
      // A 2025 upstream that refuses initialize may have become 2026-only: the next session probes again.
      return handled.then(() => {
        if (chosen === legacy && legacy.initialized?.() === false) probe.forget(brain.id);
      });
    },
    async terminate() {
      await (chosen ?? legacy).terminate();
    },
  };
}
