/**
 * `mcpgate <orgs|brains|tokens> …`: a thin client of the admin API (DESIGN.md §3) at MCPGATE_URL, authorised
 * by MCPGATE_ADMIN_TOKEN. I/O: one HTTP call through the injected fetch; output through the injected streams.
 *
 * Every failure is one line, `mcpgate: <message>`, on `err`: exit 2 for a bad command line, 1 otherwise.
 * The admin token is never printed (it is also scrubbed from any message as a second line of defence), and
 * upstream header values are only ever sent, never echoed: the API returns header names only.
 */
import { type AdminRequest, parseAdminArgs, UsageError } from './args.js';

export interface CliIo {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown };
  fetch: typeof fetch;
}

const DEFAULT_URL = 'http://127.0.0.1:8080';
/** An admin call is a few store round trips; anything slower is a hung gateway, not a slow one. */
const REQUEST_TIMEOUT_MS = 30_000;

interface Target {
  /** Origin and path of MCPGATE_URL, without a trailing slash. */
  base: string;
  token: string;
}

function targetFrom(env: Record<string, string | undefined>): Target {
  const token = env.MCPGATE_ADMIN_TOKEN?.trim();
  if (!token) throw new Error('MCPGATE_ADMIN_TOKEN is not set (the admin API needs it as a bearer token)');
  // Reject what fetch would refuse in a header: its error message would quote the token.
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new Error('MCPGATE_ADMIN_TOKEN contains spaces or control characters');
  let url: URL;
  try {
    url = new URL(env.MCPGATE_URL?.trim() || DEFAULT_URL);
  } catch {
    throw new Error('MCPGATE_URL is not a URL (expected e.g. http://127.0.0.1:8080)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('MCPGATE_URL must be http(s)');
  // fetch refuses URLs with credentials, quoting them; the admin token is the only credential anyway.
  if (url.username || url.password) throw new Error('MCPGATE_URL must not contain a user or password');
  return { base: `${url.origin}${url.pathname.replace(/\/+$/, '')}`, token };
}

function networkReason(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError')
    return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause =
    err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

/** Sends the request; resolves to the parsed JSON body (undefined for 204) or throws a one-line Error. */
async function call(target: Target, request: AdminRequest, fetchFn: typeof fetch): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchFn(`${target.base}/admin/v1${request.path}`, {
      method: request.method,
      headers: {
        authorization: `Bearer ${target.token}`,
        accept: 'application/json',
        ...(request.body ? { 'content-type': 'application/json' } : {}),
      },
      body: request.body ? JSON.stringify(request.body) : undefined,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new Error(
      `cannot reach the gateway at ${target.base} (${networkReason(err)}); is MCPGATE_URL right?`,
    );
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const apiMessage = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
    const message = typeof apiMessage === 'string' ? apiMessage : `${res.status} ${res.statusText}`.trim();
    const hint = res.status === 401 ? '; check MCPGATE_ADMIN_TOKEN' : '';
    throw new Error(`${message} (HTTP ${res.status}${hint})`);
  }
  if (res.status !== 204 && body === undefined) {
    throw new Error(`the gateway at ${target.base} answered HTTP ${res.status} without a JSON body`);
  }
  return body;
}

interface OrgView {
  slug: string;
  name: string | null;
}
interface BrainView {
  id: string;
  org: string;
  upstreamUrl: string;
  upstreamHeaderNames: string[];
  connectTimeoutMs: number | null;
  firstByteTimeoutMs: number | null;
  era?: string;
}
interface TokenView {
  id: string;
  org: string;
  name: string | null;
  brains: string[] | null;
  expiresAt: string | null;
  token: string;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function describeBrain(brain: BrainView): string[] {
  const timeouts = [
    brain.connectTimeoutMs === null ? null : `connect ${brain.connectTimeoutMs} ms`,
    brain.firstByteTimeoutMs === null ? null : `first byte ${brain.firstByteTimeoutMs} ms`,
  ].filter((t) => t !== null);
  const names = brain.upstreamHeaderNames;
  return [
    `  upstream  ${brain.upstreamUrl}`,
    `  headers   ${names.length ? `${names.join(', ')} (values stored encrypted, never shown)` : 'none'}`,
    ...(timeouts.length ? [`  timeouts  ${timeouts.join(', ')}`] : []),
    ...(brain.era && brain.era !== 'auto' ? [`  era       ${brain.era} (pinned)`] : []),
  ];
}

/** The short human form of each verb's answer. */
function render(request: AdminRequest, body: unknown, target: Target): string {
  switch (request.verb) {
    case 'orgs create': {
      const org = body as OrgView;
      return `created org ${org.slug}${org.name ? ` (${org.name})` : ''}`;
    }
    case 'orgs list': {
      const orgs = body as OrgView[];
      if (orgs.length === 0) return 'no orgs';
      return table([['SLUG', 'NAME'], ...orgs.map((o) => [o.slug, o.name ?? ''])]);
    }
    case 'brains create': {
      const brain = body as BrainView;
      const face = `${target.base}/brains/${encodeURIComponent(brain.id)}`;
      return [
        `created brain ${brain.id} in org ${brain.org}`,
        ...describeBrain(brain),
        `  clients   ${face}/mcp (legacy HTTP+SSE: ${face}/sse)`,
      ].join('\n');
    }
    case 'brains list': {
      const brains = body as BrainView[];
      if (brains.length === 0) return `no brains in org ${request.subject}`;
      const rows = brains.map((b) => [b.id, b.upstreamUrl, b.upstreamHeaderNames.join(',') || '-']);
      return table([['ID', 'UPSTREAM', 'HEADERS'], ...rows]);
    }
    case 'brains update': {
      const brain = body as BrainView;
      return [`updated brain ${brain.id}`, ...describeBrain(brain)].join('\n');
    }
    case 'brains delete':
      return `deleted brain ${request.subject}`;
    case 'tokens create': {
      const token = body as TokenView;
      const scope = token.brains ? token.brains.join(', ') : `all brains of ${token.org}`;
      return [
        `created token ${token.id}${token.name ? ` (${token.name})` : ''} for org ${token.org}`,
        `  brains   ${scope}`,
        `  expires  ${token.expiresAt ?? 'never'}`,
        '',
        'Copy the token now; it is shown only once:',
        '',
        `  ${token.token}`,
        '',
      ].join('\n');
    }
    case 'tokens revoke':
      return `revoked token ${request.subject}`;
  }
}

/**
 * Runs one admin verb and returns the process exit code (0, 1, or 2 for a bad command line).
 *
 * @example
 * const code = await runAdminCommand(['orgs', 'create', 'acme'], process.env, {
 *   out: process.stdout, err: process.stderr, fetch,
 * });
 */
export async function runAdminCommand(
  argv: string[],
  env: Record<string, string | undefined>,
  io: CliIo,
): Promise<number> {
  let token: string | undefined;
  try {
    const request = parseAdminArgs(argv);
    const target = targetFrom(env);
    token = target.token;
    const body = await call(target, request, io.fetch);
    // 204 answers (delete, revoke) carry no JSON; --json still prints an object scripts can parse.
    const json = body ?? {
      id: request.subject,
      [request.verb === 'tokens revoke' ? 'revoked' : 'deleted']: true,
    };
    io.out.write(`${request.json ? JSON.stringify(json, null, 2) : render(request, body, target)}\n`);
    return 0;
  } catch (err) {
    let message = (err instanceof Error ? err.message : String(err)).replace(/\s*[\r\n]+\s*/g, ' ');
    if (token) message = message.replaceAll(token, '[redacted]');
    io.err.write(`mcpgate: ${message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
