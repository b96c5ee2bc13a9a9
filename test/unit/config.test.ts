/**
 * parseConfig (DESIGN.md §3): defaults, one-line ERR_CONFIG errors naming the variable, and the real
 * `mcpgate serve` refusing a bad environment with one stderr line and exit 1.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { type GatewayError, isGatewayError } from '../../src/errors.js';

const SECRET = randomBytes(32).toString('base64');

function configError(env: Record<string, string | undefined>): GatewayError {
  try {
    parseConfig(env);
  } catch (err) {
    if (isGatewayError(err, 'ERR_CONFIG')) return err;
    throw err;
  }
  throw new Error('parseConfig accepted the environment');
}

describe('parseConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: undefined,
      databasePrepare: true,
      adminToken: undefined,
      secret: undefined,
      instanceUrl: 'http://127.0.0.1:8080',
      maxBodyBytes: 4 * 1024 * 1024,
      keepAliveMs: 15_000,
      drainTimeoutMs: 20_000,
      logLevel: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats blank values as unset and trims the rest', () => {
    const config = parseConfig({ DATABASE_URL: '  ', MCPGATE_ADMIN_TOKEN: '', HOST: ' :: ', PORT: ' 9000 ' });
    expect(config).toMatchObject({ databaseUrl: undefined, adminToken: undefined, host: '::', port: 9000 });
  });

  it('accepts a Postgres deployment and decodes the secret', () => {
    const config = parseConfig({ DATABASE_URL: 'postgres://u:p@db:5432/mcpgate', MCPGATE_SECRET: SECRET });
    expect(config.databaseUrl).toBe('postgres://u:p@db:5432/mcpgate');
    expect(config.secret).toEqual(new Uint8Array(Buffer.from(SECRET, 'base64')));
  });

  it('derives the instance URL on Fly from the machine id and app name', () => {
    const config = parseConfig({ PORT: '8080', FLY_MACHINE_ID: 'e784', FLY_APP_NAME: 'mcpgate' });
    expect(config.instanceUrl).toBe('http://e784.vm.mcpgate.internal:8080');
    expect(parseConfig({ MCPGATE_INSTANCE_URL: 'http://10.0.0.1:8080/' }).instanceUrl).toBe(
      'http://10.0.0.1:8080',
    );
  });

  it.each([
    ['PORT', { PORT: 'notaport' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '-1' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://u:hunter2@db/x', MCPGATE_SECRET: SECRET }],
    ['MCPGATE_SECRET', { MCPGATE_SECRET: 'c2hvcnQtc2VjcmV0' }],
    ['MCPGATE_ADMIN_TOKEN', { MCPGATE_ADMIN_TOKEN: 'short' }],
    ['MCPGATE_INSTANCE_URL', { MCPGATE_INSTANCE_URL: 'ftp://x' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
  ])('rejects a bad %s with a one-line ERR_CONFIG naming it', (variable, env) => {
    const err = configError(env);
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain(variable);
  });

  it('never repeats a secret value in the message', () => {
    expect(
      configError({ DATABASE_URL: 'mysql://u:hunter2@db/x', MCPGATE_SECRET: SECRET }).message,
    ).not.toContain('hunter2');
    expect(configError({ MCPGATE_SECRET: 'c2hvcnQtc2VjcmV0' }).message).not.toContain('c2hvcnQtc2VjcmV0');
  });

  it('requires MCPGATE_SECRET with DATABASE_URL, naming it', () => {
    const err = configError({ DATABASE_URL: 'postgres://db/mcpgate' });
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toMatch(/^invalid environment variable MCPGATE_SECRET: [^\n]+$/);
  });
});

describe('mcpgate serve with a bad environment', () => {
  // Compiled into .tmp/ (git-ignored) rather than dist/, so the test never clobbers a build in progress.
  const outDir = join(process.cwd(), '.tmp', 'config-test-build');
  const cli = join(outDir, 'cli.js');

  beforeAll(async () => {
    const tsc = join(process.cwd(), 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [
      '-p',
      'tsconfig.build.json',
      '--outDir',
      outDir,
      '--tsBuildInfoFile',
      join(outDir, '.tsbuildinfo'),
    ];
    // Type errors elsewhere in the tree still emit JavaScript; only a missing entry file is fatal here.
    await promisify(execFile)(process.execPath, [tsc, ...args]).catch(() => undefined);
    if (!existsSync(cli)) throw new Error(`tsc did not produce ${cli}`);
  }, 180_000);

  it('exits 1 with one stderr line naming PORT', async () => {
    const child = spawn(process.execPath, [cli, 'serve'], {
      env: { PATH: process.env.PATH, PORT: 'notaport' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^mcpgate: [^\n]*PORT[^\n]*\n$/);
  }, 30_000);
});
