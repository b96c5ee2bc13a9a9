/**
 * The embedded in-memory Store: the default when DATABASE_URL is unset (one process). Pure, no I/O.
 *
 * Records are copied on the way in and out so callers never share mutable state with the store,
 * matching what a database round trip would give them.
 */
import { GatewayError } from '../errors.js';
import { createAuditRing } from './audit-ring.js';
import type {
  AuditEntry,
  Brain,
  BrainPatch,
  InstanceRecord,
  NewBrain,
  NewInstance,
  NewSession,
  NewToken,
  Org,
  OrgPatch,
  SessionFilter,
  SessionPatch,
  SessionRecord,
  Store,
  TokenRecord,
} from './types.js';

export interface MemoryStoreOptions {
  now?: () => Date;
  /** Audit records kept (a ring: the oldest go first); default 10,000 (MCPGATE_AUDIT_RING_SIZE). */
  auditCapacity?: number;
}

const BRAIN_PATCH_KEYS = [
  'upstreamUrl',
  'upstreamHeadersEnc',
  'upstreamHeaderNames',
  'connectTimeoutMs',
  'firstByteTimeoutMs',
  'era',
] as const satisfies ReadonlyArray<keyof BrainPatch>;
const ORG_PATCH_KEYS = ['name', 'rateLimitPerMinute', 'rateLimitBurst'] as const satisfies ReadonlyArray<
  keyof OrgPatch
>;
const SESSION_PATCH_KEYS = [
  'upstreamSessionId',
  'protocolVersion',
  'initParams',
] as const satisfies ReadonlyArray<keyof SessionPatch>;

/** Copies only the named, defined keys: a patch never overwrites ids or timestamps (as the SQL store). */
function pick<T extends object, K extends keyof T>(patch: T, keys: readonly K[]): Partial<T> {
  const out: Partial<T> = {};
  for (const key of keys) if (patch[key] !== undefined) out[key] = structuredClone(patch[key]);
  return out;
}

const sessionKey = (brain: string, id: string) => `${brain}\u0000${id}`;

