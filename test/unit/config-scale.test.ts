/**
 * The scale-out settings (issue 5): the LISTEN URL, query timeout, heartbeat and instance TTL.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { isGatewayError } from '../../src/errors.js';

const SECRET = randomBytes(32).toString('base64');
const DB = 'postgres://pooler.example:6432/mcpgate';

function configError(env: Record<string, string>): string {
  try {
    parseConfig(env);
  } catch (err) {
    if (isGatewayError(err, 'ERR_CONFIG')) return err.message;
    throw err;
  }
  throw new Error('parseConfig accepted the environment');
}

describe('parseConfig: scale-out settings', () => {
  it('defaults: heartbeat 5 s, TTL 15 s, query timeout 5 s, no listen URL without Postgres', () => {
    expect(parseConfig({})).toMatchObject({
      heartbeatMs: 5_000,
      instanceTtlMs: 15_000,
      databaseQueryTimeoutMs: 5_000,
      databaseListenUrl: undefined,
    });
  });

  it('listens on DATABASE_URL unless DATABASE_LISTEN_URL (a direct URL) is given', () => {
    expect(parseConfig({ DATABASE_URL: DB, MCPGATE_SECRET: SECRET }).databaseListenUrl).toBe(DB);
    const direct = 'postgres://direct.example:5432/mcpgate';
    expect(
      parseConfig({ DATABASE_URL: DB, DATABASE_LISTEN_URL: direct, MCPGATE_SECRET: SECRET })
        .databaseListenUrl,
    ).toBe(direct);
    // Without DATABASE_URL there is no Postgres, so no listener either.
    expect(parseConfig({ DATABASE_LISTEN_URL: direct }).databaseListenUrl).toBeUndefined();
    expect(configError({ DATABASE_LISTEN_URL: 'mysql://x' })).toMatch(
      /^invalid environment variable DATABASE_LISTEN_URL/,
    );
  });

  it('takes the timings, and refuses a TTL not longer than the heartbeat', () => {
    expect(
      parseConfig({
        MCPGATE_HEARTBEAT_MS: '1000',
        MCPGATE_INSTANCE_TTL_MS: '3000',
        DATABASE_QUERY_TIMEOUT_MS: '250',
      }),
    ).toMatchObject({ heartbeatMs: 1_000, instanceTtlMs: 3_000, databaseQueryTimeoutMs: 250 });
    expect(configError({ MCPGATE_HEARTBEAT_MS: '5000', MCPGATE_INSTANCE_TTL_MS: '5000' })).toMatch(
      /^invalid environment variable MCPGATE_INSTANCE_TTL_MS: must be longer than MCPGATE_HEARTBEAT_MS/,
    );
    expect(configError({ MCPGATE_HEARTBEAT_MS: '10' })).toMatch(
      /^invalid environment variable MCPGATE_HEARTBEAT_MS/,
    );
    expect(configError({ DATABASE_QUERY_TIMEOUT_MS: 'soon' })).toMatch(
      /^invalid environment variable DATABASE_QUERY_TIMEOUT_MS/,
    );
  });
});
