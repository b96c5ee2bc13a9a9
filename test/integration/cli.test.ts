/**
 * The admin verbs (`mcpgate orgs|brains|tokens …`) against a real in-process gateway on the memory store,
 * through the real fetch; and `mcpgate migrate` against no, an unreachable, and a real Postgres.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdminCommand } from '../../src/cli/admin.js';
import { migrateCommand } from '../../src/cli/migrate.js';
import { parseConfig } from '../../src/config.js';
import { type Gateway, startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { MIGRATIONS_DIR } from '../../src/store/migrate.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';

const ADMIN_TOKEN = 'cli-test-admin-token-0123456789';
const SECRET_VALUE = 'Bearer upstream-secret-value-42';
const OTHER_SECRET = 'key-that-must-stay-hidden-99';
const SECRET = randomBytes(32).toString('base64');

let gateway: Gateway;
const logs: string[] = [];

beforeAll(async () => {
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const config = parseConfig({ PORT: '0', MCPGATE_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'debug' });
  gateway = await startGateway({ config, logger: createLogger({ level: 'debug', destination }) });
});
afterAll(async () => {
  await gateway?.close();
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runAdminCommand(
    argv,
    { MCPGATE_URL: gateway.url, MCPGATE_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
    { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) }, fetch },
  );
  return { code, out, err };
}

/** Asserts the run failed with exactly one `mcpgate: …` line and nothing on stdout. */
function expectOneLineError(result: Run, code: number, pattern: RegExp): void {
  expect(result.code).toBe(code);
  expect(result.out).toBe('');
  expect(result.err).toMatch(/^mcpgate: [^\n]+\n$/);
  expect(result.err).toMatch(pattern);
  expect(result.err).not.toContain(ADMIN_TOKEN);
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('admin verbs against a live gateway', () => {
  it('runs the whole flow: orgs, brains, tokens; human output by default', async () => {
    const org = await run(['orgs', 'create', 'acme', '--name', 'Acme Corp']);
    expect(org).toMatchObject({ code: 0, err: '' });
    expect(org.out).toBe('created org acme (Acme Corp)\n');

    await run(['orgs', 'create', 'beta']);
    const list = await run(['orgs', 'list']);
    expect(list.code).toBe(0);
    expect(list.out.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^SLUG\s+NAME$/),
      expect.stringMatching(/^acme\s+Acme Corp$/),
      'beta',
    ]);

    const brain = await run([
      'brains',
      'create',
      'acme',
      'kb',
      '--url',
      'http://127.0.0.1:9/mcp',
      '--header',
      `Authorization: ${SECRET_VALUE}`,
      '--header',
      `X-Api-Key:${OTHER_SECRET}`,
      '--connect-timeout-ms',
      '2500',
    ]);
    expect(brain.code).toBe(0);
    expect(brain.out).toContain('created brain kb in org acme');
    expect(brain.out).toContain('Authorization, X-Api-Key');
    expect(brain.out).toContain('connect 2500 ms');
    expect(brain.out).toContain(`${gateway.url}/brains/kb/mcp`);

    const listed = await run(['brains', 'list', 'acme']);
    expect(listed.out).toMatch(/^kb\s+http:\/\/127\.0\.0\.1:9\/mcp\s+Authorization,X-Api-Key$/m);

    const updated = await run(['brains', 'update', 'kb', '--url', 'http://127.0.0.1:10/mcp']);
    expect(updated.code).toBe(0);
    expect(updated.out).toContain('updated brain kb');
    expect(updated.out).toContain('http://127.0.0.1:10/mcp');
    expect(updated.out).toContain('Authorization, X-Api-Key'); // headers untouched by a URL change

    const cleared = await run(['brains', 'update', 'kb', '--clear-headers']);
    expect(cleared.out).toMatch(/headers\s+none/);
    expect((await gateway.deps.store.getBrain('kb'))?.upstreamHeadersEnc).toBeNull();

    const token = await run([
      'tokens',
      'create',
      'acme',
      '--name',
      'ci',
      '--brain',
      'kb',
      '--expires-in',
      '3600',
    ]);
    expect(token.code).toBe(0);
    const plaintext = /^ {2}(mcpg_\S+)$/m.exec(token.out)?.[1];
    expect(plaintext).toBeDefined();
    expect(token.out).toMatch(/shown only once/);
    expect(token.out).toMatch(/brains\s+kb/);
    const tokenId = /created token (\S+)/.exec(token.out)![1]!;
    const record = await gateway.deps.store.getToken(tokenId);
    expect(record).toMatchObject({ org: 'acme', name: 'ci', brains: ['kb'], revokedAt: null });
    expect(record!.expiresAt!.getTime() - Date.now()).toBeGreaterThan(3500_000);

    expect(await run(['tokens', 'revoke', tokenId])).toEqual({
      code: 0,
      out: `revoked token ${tokenId}\n`,
      err: '',
    });
    expect((await gateway.deps.store.getToken(tokenId))?.revokedAt).toBeInstanceOf(Date);

    expect(await run(['brains', 'delete', 'kb'])).toEqual({ code: 0, out: 'deleted brain kb\n', err: '' });
    expect(await gateway.deps.store.getBrain('kb')).toBeUndefined();
  });

  it('prints the API JSON with --json, including an object for 204 answers', async () => {
    const org = await run(['orgs', 'create', 'json-org', '--json']);
    expect(JSON.parse(org.out)).toMatchObject({ slug: 'json-org', name: null });
    const orgs = JSON.parse((await run(['orgs', 'list', '--json'])).out) as { slug: string }[];
    expect(orgs.map((o) => o.slug)).toContain('json-org');

    const brain = JSON.parse(
      (await run(['brains', 'create', 'json-org', 'jb', '--url', 'https://example.test/mcp', '--json'])).out,
    );
    expect(brain).toMatchObject({ id: 'jb', org: 'json-org', upstreamHeaderNames: [] });
    const patched = JSON.parse(
      (await run(['brains', 'update', 'jb', '--first-byte-timeout-ms', '9000', '--json'])).out,
    );
    expect(patched).toMatchObject({ id: 'jb', firstByteTimeoutMs: 9000 });
    // The era pin (issue 6) goes through as given; the API validates it.
    expect(JSON.parse((await run(['brains', 'update', 'jb', '--era', '2026', '--json'])).out)).toMatchObject({
      era: '2026',
    });
    expect((await run(['brains', 'update', 'jb', '--era', '1999'])).code).not.toBe(0);

    const token = JSON.parse((await run(['tokens', 'create', 'json-org', '--json'])).out);
    expect(token).toMatchObject({ org: 'json-org', brains: null, expiresAt: null });
    expect(token.token).toMatch(/^mcpg_/);
    expect(JSON.parse((await run(['tokens', 'revoke', token.id, '--json'])).out)).toEqual({
      id: token.id,
      revoked: true,
    });
    expect(JSON.parse((await run(['brains', 'delete', 'jb', '--json'])).out)).toEqual({
      id: 'jb',
      deleted: true,
    });
  });

  it('sends repeated --header flags encrypted to the store; names are visible, values never printed', async () => {
    await run(['orgs', 'create', 'sec']);
    const outputs: Run[] = [];
    outputs.push(
      await run([
        'brains',
        'create',
        'sec',
        'vault',
        '--url',
        'https://example.test/mcp',
        '--header',
        `Authorization: ${SECRET_VALUE}`,
        '--header',
        `X-Api-Key: ${OTHER_SECRET}`,
      ]),
    );
    outputs.push(await run(['brains', 'list', 'sec', '--json']));
    outputs.push(await run(['brains', 'update', 'vault', '--header', `X-Other: ${OTHER_SECRET}`, '--json']));

    const names = (JSON.parse(outputs[1]!.out) as { upstreamHeaderNames: string[] }[])[0]!
      .upstreamHeaderNames;
    expect(names).toEqual(['Authorization', 'X-Api-Key']);
    expect(JSON.parse(outputs[2]!.out).upstreamHeaderNames).toEqual(['X-Other']);

    const stored = await gateway.deps.store.getBrain('vault');
    expect(stored!.upstreamHeadersEnc!.split('.')).toHaveLength(5); // JWE compact serialization
    expect(stored!.upstreamHeadersEnc).not.toContain(OTHER_SECRET);
    expect(await gateway.deps.secrets.openHeaders(stored!.upstreamHeadersEnc)).toEqual({
      'X-Other': OTHER_SECRET,
    });

    for (const text of [...outputs.flatMap((o) => [o.out, o.err]), ...logs]) {
      expect(text).not.toContain(SECRET_VALUE);
      expect(text).not.toContain(OTHER_SECRET);
      expect(text).not.toContain(ADMIN_TOKEN);
    }
  });
});

