/**
 * Configuration: one zod schema over the environment (DESIGN.md §3), parsed once at boot. Pure.
 *
 * Nothing else in the code reads `process.env`; the entry file passes it here and hands the frozen
 * result down.
 */
import { z } from 'zod';
import { GatewayError } from './errors.js';

const optionalString = z
  .string()
  .transform((s) => s.trim())
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const intFrom = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const secretSchema = z
  .string()
  .trim()
  .refine((s) => {
    const b = Buffer.from(s, 'base64');
    return b.length >= 32 && /^[A-Za-z0-9+/=_-]+$/.test(s);
  }, 'expected at least 32 random bytes, base64-encoded (try: openssl rand -base64 32)');

const flag = (fallback: 'true' | 'false') =>
  z
    .enum(['true', 'false'])
    .default(fallback)
    .transform((v) => v === 'true');

/** A comma-separated list; blank → empty. */
const listOf = <T extends z.ZodType<string, string>>(item: T) =>
  z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item));

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/** A browser origin (`https://app.example.com`), normalised as browsers send it; `*` and `null` literally. */
const originEntry = z.string().transform((o, ctx) => {
  if (o === '*' || o === 'null') return o;
  try {
    const url = new URL(o);
    const bare = url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
    if (/^https?:$/.test(url.protocol) && bare && !/[?#]$/.test(o)) return url.origin;
  } catch {}
  ctx.addIssue({ code: 'custom', message: `expected origins like https://app.example.com, got ${o}` });
  return z.NEVER;
});

/** `host` or `host:port` (IPv6 in brackets), as in a Host header. */
const hostEntry = z
  .string()
  .toLowerCase()
  .regex(/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/, 'expected host names like mcp.example.com[:port]');

/** JWS algorithms a resource server may accept from a JWKS: asymmetric only, never `none` or HS*. */
const ASYMMETRIC_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const envSchema = z.object({
  PORT: intFrom(0, 65535).default(8080),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL')
      .optional(),
  ),
  /** Pooled URLs (PgBouncer in transaction mode) break prepared statements: set this to false there. */
  DATABASE_PREPARE: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  DATABASE_POOL_MAX: intFrom(1, 200).default(10),
  /** Direct (session-mode) URL for the LISTEN connection: PgBouncer in transaction mode drops NOTIFYs. */
  DATABASE_LISTEN_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL')
      .optional(),
  ),
  /** How long a store call may take before it fails with ERR_STORE_UNAVAILABLE (nothing waits forever). */
  DATABASE_QUERY_TIMEOUT_MS: intFrom(100, 600_000).default(5_000),
  MCPGATE_ADMIN_TOKEN: optionalString.pipe(z.string().min(16, 'expected at least 16 characters').optional()),
  MCPGATE_SECRET: optionalString.pipe(secretSchema.optional()),
  MCPGATE_INSTANCE_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  MCPGATE_MAX_BODY_BYTES: intFrom(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  MCPGATE_AUTH_CACHE_MS: intFrom(0, 60_000).default(5_000),
  MCPGATE_UPSTREAM_CONNECT_TIMEOUT_MS: intFrom(1, 600_000).default(10_000),
  MCPGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: intFrom(1, 3_600_000).default(60_000),
  MCPGATE_KEEPALIVE_MS: intFrom(100, 600_000).default(15_000),
  MCPGATE_DRAIN_TIMEOUT_MS: intFrom(0, 600_000).default(20_000),
  MCPGATE_HEARTBEAT_MS: intFrom(100, 600_000).default(5_000),
  /** An instance silent for longer is reaped with its legacy sessions (issue 5 §1). */
  MCPGATE_INSTANCE_TTL_MS: intFrom(200, 3_600_000).default(15_000),
  /** Pass-through and translated sessions unused for longer are forgotten (0: never). */
  MCPGATE_SESSION_IDLE_TTL_MS: intFrom(0, 30 * 86_400_000)
    .refine((ms) => ms === 0 || ms >= 300_000, 'expected 0 (never) or at least 300000 (5 minutes)')
    .default(86_400_000),
  /** The gateway's public origin (https://mcp.example.com): OAuth resource identifiers and PRM URLs. */
  MCPGATE_PUBLIC_URL: optionalString.pipe(
    httpUrl
      .refine((u) => {
        const url = new URL(u);
        return url.pathname === '/' && !url.search && !url.hash;
      }, 'expected an origin without a path, e.g. https://mcp.example.com')
      .optional(),
  ),
  MCPGATE_OAUTH_ISSUER: optionalString.pipe(httpUrl.optional()),
  MCPGATE_OAUTH_JWKS_URL: optionalString.pipe(httpUrl.optional()),
  /** Extra accepted `aud` values besides the canonical resource URLs (docs/decisions/0004). */
  MCPGATE_OAUTH_AUDIENCE: listOf(z.string()),
  MCPGATE_OAUTH_ORG_CLAIM: z.string().trim().min(1).default('org'),
  MCPGATE_OAUTH_SCOPE_PREFIX: z
    .string()
    .trim()
    .regex(/^[!#-[\]-~]+$/, 'expected a scope prefix without spaces or quotes, e.g. mcp:')
    .default('mcp:'),
  MCPGATE_OAUTH_REQUIRE_BRAIN_SCOPE: flag('true'),
  MCPGATE_OAUTH_ALGORITHMS: listOf(
    z.enum(ASYMMETRIC_ALGS, {
      error: 'only asymmetric JWS algorithms (RS*, PS*, ES*, EdDSA); never none or HS*',
    }),
  ),
  MCPGATE_OAUTH_CLOCK_TOLERANCE_S: intFrom(0, 300).default(30),
  MCPGATE_OAUTH_JWKS_COOLDOWN_MS: intFrom(0, 3_600_000).default(30_000),
  MCPGATE_OAUTH_JWKS_CACHE_MS: intFrom(1_000, 86_400_000).default(600_000),
  MCPGATE_OAUTH_JWKS_TIMEOUT_MS: intFrom(100, 60_000).default(5_000),
  MCPGATE_ALLOWED_ORIGINS: listOf(originEntry),
  MCPGATE_ALLOWED_HOSTS: listOf(hostEntry),
  MCPGATE_CORS_ORIGINS: listOf(originEntry),
  MCPGATE_BLOCK_PRIVATE_UPSTREAMS: flag('false'),
  MCPGATE_ALLOW_QUERY_TOKEN: flag('false'),
  /** Rate limits (issue 7 §3, docs/security.md): requests per minute per token and per org; 0 = none. */
  MCPGATE_RATE_LIMIT_TOKEN_PER_MIN: intFrom(0, 10_000_000).default(0),
  MCPGATE_RATE_LIMIT_TOKEN_BURST: optionalString.pipe(intFrom(1, 10_000_000).optional()),
  MCPGATE_RATE_LIMIT_ORG_PER_MIN: intFrom(0, 10_000_000).default(0),
  MCPGATE_RATE_LIMIT_ORG_BURST: optionalString.pipe(intFrom(1, 10_000_000).optional()),
  /** Buckets are per process: each instance enforces limit / this (docs/security.md "Rate limits"). */
  MCPGATE_RATE_LIMIT_INSTANCES: intFrom(1, 1000).default(1),
  /** Open SSE streams (legacy GET /sse, pass-through GET /mcp) per token on this instance; 0 = none. */
  MCPGATE_MAX_STREAMS_PER_TOKEN: intFrom(0, 1_000_000).default(2000),
  /** JSON-RPC requests of one legacy session waiting for their answers; past it, refused on the stream. */
  MCPGATE_MAX_INFLIGHT_PER_SESSION: intFrom(1, 1_000_000).default(256),
  MCPGATE_AUDIT: flag('true'),
  MCPGATE_AUDIT_BATCH_SIZE: intFrom(1, 10_000).default(500),
  MCPGATE_AUDIT_FLUSH_MS: intFrom(10, 600_000).default(1_000),
  MCPGATE_AUDIT_QUEUE_MAX: intFrom(1, 1_000_000).default(20_000),
  /** Records the embedded (memory) store keeps; the oldest go first. */
  MCPGATE_AUDIT_RING_SIZE: intFrom(1, 10_000_000).default(10_000),
  /** Postgres: records older than this are deleted in the background; 0 keeps them forever. */
  MCPGATE_AUDIT_RETENTION_DAYS: intFrom(0, 36_500).default(90),
  /** Serve /metrics on this port only (not on PORT); unset → on PORT. */
  MCPGATE_METRICS_PORT: optionalString.pipe(intFrom(0, 65535).optional()),
  MCPGATE_METRICS_TOKEN: optionalString.pipe(
    z.string().min(16, 'expected at least 16 characters').optional(),
  ),
  /** node:http `requestTimeout` and `headersTimeout`: slow or stalled requests get 408 (issue 7 §9). */
  MCPGATE_REQUEST_TIMEOUT_MS: intFrom(1_000, 3_600_000).default(30_000),
  MCPGATE_HEADERS_TIMEOUT_MS: intFrom(1_000, 3_600_000).default(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  FLY_MACHINE_ID: optionalString,
  FLY_APP_NAME: optionalString,
});

/** OAuth 2.1 resource-server settings (issue 7 item 1); present only when MCPGATE_OAUTH_ISSUER is set. */
export interface OAuthConfig {
  readonly issuer: string;
  readonly jwksUrl: string;
  /** Extra accepted audiences; the canonical resource URLs are always accepted. */
  readonly audiences: readonly string[];
  readonly orgClaim: string;
  readonly scopePrefix: string;
  readonly requireBrainScope: boolean;
  readonly algorithms: readonly string[];
  readonly clockToleranceSec: number;
  readonly jwksCooldownMs: number;
  readonly jwksCacheMaxAgeMs: number;
  readonly jwksTimeoutMs: number;
}

/** A token bucket: `perMinute` refill, `burst` capacity; `perMinute` 0 means unlimited. */
export interface RateLimit {
  readonly perMinute: number;
  readonly burst: number;
}

/** Issue 7 §3 and §9: request rate per token and per org, open streams per token (docs/security.md). */
export interface LimitsConfig {
  readonly token: RateLimit;
  readonly org: RateLimit;
  /** Instances sharing the configured limits: each enforces limit / instances. */
  readonly instances: number;
  /** 0: no limit. */
  readonly maxStreamsPerToken: number;
  /** Requests of one legacy session in flight upstream at once. */
  readonly maxInflightPerSession: number;
}

/** Issue 7 §4: the audit log's queue and retention. */
export interface AuditConfig {
  readonly enabled: boolean;
  readonly batchSize: number;
  readonly flushMs: number;
  readonly queueMax: number;
  readonly ringSize: number;
  readonly retentionDays: number;
}

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string | undefined;
  readonly databasePrepare: boolean;
  readonly databasePoolMax: number;
  /** DATABASE_LISTEN_URL, else DATABASE_URL; undefined without Postgres. */
  readonly databaseListenUrl: string | undefined;
  readonly databaseQueryTimeoutMs: number;
  readonly adminToken: string | undefined;
  /** Decoded MCPGATE_SECRET; undefined only for the memory store, where main generates one per process. */
  readonly secret: Uint8Array | undefined;
  readonly instanceUrl: string;
  readonly maxBodyBytes: number;
  readonly authCacheMs: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly upstreamFirstByteTimeoutMs: number;
  readonly keepAliveMs: number;
  readonly drainTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly instanceTtlMs: number;
  readonly sessionIdleTtlMs: number;
  readonly logLevel: string;
  readonly flyMachineId: string | undefined;
  /** Public origin, no trailing slash; required with OAuth. */
  readonly publicUrl: string | undefined;
  readonly oauth: OAuthConfig | undefined;
  /** Origins allowed to call the MCP faces and admin API (besides publicUrl's); `*` allows any. */
  readonly allowedOrigins: readonly string[];
  /** Host header allowlist; empty → any host. */
  readonly allowedHosts: readonly string[];
  /** CORS origins; empty → CORS off. */
  readonly corsOrigins: readonly string[];
  readonly blockPrivateUpstreams: boolean;
  /** `?access_token=` on `GET /brains/:brain/sse` only. */
  readonly allowQueryToken: boolean;
  readonly limits: LimitsConfig;
  readonly audit: AuditConfig;
  /** A separate port for /metrics (then not served on `port`); undefined → on `port`. */
  readonly metricsPort: number | undefined;
  /** Bearer required on /metrics when set. */
  readonly metricsToken: string | undefined;
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
}

/** Burst defaults to ten seconds' worth of the rate (at least 1). */
function rateLimit(perMinute: number, burst: number | undefined): RateLimit {
  return Object.freeze({ perMinute, burst: burst ?? Math.max(1, Math.ceil(perMinute / 6)) });
}

/**
 * Parses the environment. Throws a GatewayError('ERR_CONFIG') whose message is one line naming the first
 * bad variable; the entry file prints it and exits.
 *
 * @example
 * const config = parseConfig({ PORT: '9000', DATABASE_URL: 'postgres://localhost/mcpgate', MCPGATE_SECRET: s });
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    throw new GatewayError('ERR_CONFIG', `invalid environment variable ${variable}: ${issue.message}`);
  }
  const e = result.data;
  if (e.DATABASE_URL && !e.MCPGATE_SECRET) {
    throw new GatewayError(
      'ERR_CONFIG',
      'invalid environment variable MCPGATE_SECRET: required when DATABASE_URL is set (try: openssl rand -base64 32)',
    );
  }
  if (
    (e.MCPGATE_OAUTH_ISSUER || e.MCPGATE_OAUTH_JWKS_URL) &&
    !(e.MCPGATE_OAUTH_ISSUER && e.MCPGATE_OAUTH_JWKS_URL)
  ) {
    const missing = e.MCPGATE_OAUTH_ISSUER ? 'MCPGATE_OAUTH_JWKS_URL' : 'MCPGATE_OAUTH_ISSUER';
    throw new GatewayError(
      'ERR_CONFIG',
      `invalid environment variable ${missing}: MCPGATE_OAUTH_ISSUER and MCPGATE_OAUTH_JWKS_URL go together`,
    );
  }
  if (e.MCPGATE_OAUTH_ISSUER && !e.MCPGATE_PUBLIC_URL) {
    throw new GatewayError(
      'ERR_CONFIG',
      'invalid environment variable MCPGATE_PUBLIC_URL: required with MCPGATE_OAUTH_ISSUER (token audiences are built from it)',
    );
  }
  if (e.MCPGATE_INSTANCE_TTL_MS <= e.MCPGATE_HEARTBEAT_MS) {
    throw new GatewayError(
      'ERR_CONFIG',
      'invalid environment variable MCPGATE_INSTANCE_TTL_MS: must be longer than MCPGATE_HEARTBEAT_MS (an instance would be reaped between two heartbeats)',
    );
  }
  const publicUrl = e.MCPGATE_PUBLIC_URL ? new URL(e.MCPGATE_PUBLIC_URL).origin : undefined;
  const oauth: OAuthConfig | undefined =
    e.MCPGATE_OAUTH_ISSUER && e.MCPGATE_OAUTH_JWKS_URL
      ? Object.freeze({
          issuer: e.MCPGATE_OAUTH_ISSUER,
          jwksUrl: e.MCPGATE_OAUTH_JWKS_URL,
          audiences: Object.freeze(e.MCPGATE_OAUTH_AUDIENCE),
          orgClaim: e.MCPGATE_OAUTH_ORG_CLAIM,
          scopePrefix: e.MCPGATE_OAUTH_SCOPE_PREFIX,
          requireBrainScope: e.MCPGATE_OAUTH_REQUIRE_BRAIN_SCOPE,
          algorithms: Object.freeze(
            e.MCPGATE_OAUTH_ALGORITHMS.length > 0 ? e.MCPGATE_OAUTH_ALGORITHMS : [...ASYMMETRIC_ALGS],
          ),
          clockToleranceSec: e.MCPGATE_OAUTH_CLOCK_TOLERANCE_S,
          jwksCooldownMs: e.MCPGATE_OAUTH_JWKS_COOLDOWN_MS,
          jwksCacheMaxAgeMs: e.MCPGATE_OAUTH_JWKS_CACHE_MS,
          jwksTimeoutMs: e.MCPGATE_OAUTH_JWKS_TIMEOUT_MS,
        })
      : undefined;
  const instanceUrl =
    e.MCPGATE_INSTANCE_URL ??
    (e.FLY_MACHINE_ID && e.FLY_APP_NAME
      ? `http://${e.FLY_MACHINE_ID}.vm.${e.FLY_APP_NAME}.internal:${e.PORT}`
      : `http://127.0.0.1:${e.PORT}`);
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePrepare: e.DATABASE_PREPARE,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databaseListenUrl: e.DATABASE_URL ? (e.DATABASE_LISTEN_URL ?? e.DATABASE_URL) : undefined,
    databaseQueryTimeoutMs: e.DATABASE_QUERY_TIMEOUT_MS,
    adminToken: e.MCPGATE_ADMIN_TOKEN,
    secret: e.MCPGATE_SECRET ? new Uint8Array(Buffer.from(e.MCPGATE_SECRET, 'base64')) : undefined,
    instanceUrl: instanceUrl.replace(/\/+$/, ''),
    maxBodyBytes: e.MCPGATE_MAX_BODY_BYTES,
    authCacheMs: e.MCPGATE_AUTH_CACHE_MS,
    upstreamConnectTimeoutMs: e.MCPGATE_UPSTREAM_CONNECT_TIMEOUT_MS,
    upstreamFirstByteTimeoutMs: e.MCPGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
    keepAliveMs: e.MCPGATE_KEEPALIVE_MS,
    drainTimeoutMs: e.MCPGATE_DRAIN_TIMEOUT_MS,
    heartbeatMs: e.MCPGATE_HEARTBEAT_MS,
    instanceTtlMs: e.MCPGATE_INSTANCE_TTL_MS,
    sessionIdleTtlMs: e.MCPGATE_SESSION_IDLE_TTL_MS,
    logLevel: e.LOG_LEVEL,
    flyMachineId: e.FLY_MACHINE_ID,
    publicUrl,
    oauth,
    allowedOrigins: Object.freeze(e.MCPGATE_ALLOWED_ORIGINS),
    allowedHosts: Object.freeze(e.MCPGATE_ALLOWED_HOSTS),
    corsOrigins: Object.freeze(e.MCPGATE_CORS_ORIGINS),
    blockPrivateUpstreams: e.MCPGATE_BLOCK_PRIVATE_UPSTREAMS,
    allowQueryToken: e.MCPGATE_ALLOW_QUERY_TOKEN,
    limits: Object.freeze({
      token: rateLimit(e.MCPGATE_RATE_LIMIT_TOKEN_PER_MIN, e.MCPGATE_RATE_LIMIT_TOKEN_BURST),
      org: rateLimit(e.MCPGATE_RATE_LIMIT_ORG_PER_MIN, e.MCPGATE_RATE_LIMIT_ORG_BURST),
      instances: e.MCPGATE_RATE_LIMIT_INSTANCES,
      maxStreamsPerToken: e.MCPGATE_MAX_STREAMS_PER_TOKEN,
      maxInflightPerSession: e.MCPGATE_MAX_INFLIGHT_PER_SESSION,
    }),
    audit: Object.freeze({
      enabled: e.MCPGATE_AUDIT,
      batchSize: e.MCPGATE_AUDIT_BATCH_SIZE,
      flushMs: e.MCPGATE_AUDIT_FLUSH_MS,
      queueMax: e.MCPGATE_AUDIT_QUEUE_MAX,
      ringSize: e.MCPGATE_AUDIT_RING_SIZE,
      retentionDays: e.MCPGATE_AUDIT_RETENTION_DAYS,
    }),
    metricsPort: e.MCPGATE_METRICS_PORT,
    metricsToken: e.MCPGATE_METRICS_TOKEN,
    requestTimeoutMs: e.MCPGATE_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: Math.min(e.MCPGATE_HEADERS_TIMEOUT_MS, e.MCPGATE_REQUEST_TIMEOUT_MS),
  });
}
