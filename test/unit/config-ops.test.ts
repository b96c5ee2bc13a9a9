/**
 * The settings of issue 7 part B: rate limits, stream slots, audit, metrics, request timeouts. Defaults,
 * derived values, and one-line errors naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { isGatewayError } from '../../src/errors.js';

function errorOf(env: Record<string, string>): string {
  try {
    parseConfig(env);
  } catch (err) {
    if (isGatewayError(err, 'ERR_CONFIG')) return err.message;
    throw err;
  }
  throw new Error('accepted');
}

describe('operations settings', () => {
  it('defaults: no rate limits, 2000 streams per token, audit on, /metrics on PORT, 30 s / 10 s timeouts', () => {
    const config = parseConfig({});
    expect(config.limits).toEqual({
      token: { perMinute: 0, burst: 1 },
      org: { perMinute: 0, burst: 1 },
      instances: 1,
      maxStreamsPerToken: 2000,
      maxInflightPerSession: 256,
    });
    expect(config.audit).toEqual({
      enabled: true,
      batchSize: 500,
      flushMs: 1000,
      queueMax: 20_000,
      ringSize: 10_000,
      retentionDays: 90,
    });
    expect(config.metricsPort).toBeUndefined();
    expect(config.metricsToken).toBeUndefined();
    expect(config.requestTimeoutMs).toBe(30_000);
    expect(config.headersTimeoutMs).toBe(10_000);
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(Object.isFrozen(config.audit)).toBe(true);
  });

  it('reads every value; burst defaults to ten seconds of the rate', () => {
    const config = parseConfig({
      MCPGATE_RATE_LIMIT_TOKEN_PER_MIN: '600',
      MCPGATE_RATE_LIMIT_ORG_PER_MIN: '6000',
      MCPGATE_RATE_LIMIT_ORG_BURST: '50',
      MCPGATE_RATE_LIMIT_INSTANCES: '3',
      MCPGATE_MAX_STREAMS_PER_TOKEN: '0',
      MCPGATE_AUDIT: 'false',
      MCPGATE_AUDIT_BATCH_SIZE: '10',
      MCPGATE_AUDIT_FLUSH_MS: '250',
      MCPGATE_AUDIT_QUEUE_MAX: '100',
      MCPGATE_AUDIT_RING_SIZE: '5',
      MCPGATE_AUDIT_RETENTION_DAYS: '0',
      MCPGATE_METRICS_PORT: '9091',
      MCPGATE_METRICS_TOKEN: 'scrape-token-0123456789',
      MCPGATE_REQUEST_TIMEOUT_MS: '5000',
      MCPGATE_HEADERS_TIMEOUT_MS: '60000',
      MCPGATE_MAX_INFLIGHT_PER_SESSION: '8',
    });
    expect(config.limits).toEqual({
      token: { perMinute: 600, burst: 100 },
      org: { perMinute: 6000, burst: 50 },
      instances: 3,
      maxStreamsPerToken: 0,
      maxInflightPerSession: 8,
    });
    expect(config.audit).toEqual({
      enabled: false,
      batchSize: 10,
      flushMs: 250,
      queueMax: 100,
      ringSize: 5,
      retentionDays: 0,
    });
    expect(config.metricsPort).toBe(9091);
    expect(config.metricsToken).toBe('scrape-token-0123456789');
    expect(config.requestTimeoutMs).toBe(5000);
    // Node requires headersTimeout ≤ requestTimeout.
    expect(config.headersTimeoutMs).toBe(5000);
  });

  it('refuses bad values with one line naming the variable', () => {
    expect(errorOf({ MCPGATE_RATE_LIMIT_TOKEN_PER_MIN: '-1' })).toMatch(
      /^invalid environment variable MCPGATE_RATE_LIMIT_TOKEN_PER_MIN:/,
    );
    expect(errorOf({ MCPGATE_RATE_LIMIT_ORG_BURST: '0' })).toMatch(/MCPGATE_RATE_LIMIT_ORG_BURST/);
    expect(errorOf({ MCPGATE_RATE_LIMIT_INSTANCES: '0' })).toMatch(/MCPGATE_RATE_LIMIT_INSTANCES/);
    expect(errorOf({ MCPGATE_MAX_STREAMS_PER_TOKEN: 'lots' })).toMatch(/MCPGATE_MAX_STREAMS_PER_TOKEN/);
    expect(errorOf({ MCPGATE_AUDIT: 'yes' })).toMatch(/MCPGATE_AUDIT/);
    expect(errorOf({ MCPGATE_METRICS_PORT: '70000' })).toMatch(/MCPGATE_METRICS_PORT/);
    expect(errorOf({ MCPGATE_METRICS_TOKEN: 'short' })).toMatch(/MCPGATE_METRICS_TOKEN/);
    expect(errorOf({ MCPGATE_REQUEST_TIMEOUT_MS: '10' })).toMatch(/MCPGATE_REQUEST_TIMEOUT_MS/);
  });
});