describe('admin verb errors: one line, non-zero', () => {
  it('reports a wrong admin token with the API message, exit 1', async () => {
    const result = await run(['orgs', 'list'], { MCPGATE_ADMIN_TOKEN: 'wrong-admin-token-000000' });
    expectOneLineError(result, 1, /admin token required \(HTTP 401; check MCPGATE_ADMIN_TOKEN\)/);
    expect(result.err).not.toContain('wrong-admin-token-000000');
  });

  it('reports API errors (unknown org, duplicates, invalid fields) with their message, exit 1', async () => {
    expectOneLineError(
      await run(['brains', 'create', 'no-such-org', 'b', '--url', 'https://example.test/mcp']),
      1,
      /org no-such-org not found \(HTTP 404\)/,
    );
    expectOneLineError(await run(['tokens', 'create', 'no-such-org']), 1, /org no-such-org not found/);
    await run(['orgs', 'create', 'dup']);
    expectOneLineError(await run(['orgs', 'create', 'dup']), 1, /already exists \(HTTP 409\)/);
    expectOneLineError(await run(['orgs', 'create', 'Not_A_Slug!']), 1, /slug: .*\(HTTP 400\)/);
    expectOneLineError(await run(['brains', 'delete', 'ghost']), 1, /not found \(HTTP 404\)/);
    expectOneLineError(await run(['tokens', 'revoke', 'tok_ghost']), 1, /token not found/);
  });

  it('rejects bad command lines before calling the API, exit 2, without echoing header values', async () => {
    const noColon = await run([
      'brains',
      'create',
      'acme',
      'x',
      '--url',
      'https://e.test',
      '--header',
      SECRET_VALUE,
    ]);
    expectOneLineError(noColon, 2, /--header #1: expected 'Name: value'/);
    expect(noColon.err).not.toContain('upstream-secret');
    expectOneLineError(
      await run([
        'brains',
        'create',
        'acme',
        'x',
        '--url',
        'https://e.test',
        '--header',
        `: ${OTHER_SECRET}`,
      ]),
      2,
      /--header #1/,
    );
    expectOneLineError(
      await run(['brains', 'update', 'x', '--header', 'A: 1', '--header', 'a: 2']),
      2,
      /--header a is given more than once/,
    );
    expectOneLineError(await run(['brains', 'create', 'acme', 'x']), 2, /requires --url/);
    expectOneLineError(await run(['brains', 'frobnicate']), 2, /unknown verb 'brains frobnicate'/);
    expectOneLineError(await run(['widgets', 'list']), 2, /unknown command 'widgets'/);
    expectOneLineError(await run(['orgs']), 2, /orgs needs a verb: create \| list/);
    expectOneLineError(await run(['orgs', 'create']), 2, /orgs create expects <slug>, got 0/);
    expectOneLineError(await run(['orgs', 'list', '--url', 'x']), 2, /orgs list does not take --url/);
    expectOneLineError(await run(['orgs', 'list', '--bogus']), 2, /Unknown option '--bogus'$/m);
    expectOneLineError(await run(['tokens', 'create', 'acme', '--expires-in', 'soon']), 2, /--expires-in/);
    expectOneLineError(await run(['brains', 'update', 'x']), 2, /needs something to change/);
    expectOneLineError(
      await run(['brains', 'update', 'x', '--clear-headers', '--header', 'A: 1']),
      2,
      /not both/,
    );
  });

  it('needs MCPGATE_ADMIN_TOKEN and a usable MCPGATE_URL, exit 1', async () => {
    expectOneLineError(
      await run(['orgs', 'list'], { MCPGATE_ADMIN_TOKEN: undefined }),
      1,
      /MCPGATE_ADMIN_TOKEN is not set/,
    );
    expectOneLineError(
      await run(['orgs', 'list'], { MCPGATE_URL: 'not a url' }),
      1,
      /MCPGATE_URL is not a URL/,
    );
    const withUser = await run(['orgs', 'list'], { MCPGATE_URL: 'http://admin:hunter2@127.0.0.1:1' });
    expectOneLineError(withUser, 1, /must not contain a user or password/);
    expect(withUser.err).not.toContain('hunter2');
  });

  it('reports a gateway that is not running, exit 1', async () => {
    const url = await closedPortUrl();
    expectOneLineError(
      await run(['orgs', 'list'], { MCPGATE_URL: url }),
      1,
      new RegExp(`cannot reach the gateway at ${url.replaceAll('.', '\\.')} \\(ECONNREFUSED\\)`),
    );
  });
});

function captured() {
  const io = { out: '', err: '' };
  return {
    io,
    streams: { out: { write: (s: string) => (io.out += s) }, err: { write: (s: string) => (io.err += s) } },
  };
}

describe('mcpgate migrate', () => {
  it('refuses to run without DATABASE_URL, in one line', async () => {
    const { io, streams } = captured();
    expect(await migrateCommand({ PORT: '0' }, streams)).toBe(1);
    expect(io.out).toBe('');
    expect(io.err).toMatch(/^mcpgate: migrate failed: DATABASE_URL is not set[^\n]*\n$/);
  });

  it('reports an unreachable database in one line, without the password', async () => {
    const port = new URL(await closedPortUrl()).port;
    const { io, streams } = captured();
    const env = {
      DATABASE_URL: `postgres://mcpgate:hunter2pass@127.0.0.1:${port}/x`,
      MCPGATE_SECRET: SECRET,
    };
    expect(await migrateCommand(env, streams)).toBe(1);
    expect(io.err).toMatch(/^mcpgate: migrate failed: [^\n]*ECONNREFUSED[^\n]*\n$/);
    expect(io.err).not.toContain('hunter2pass');
  });
});

describePostgres('mcpgate migrate', () => {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('applies the pending migrations and prints their names, then says up to date', async () => {
    const env = { DATABASE_URL: db!.url, MCPGATE_SECRET: SECRET };
    const first = captured();
    expect(await migrateCommand(env, first.streams)).toBe(0);
    expect(first.io.err).toBe('');
    const names = (await readdir(MIGRATIONS_DIR))
      .filter((f) => f.endsWith('.sql'))
      .map((f) => f.slice(0, -4));
    expect(first.io.out).toBe(
      `applied ${names.length} migration(s):\n${names.map((n) => `  ${n}\n`).join('')}`,
    );

    const second = captured();
    expect(await migrateCommand(env, second.streams)).toBe(0);
    expect(second.io).toEqual({ out: 'database schema is up to date\n', err: '' });
  });
});
