/**
 * Which failures the Postgres store reports as ERR_STORE_UNAVAILABLE (→ 503, `/readyz` 503) rather than
 * ERR_INTERNAL (issue 5 §7): every way of not reaching the database, and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { isUnavailable, toStoreError, withDeadline } from '../../src/store/postgres-errors.js';

const failure = (code: string) => Object.assign(new Error(`failure ${code}`), { code });

describe('Postgres failures', () => {
  it.each([
    // Sockets and DNS.
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ENETDOWN',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EPIPE',
    // postgres.js connection errors.
    'CONNECT_TIMEOUT',
    'CONNECTION_CLOSED',
    'CONNECTION_DESTROYED',
    'CONNECTION_ENDED',
    // The server: connection exceptions, credentials, resources, shutdown, read-only standby.
    '08006',
    '28P01',
    '3D000',
    '53300',
    '53100',
    '57P01',
    '57P03',
    '25006',
    // TLS.
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'ERR_SSL_WRONG_VERSION_NUMBER',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
  ])('%s means the store is unavailable', (code) => {
    expect(isUnavailable(failure(code))).toBe(true);
    const mapped = toStoreError(failure(code), 'getOrg');
    expect(mapped.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(mapped.status).toBe(503);
    expect(mapped.message).toBe(`store unavailable (${code})`);
  });

  it.each(['42P01', '22P02', '40001', 'UNDEFINED_VALUE', undefined])('%s is an internal error', (code) => {
    const err = code === undefined ? new Error('no code') : failure(code);
    expect(isUnavailable(err)).toBe(false);
    expect(toStoreError(err, 'getOrg').code).toBe('ERR_INTERNAL');
  });

  it('bounds a call that never settles', async () => {
    const started = Date.now();
    const err = await withDeadline(new Promise(() => {}), 50, 'getOrg').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('ERR_STORE_UNAVAILABLE');
    expect((err as GatewayError).message).toBe('store unavailable (getOrg timed out)');
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(withDeadline(Promise.resolve(7), 50, 'x')).resolves.toBe(7);
  });
});