export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const now = options.now ?? (() => new Date());
  const orgs = new Map<string, Org>();
  const brains = new Map<string, Brain>();
  const tokens = new Map<string, TokenRecord>();
  const tokensByHash = new Map<string, string>();
  const sessions = new Map<string, SessionRecord>();
  const lastInit = new Map<string, unknown>();
  const instances = new Map<string, InstanceRecord>();
  // The audit ring (issue 7 §4: "memory store keeps a bounded ring"), in columns (./audit-ring.ts).
  const audit = createAuditRing(options.auditCapacity ?? 10_000);

  /** Removes legacy sessions matching `match`; returns them (what the Postgres store's delete returns). */
  const dropLegacySessions = (match: (s: SessionRecord) => boolean): SessionRecord[] => {
    const dropped: SessionRecord[] = [];
    for (const [key, s] of sessions) {
      if (s.kind !== 'legacy' || !match(s)) continue;
      sessions.delete(key);
      dropped.push(s);
    }
    return dropped;
  };

  const copy = <T>(value: T): T => structuredClone(value);

  return {
    kind: 'memory',

    async createOrg({ slug, name }) {
      if (orgs.has(slug))
        throw new GatewayError('ERR_CONFLICT', `org ${slug} already exists`, { field: 'slug' });
      const org: Org = { slug, name, rateLimitPerMinute: null, rateLimitBurst: null, createdAt: now() };
      orgs.set(slug, org);
      return copy(org);
    },
    async getOrg(slug) {
      const org = orgs.get(slug);
      return org && copy(org);
    },
    async listOrgs() {
      return [...orgs.values()].sort((a, b) => a.slug.localeCompare(b.slug)).map(copy);
    },
    async updateOrg(slug, patch: OrgPatch) {
      const org = orgs.get(slug);
      if (!org) return undefined;
      for (const key of ORG_PATCH_KEYS) if (patch[key] !== undefined) (org[key] as unknown) = patch[key];
      return copy(org);
    },

    async createBrain(input: NewBrain) {
      if (!orgs.has(input.org)) throw new GatewayError('ERR_NOT_FOUND', `org ${input.org} not found`);
      if (brains.has(input.id))
        throw new GatewayError('ERR_CONFLICT', `brain ${input.id} already exists`, { field: 'id' });
      const at = now();
      const brain: Brain = {
        id: input.id,
        org: input.org,
        upstreamUrl: input.upstreamUrl,
        upstreamHeadersEnc: input.upstreamHeadersEnc,
        upstreamHeaderNames: [...input.upstreamHeaderNames],
        connectTimeoutMs: input.connectTimeoutMs ?? null,
        firstByteTimeoutMs: input.firstByteTimeoutMs ?? null,
        era: input.era ?? 'auto',
        createdAt: at,
        updatedAt: at,
      };
      brains.set(brain.id, brain);
      return copy(brain);
    },
    async getBrain(id) {
      const brain = brains.get(id);
      return brain && copy(brain);
    },
    async listBrains(org) {
      return [...brains.values()]
        .filter((b) => org === undefined || b.org === org)
        .sort((a, b) => a.id.localeCompare(b.id))
        .map(copy);
    },
    async updateBrain(id, patch: BrainPatch) {
      const brain = brains.get(id);
      if (!brain) return undefined;
      const next: Brain = { ...brain, ...pick(patch, BRAIN_PATCH_KEYS), updatedAt: now() };
      brains.set(id, next);
      return copy(next);
    },
    async deleteBrain(id) {
      if (!brains.delete(id)) return false;
      for (const [key, s] of sessions) if (s.brain === id) sessions.delete(key);
      return true;
    },

    async createToken(input: NewToken) {
      if (!orgs.has(input.org)) throw new GatewayError('ERR_NOT_FOUND', `org ${input.org} not found`);
      if (tokens.has(input.id) || tokensByHash.has(input.hash)) {
        throw new GatewayError('ERR_CONFLICT', 'token already exists');
      }
      const token: TokenRecord = { ...copy(input), revokedAt: null, createdAt: now() };
      tokens.set(token.id, token);
      tokensByHash.set(token.hash, token.id);
      return copy(token);
    },
    async getToken(id) {
      const token = tokens.get(id);
      return token && copy(token);
    },
    async findTokenByHash(hash) {
      const id = tokensByHash.get(hash);
      const token = id === undefined ? undefined : tokens.get(id);
      return token && copy(token);
    },
    async revokeToken(id, at = now()) {
      const token = tokens.get(id);
      if (!token || token.revokedAt) return false;
      token.revokedAt = at;
      for (const [key, s] of sessions) if (s.tokenId === id) sessions.delete(key);
      return true;
    },

    async putSession(input: NewSession) {
      const at = now();
      const session: SessionRecord = { ...copy(input), createdAt: at, lastSeenAt: at };
      sessions.set(sessionKey(input.brain, input.id), session);
      return copy(session);
    },
    async getSession(brain, id) {
      const session = sessions.get(sessionKey(brain, id));
      return session && copy(session);
    },
    async updateSession(brain, id, patch: SessionPatch) {
      const session = sessions.get(sessionKey(brain, id));
      if (!session) return;
      Object.assign(session, pick(patch, SESSION_PATCH_KEYS), { lastSeenAt: now() });
    },
    async touchSession(brain, id, at = now()) {
      const session = sessions.get(sessionKey(brain, id));
      if (session) session.lastSeenAt = at;
    },
    async deleteSession(brain, id) {
      return sessions.delete(sessionKey(brain, id));
    },
    async listSessions(filter: SessionFilter = {}) {
      return [...sessions.values()]
        .filter(
          (s) =>
            (filter.org === undefined || s.org === filter.org) &&
            (filter.brain === undefined || s.brain === filter.brain) &&
            (filter.kind === undefined || s.kind === filter.kind) &&
            (filter.ownerInstance === undefined || s.ownerInstance === filter.ownerInstance),
        )
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
        .map(copy);
    },

    async expireIdleSessions({ kinds, before }) {
      let expired = 0;
      for (const [key, s] of sessions) {
        if (s.kind === 'legacy' || !kinds.includes(s.kind) || s.lastSeenAt >= before) continue;
        sessions.delete(key);
        expired++;
      }
      return expired;
    },

    async getLastInitParams(tokenId, brain) {
      const params = lastInit.get(sessionKey(brain, tokenId));
      return params === undefined ? undefined : copy(params);
    },
    async setLastInitParams(tokenId, brain, params) {
      lastInit.set(sessionKey(brain, tokenId), copy(params));
    },

    async registerInstance(input: NewInstance) {
      const at = now();
      const instance: InstanceRecord = {
        ...input,
        machineId: input.machineId ?? null,
        heartbeatAt: at,
        draining: false,
        startedAt: at,
      };
      instances.set(input.id, instance);
      return copy(instance);
    },
    async heartbeatInstance(id) {
      const instance = instances.get(id);
      if (instance) instance.heartbeatAt = now();
      return instance !== undefined;
    },
    async setInstanceDraining(id, draining) {
      const instance = instances.get(id);
      if (instance) instance.draining = draining;
    },
    async getInstance(id) {
      const instance = instances.get(id);
      return instance && copy(instance);
    },
    async listInstances() {
      return [...instances.values()].sort((a, b) => a.id.localeCompare(b.id)).map(copy);
    },
    async deleteInstance(id) {
      instances.delete(id);
      return dropLegacySessions((s) => s.ownerInstance === id);
    },
    async reapDeadInstances({ silentForMs, except }) {
      // One process, one event loop: reapers never overlap here.
      const cutoff = now().getTime() - silentForMs;
      const dead = [...instances.values()].filter((i) => i.id !== except && i.heartbeatAt.getTime() < cutoff);
      for (const instance of dead) instances.delete(instance.id);
      const deadIds = new Set(dead.map((i) => i.id));
      const reaped = dropLegacySessions(
        (s) =>
          deadIds.has(s.ownerInstance) ||
          (!instances.has(s.ownerInstance) && s.ownerInstance !== except && s.lastSeenAt.getTime() < cutoff),
      );
      return { instances: dead.sort((a, b) => a.id.localeCompare(b.id)), sessions: reaped };
    },

    async appendAudit(entries: AuditEntry[]) {
      for (const entry of entries) audit.append(entry);
    },
    async listAudit(query) {
      return audit.list(query);
    },
    async pruneAudit(before) {
      return audit.prune(before);
    },

    async ping() {},
    async close() {},
  };
}
