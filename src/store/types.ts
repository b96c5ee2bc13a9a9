/**
 * The Store interface and the records it holds. Pure types.
 *
 * Two implementations share one contract test suite (test/integration/store.contract.ts): memory
 * (embedded default, one process) and Postgres (production, many instances). All SQL lives in
 * src/store/postgres*.ts and migrations/.
 *
 * Failures: `ERR_CONFLICT` for a duplicate key, `ERR_NOT_FOUND` for a missing parent (org),
 * `ERR_STORE_UNAVAILABLE` when the backing database cannot be reached.
 */

export interface Org {
  slug: string;
  name: string | null;
  /**
   * Per-org override of the org-wide rate limit (issue 7 §3, docs/security.md): requests per minute, 0 for
   * none; null → the deployment's MCPGATE_RATE_LIMIT_ORG_PER_MIN.
   */
  rateLimitPerMinute: number | null;
  /** Bucket capacity for the override; null → ten seconds' worth of the rate. */
  rateLimitBurst: number | null;
  createdAt: Date;
}

export type OrgPatch = Partial<Pick<Org, 'name' | 'rateLimitPerMinute' | 'rateLimitBurst'>>;

/** One JSON-RPC request as the audit log keeps it (issue 7 §4): who, what, how it went; never a body. */
export interface AuditEntry {
  at: Date;
  org: string;
  brain: string;
  tokenId: string;
  /** A hash of the session id (`sessionRef`, src/observe/observe.ts), never the id itself; null without a session. */
  session: string | null;
  /** `mcp` (Streamable HTTP) or `sse` (legacy HTTP+SSE). */
  face: string;
  /** The JSON-RPC method; null when the message could not be read (400, 413, 429 before parsing). */
  method: string | null;
  /** The tool, prompt or resource the request names, when it names one. */
  name: string | null;
  /** HTTP status of the exchange (legacy messages: what it would have been; see docs/security.md). */
  status: number;
  latencyMs: number;
  requestId: string;
}

export interface AuditRecord extends AuditEntry {
  /** Increasing with insertion: the paging cursor. */
  id: string;
}

export interface AuditQuery {
  org?: string;
  brain?: string;
  /** Only records at or after this time. */
  since?: Date;
  /** Only records after this id (the previous page's last). */
  after?: string;
  /** At most this many, in id order. */
  limit: number;
}

/**
 * What the gateway speaks to a brain's upstream (issue 6): `auto` probes it, `2025` (initialize and
 * sessions, 2025-03-26 … 2025-11-25) and `2026` (stateless 2026-07-28) pin it. See src/era/probe.ts.
 */
export type BrainEra = 'auto' | '2025' | '2026';

export interface Brain {
  id: string;
  org: string;
  upstreamUrl: string;
  /** JWE compact serialization of the upstream headers (src/auth/secrets.ts); null when none. */
  upstreamHeadersEnc: string | null;
  /** Names only, so admins can see what is set without seeing values. */
  upstreamHeaderNames: string[];
  connectTimeoutMs: number | null;
  firstByteTimeoutMs: number | null;
  era: BrainEra;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewBrain {
  id: string;
  org: string;
  upstreamUrl: string;
  upstreamHeadersEnc: string | null;
  upstreamHeaderNames: string[];
  connectTimeoutMs?: number | null;
  firstByteTimeoutMs?: number | null;
  /** Default `auto`. */
  era?: BrainEra;
}

export type BrainPatch = Partial<
  Pick<
    NewBrain,
    | 'upstreamUrl'
    | 'upstreamHeadersEnc'
    | 'upstreamHeaderNames'
    | 'connectTimeoutMs'
    | 'firstByteTimeoutMs'
    | 'era'
  >
>;

export interface TokenRecord {
  id: string;
  org: string;
  name: string | null;
  /** Hex sha-256 of the plaintext token; the plaintext is never stored. */
  hash: string;
  /** Brain ids this token may use; null means every brain of the org. */
  brains: string[] | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
}

export type NewToken = Pick<TokenRecord, 'id' | 'org' | 'name' | 'hash' | 'brains' | 'expiresAt'>;

/**
 * `translated`: a session the gateway itself holds for a 2025-era Streamable HTTP client of a 2026-only
 * upstream (issue 6); its `initParams` is the gateway's record of the client's side (src/era/state.ts).
 */
export type SessionKind = 'passthrough' | 'legacy' | 'translated';

export interface SessionRecord {
  /** Session id as the client sees it (legacy: the gateway's sessionId; pass-through: the upstream's Mcp-Session-Id). */
  id: string;
  brain: string;
  kind: SessionKind;
  org: string;
  tokenId: string;
  /** Instance holding the client's stream (legacy); the instance that created it (pass-through). */
  ownerInstance: string;
  upstreamSessionId: string | null;
  protocolVersion: string | null;
  /** The client's `initialize` params, replayed upstream when the upstream session is lost. */
  initParams: unknown;
  createdAt: Date;
  lastSeenAt: Date;
}

export type NewSession = Omit<SessionRecord, 'createdAt' | 'lastSeenAt'>;

export type SessionPatch = Partial<
  Pick<SessionRecord, 'upstreamSessionId' | 'protocolVersion' | 'initParams'>
>;

export interface SessionFilter {
  org?: string;
  brain?: string;
  kind?: SessionKind;
  ownerInstance?: string;
}

/** A gateway process as its peers see it (DESIGN.md §4; docs/scale-out.md). */
export interface InstanceRecord {
  id: string;
  /** MCPGATE_INSTANCE_URL: where peers reach this instance. */
  url: string;
  /** FLY_MACHINE_ID on Fly (the target of `fly-replay: instance=`); null elsewhere. */
  machineId: string | null;
  /** A per-process id: tells one incarnation of an instance id from the next. */
  bootId: string;
  heartbeatAt: Date;
  draining: boolean;
  startedAt: Date;
}

export type NewInstance = Pick<InstanceRecord, 'id' | 'url' | 'bootId'> & { machineId?: string | null };

export interface ReapedInstances {
  instances: InstanceRecord[];
  /** The legacy sessions removed with them; the caller ends their upstream sessions. */
  sessions: SessionRecord[];
}

export interface Store {
  readonly kind: 'memory' | 'postgres';

