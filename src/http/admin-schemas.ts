/**
 * zod schemas for admin API bodies (DESIGN.md §3). Pure.
 */
import { z } from 'zod';

/** URL-safe ids: they appear in paths (`/brains/:brain/mcp`). */
export const slugSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    'expected 1-63 characters of a-z, 0-9, "-" and "_", starting with a letter or digit',
  );

const HOP_OR_RESERVED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'content-length',
  'content-type',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
]);

export const upstreamHeadersSchema = z
  .record(
    z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name')
      .refine(
        // Mcp-* headers mirror the message per request (Mcp-Method, Mcp-Name, Mcp-Param-*): a brain-wide
        // value would override them and break the upstream's header/body validation.
        (name) => !HOP_OR_RESERVED.has(name.toLowerCase()) && !name.toLowerCase().startsWith('mcp-'),
        'this header is set by the gateway',
      ),
    z
      .string()
      .max(8192)
      .regex(/^[^\r\n\0]*$/, 'header values may not contain CR, LF or NUL'),
  )
  .refine((h) => Object.keys(h).length <= 32, 'at most 32 headers');

export const upstreamUrlSchema = z
  .string()
  .max(2048)
  .pipe(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }))
  // Credentials in the URL would be echoed by brainView and land in logs; they belong in upstreamHeaders.
  .refine((u) => {
    const url = new URL(u);
    return url.username === '' && url.password === '';
  }, 'credentials go in upstreamHeaders, not in the URL');

const timeoutSchema = z.number().int().min(1).max(3_600_000).nullable();

/** What the gateway speaks upstream (issue 6): `auto` probes, `2025` / `2026` pin (src/era/probe.ts). */
const eraSchema = z.enum(['auto', '2025', '2026']);

export const createOrgSchema = z.strictObject({
  slug: slugSchema,
  name: z.string().min(1).max(200).optional(),
});

export const createBrainSchema = z.strictObject({
  id: slugSchema,
  upstreamUrl: upstreamUrlSchema,
  upstreamHeaders: upstreamHeadersSchema.optional(),
  connectTimeoutMs: timeoutSchema.optional(),
  firstByteTimeoutMs: timeoutSchema.optional(),
  era: eraSchema.optional(),
});

export const patchBrainSchema = z
  .strictObject({
    upstreamUrl: upstreamUrlSchema.optional(),
    upstreamHeaders: upstreamHeadersSchema.nullable().optional(),
    connectTimeoutMs: timeoutSchema.optional(),
    firstByteTimeoutMs: timeoutSchema.optional(),
    era: eraSchema.optional(),
  })
  .refine((p) => Object.keys(p).length > 0, 'expected at least one field to change');

/** Per-org rate-limit override (issue 7 §3): null restores the deployment default. */
export const patchOrgSchema = z
  .strictObject({
    name: z.string().min(1).max(200).nullable().optional(),
    rateLimitPerMinute: z.number().int().min(0).max(10_000_000).nullable().optional(),
    rateLimitBurst: z.number().int().min(1).max(10_000_000).nullable().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, 'expected at least one field to change');

export const createTokenSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  brains: z.array(slugSchema).max(1000).optional(),
  expiresInSeconds: z
    .number()
    .int()
    .min(1)
    .max(10 * 365 * 24 * 3600)
    .optional(),
});

export const sessionsQuerySchema = z.object({
  org: slugSchema.optional(),
  brain: slugSchema.optional(),
});

/** `GET /admin/v1/audit` (issue 7 §4): filters, a time floor, the previous page's cursor, a page size. */
export const auditQuerySchema = z.strictObject({
  org: slugSchema.optional(),
  brain: slugSchema.optional(),
  since: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(s))
    .optional(),
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'expected the `next` value of a previous page')
    .optional(),
  limit: z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .default(100),
});

/** MCP logging levels (RFC 5424 severities, MCP 2025-11-25 server/utilities/logging). */
export const notifySchema = z.strictObject({
  level: z.enum(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']),
  logger: z.string().min(1).max(200).optional(),
  data: z.json(),
});
