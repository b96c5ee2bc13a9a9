/**
 * What both faces share about eras, once per gateway: the era probe and a `tools/list` catalog per brain
 * (for `Mcp-Param-*` headers). In-process caches only, dropped when a brain changes or the bus resyncs.
 *
 * Held per GatewayDeps (a WeakMap), so a face gets them without new wiring in the gateway's assembly.
 */
import type { GatewayDeps } from '../http/context.js';
import type { ResolvedBrain } from '../store/brain-cache.js';
import { createEraProbe, type EraProbe, PROBE_CLIENT, upstreamOf } from './probe.js';
import { createToolCatalog, type ToolCatalog } from './tool-headers.js';
import { callModern, type ModernUpstream } from './upstream-call.js';

export interface EraServices {
  probe: EraProbe;
  catalogFor(brain: ResolvedBrain): ToolCatalog;
  upstreamFor(brain: ResolvedBrain): ModernUpstream;
}

/** Every page of `tools/list`, bounded: a catalog is for headers, not for paging through the world. */
async function listAllTools(upstream: ModernUpstream): Promise<unknown[]> {
  const tools: unknown[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const reply = await callModern(upstream, {
      method: 'tools/list',
      params: cursor === undefined ? {} : { cursor },
      client: PROBE_CLIENT,
    });
    if (!reply.result) break;
    if (Array.isArray(reply.result.tools)) tools.push(...reply.result.tools);
    cursor = typeof reply.result.nextCursor === 'string' ? reply.result.nextCursor : undefined;
    if (cursor === undefined) break;
  }
  return tools;
}

const services = new WeakMap<object, EraServices>();

export function eraServices(deps: Pick<GatewayDeps, 'upstream' | 'bus'>): EraServices {
  let found = services.get(deps);
  if (found) return found;
  const probe = createEraProbe({ client: deps.upstream });
  const catalogs = new Map<string, { url: string; catalog: ToolCatalog }>();
  const upstreamFor = (brain: ResolvedBrain) => upstreamOf(deps.upstream, brain);
  found = {
    probe,
    upstreamFor,
    catalogFor(brain) {
      const entry = catalogs.get(brain.id);
      if (entry && entry.url === brain.upstreamUrl) return entry.catalog;
      const upstream = upstreamFor(brain);
      const catalog = createToolCatalog({ list: () => listAllTools(upstream) });
      catalogs.set(brain.id, { url: brain.upstreamUrl, catalog });
      return catalog;
    },
  };
  deps.bus.subscribe((event) => {
    if (event.type === 'resync') {
      catalogs.clear();
      return;
    }
    if (event.type === 'brain.changed' || event.type === 'brain.deleted') {
      probe.forget(event.brainId);
      catalogs.delete(event.brainId);
    }
  });
  services.set(deps, found);
  return found;
}
