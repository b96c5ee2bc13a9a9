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
  MCPGATE_ADMIN_TOKEN: optionalString.pipe(z.string().min(16, 'expected at least 16 characters').optional()),
  MCPGATE_SECRET: optionalString.pipe(secretSchema.optional()),
  MCPGATE_INSTANCE_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  MCPGATE_MAX_BODY_BYTES: intFrom(1024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  MCPGATE_AUTH_CACHE_MS: intFrom(0, 60_000).default(5_000),
  MCPGATE_UPSTREAM_CONNECT_TIMEOUT_MS: intFrom(1, 600_000).default(10_000),
  MCPGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: intFrom(1, 3_600_000).default(60_000),
  MCPGATE_KEEPALIVE_MS: intFrom(100, 600_000).default(15_000),
  MCPGATE_DRAIN_TIMEOUT_MS: intFrom(0, 600_000).default(20_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  FLY_MACHINE_ID: optionalString,
  FLY_APP_NAME: optionalString,
});

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string | undefined;
  readonly databasePrepare: boolean;
  readonly databasePoolMax: number;
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
  readonly logLevel: string;
  readonly flyMachineId: string | undefined;
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
    adminToken: e.MCPGATE_ADMIN_TOKEN,
    secret: e.MCPGATE_SECRET ? new Uint8Array(Buffer.from(e.MCPGATE_SECRET, 'base64')) : undefined,
    instanceUrl: instanceUrl.replace(/\/+$/, ''),
    maxBodyBytes: e.MCPGATE_MAX_BODY_BYTES,
    authCacheMs: e.MCPGATE_AUTH_CACHE_MS,
    upstreamConnectTimeoutMs: e.MCPGATE_UPSTREAM_CONNECT_TIMEOUT_MS,
    upstreamFirstByteTimeoutMs: e.MCPGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS,
    keepAliveMs: e.MCPGATE_KEEPALIVE_MS,
    drainTimeoutMs: e.MCPGATE_DRAIN_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    flyMachineId: e.FLY_MACHINE_ID,
  });
}
