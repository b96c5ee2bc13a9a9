/**
 * Argument parsing for the admin verbs (`mcpgate orgs|brains|tokens …`): argv → one admin API request.
 * Pure (node:util parseArgs; no I/O).
 *
 * Header values are upstream credentials: no error message here ever repeats one.
 */
import { parseArgs } from 'node:util';

/** A bad command line: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Verb =
  | 'orgs create'
  | 'orgs list'
  | 'brains create'
  | 'brains list'
  | 'brains update'
  | 'brains delete'
  | 'tokens create'
  | 'tokens revoke';

export interface AdminRequest {
  verb: Verb;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Under `/admin/v1`, with path segments already encoded. */
  path: string;
  body?: Record<string, unknown>;
  /** The id the verb acts on, for the human output of verbs the API answers with 204. */
  subject: string;
  json: boolean;
}

type OptionName =
  | 'name'
  | 'url'
  | 'header'
  | 'clear-headers'
  | 'connect-timeout-ms'
  | 'first-byte-timeout-ms'
  | 'era'
  | 'brain'
  | 'expires-in';

const OPTIONS = {
  json: { type: 'boolean' },
  name: { type: 'string' },
  url: { type: 'string' },
  header: { type: 'string', multiple: true },
  'clear-headers': { type: 'boolean' },
  'connect-timeout-ms': { type: 'string' },
  'first-byte-timeout-ms': { type: 'string' },
  era: { type: 'string' },
  brain: { type: 'string', multiple: true },
  'expires-in': { type: 'string' },
} as const;

const TIMEOUTS: OptionName[] = ['connect-timeout-ms', 'first-byte-timeout-ms'];

/** Positional names and accepted options per verb. */
const VERBS: Record<Verb, { positionals: string[]; options: OptionName[] }> = {
  'orgs create': { positionals: ['slug'], options: ['name'] },
  'orgs list': { positionals: [], options: [] },
  'brains create': { positionals: ['org', 'id'], options: ['url', 'header', 'era', ...TIMEOUTS] },
  'brains list': { positionals: ['org'], options: [] },
  'brains update': { positionals: ['id'], options: ['url', 'header', 'clear-headers', 'era', ...TIMEOUTS] },
  'brains delete': { positionals: ['id'], options: [] },
  'tokens create': { positionals: ['org'], options: ['name', 'brain', 'expires-in'] },
  'tokens revoke': { positionals: ['id'], options: [] },
};

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parses repeated `--header 'Name: value'` flags into a record. Errors name the flag's position and the
 * header name, never the value.
 *
 * @example parseHeaders(['Authorization: Bearer abc']) // { Authorization: 'Bearer abc' }
 */
export function parseHeaders(flags: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  const seen = new Set<string>();
  flags.forEach((flag, i) => {
    const colon = flag.indexOf(':');
    const name = colon < 0 ? '' : flag.slice(0, colon).trim();
    if (!HEADER_NAME.test(name)) {
      throw new UsageError(`--header #${i + 1}: expected 'Name: value' with an HTTP header name before ':'`);
    }
    if (seen.has(name.toLowerCase())) throw new UsageError(`--header ${name} is given more than once`);
    seen.add(name.toLowerCase());
    headers[name] = flag.slice(colon + 1).trim();
  });
  return headers;
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${flag} expects a positive whole number, got '${value}'`);
  }
  return Number(value);
}

const seg = encodeURIComponent;

function parseFlags(verb: Verb, args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs appends advice after the first sentence; the first sentence names the option.
    throw new UsageError(`${verb}: ${String((err as Error).message).split('. ')[0]}`);
  }
}

/**
 * Turns argv (without the program name) into the admin API request it stands for; throws UsageError.
 *
 * @example parseAdminArgs(['orgs', 'create', 'acme', '--name', 'Acme']).path // '/orgs'
 */
export function parseAdminArgs(argv: string[]): AdminRequest {
  const [noun, action, ...rest] = argv;
  if (noun === undefined) throw new UsageError('missing command (try: mcpgate help)');
  const verb = `${noun} ${action}` as Verb;
  const spec = VERBS[verb];
  if (!spec) {
    const actions = Object.keys(VERBS)
      .filter((v) => v.startsWith(`${noun} `))
      .map((v) => v.split(' ')[1]);
    if (actions.length === 0) throw new UsageError(`unknown command '${noun}' (try: mcpgate help)`);
    throw new UsageError(
      action === undefined
        ? `${noun} needs a verb: ${actions.join(' | ')}`
        : `unknown verb '${noun} ${action}' (expected ${noun} ${actions.join(' | ')})`,
    );
  }

  const { values, positionals } = parseFlags(verb, rest);
  for (const key of Object.keys(values) as (keyof typeof OPTIONS)[]) {
    if (key !== 'json' && !spec.options.includes(key)) throw new UsageError(`${verb} does not take --${key}`);
  }
  if (positionals.length !== spec.positionals.length) {
    const expected = spec.positionals.map((p) => `<${p}>`).join(' ') || 'no arguments';
    throw new UsageError(`${verb} expects ${expected}, got ${positionals.length} argument(s)`);
  }
  const [first = '', second = ''] = positionals;
  const json = values.json ?? false;
  const timeouts = {
    connectTimeoutMs: positiveInt('connect-timeout-ms', values['connect-timeout-ms']),
    firstByteTimeoutMs: positiveInt('first-byte-timeout-ms', values['first-byte-timeout-ms']),
  };
  const headers = values.header ? parseHeaders(values.header) : undefined;

  switch (verb) {
    case 'orgs create':
      return {
        verb,
        json,
        subject: first,
        method: 'POST',
        path: '/orgs',
        body: { slug: first, name: values.name },
      };
    case 'orgs list':
      return { verb, json, subject: '', method: 'GET', path: '/orgs' };
    case 'brains create':
      if (values.url === undefined) throw new UsageError('brains create requires --url URL');
      return {
        verb,
        json,
        subject: second,
        method: 'POST',
        path: `/orgs/${seg(first)}/brains`,
        body: { id: second, upstreamUrl: values.url, upstreamHeaders: headers, era: values.era, ...timeouts },
      };
    case 'brains list':
      return { verb, json, subject: first, method: 'GET', path: `/orgs/${seg(first)}/brains` };
    case 'brains update': {
      if (values['clear-headers'] && headers) {
        throw new UsageError('brains update takes --header or --clear-headers, not both');
      }
      const body = {
        upstreamUrl: values.url,
        upstreamHeaders: values['clear-headers'] ? null : headers,
        era: values.era,
        ...timeouts,
      };
      if (Object.values(body).every((v) => v === undefined)) {
        throw new UsageError(
          'brains update needs something to change: --url, --header, --clear-headers, --era or a timeout',
        );
      }
      return { verb, json, subject: first, method: 'PATCH', path: `/brains/${seg(first)}`, body };
    }
    case 'brains delete':
      return { verb, json, subject: first, method: 'DELETE', path: `/brains/${seg(first)}` };
    case 'tokens create':
      return {
        verb,
        json,
        subject: first,
        method: 'POST',
        path: `/orgs/${seg(first)}/tokens`,
        body: {
          name: values.name,
          brains: values.brain,
          expiresInSeconds: positiveInt('expires-in', values['expires-in']),
        },
      };
    case 'tokens revoke':
      return { verb, json, subject: first, method: 'DELETE', path: `/tokens/${seg(first)}` };
  }
}
