import { describe, expect, it } from 'vitest';
import { createSecretBox } from '../../src/auth/secrets.js';
import {
  base62,
  generateSessionId,
  generateToken,
  hashToken,
  looksLikeOrgToken,
} from '../../src/auth/tokens.js';

describe('tokens', () => {
  it('are mcpg_ + 32 random bytes in base62 and distinct', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a).toMatch(/^mcpg_[0-9A-Za-z]{43}$/);
    expect(a).not.toBe(b);
    expect(looksLikeOrgToken(a)).toBe(true);
    // 43 base62 digits carry 43 * log2(62) ≈ 256 bits.
    expect(43 * Math.log2(62)).toBeGreaterThanOrEqual(256);
  });

  it('base62 is a faithful, fixed-width encoding', () => {
    expect(base62(new Uint8Array([0]))).toBe('00');
    expect(base62(new Uint8Array([61]))).toBe('0z');
    expect(base62(new Uint8Array([62]))).toBe('10');
    expect(base62(new Uint8Array(32).fill(255))).toHaveLength(43);
  });

  it('hash to sha-256 hex', () => {
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('session ids carry at least 128 random bits', () => {
    const id = generateSessionId();
    expect(id.length * Math.log2(62)).toBeGreaterThanOrEqual(128);
    expect(generateSessionId()).not.toBe(id);
  });
});

describe('secret box', () => {
  const box = createSecretBox(new Uint8Array(32).fill(7));

  it('round-trips headers through JWE without the plaintext in the ciphertext', async () => {
    const sealed = await box.sealHeaders({ Authorization: 'Bearer upstream-xyz' });
    expect(sealed).toMatch(/^[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('upstream-xyz');
    expect(await box.openHeaders(sealed)).toEqual({ Authorization: 'Bearer upstream-xyz' });
  });

  it('stores no ciphertext for no headers, and refuses another secret', async () => {
    expect(await box.sealHeaders({})).toBeNull();
    expect(await box.openHeaders(null)).toEqual({});
    const sealed = await box.sealHeaders({ a: 'b' });
    const other = createSecretBox(new Uint8Array(32).fill(8));
    await expect(other.openHeaders(sealed)).rejects.toThrow();
  });
});