  createOrg(org: { slug: string; name: string | null }): Promise<Org>;
  getOrg(slug: string): Promise<Org | undefined>;
  listOrgs(): Promise<Org[]>;
  /** Undefined fields are left alone, null clears; undefined when there is no such org. */
  updateOrg(slug: string, patch: OrgPatch): Promise<Org | undefined>;

  createBrain(brain: NewBrain): Promise<Brain>;
  getBrain(id: string): Promise<Brain | undefined>;
  listBrains(org?: string): Promise<Brain[]>;
  updateBrain(id: string, patch: BrainPatch): Promise<Brain | undefined>;
  /** Removes the brain and its sessions; false when there was none. */
  deleteBrain(id: string): Promise<boolean>;

  createToken(token: NewToken): Promise<TokenRecord>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  /** Marks the token revoked; false when no such (unrevoked) token exists. */
  revokeToken(id: string, at?: Date): Promise<boolean>;

  putSession(session: NewSession): Promise<SessionRecord>;
  getSession(brain: string, id: string): Promise<SessionRecord | undefined>;
  updateSession(brain: string, id: string, patch: SessionPatch): Promise<void>;
  touchSession(brain: string, id: string, at?: Date): Promise<void>;
  deleteSession(brain: string, id: string): Promise<boolean>;
  listSessions(filter?: SessionFilter): Promise<SessionRecord[]>;
  /**
   * Deletes the sessions of these kinds not seen since `before` (clients that went away without a
   * DELETE); returns how many. Legacy sessions are never idle-expired: their owner's liveness decides.
   */
  expireIdleSessions(options: { kinds: readonly SessionKind[]; before: Date }): Promise<number>;

  /** The `initialize` params this token last used on this brain (legacy re-initialize after a reconnect). */
  getLastInitParams(tokenId: string, brain: string): Promise<unknown | undefined>;
  setLastInitParams(tokenId: string, brain: string, params: unknown): Promise<void>;

  /** Registers an instance, or registers it again: heartbeat now, not draining. */
  registerInstance(instance: NewInstance): Promise<InstanceRecord>;
  /** Refreshes the heartbeat; false when the instance is not registered (it was reaped). */
  heartbeatInstance(id: string): Promise<boolean>;
  setInstanceDraining(id: string, draining: boolean): Promise<void>;
  getInstance(id: string): Promise<InstanceRecord | undefined>;
  /** Every registered instance, by id. */
  listInstances(): Promise<InstanceRecord[]>;
  /**
   * Removes an instance (clean shutdown) and the legacy sessions it owned; returns those sessions.
   * Pass-through sessions are not tied to an instance (any instance serves them) and stay.
   */
  deleteInstance(id: string): Promise<SessionRecord[]>;
  /**
   * Removes every instance silent for longer than `silentForMs` (by the store's clock) except `except`,
   * with the legacy sessions they owned, and legacy sessions whose owner is not registered at all and
   * that were not seen for as long. One reaper at a time: a call that finds another one running removes
   * nothing, so no instance or session is ever reaped twice.
   */
  reapDeadInstances(options: { silentForMs: number; except?: string }): Promise<ReapedInstances>;

  /** Appends audit entries (one batch, written together). */
  appendAudit(entries: AuditEntry[]): Promise<void>;
  /** Audit records matching the query, in id (insertion) order. */
  listAudit(query: AuditQuery): Promise<AuditRecord[]>;
  /** Deletes audit records older than `before`; returns how many. */
  pruneAudit(before: Date): Promise<number>;

  /** Resolves when the store answers; rejects with ERR_STORE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
