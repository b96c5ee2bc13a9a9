/**
 * Org tokens: `mcpg_` + 32 random bytes in base62, stored only as their sha-256 (DESIGN.md §5). Pure
 * apart from randomness.
 */
// A namespace import: `crypto.hash` is missing before Node 20.12, where a named import would not load.
import * as crypto from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const TOKEN_PREFIX = 'mcpg_';

/** Base62 of the bytes as one big-endian number, left-padded so every token has the same length. */
export function base62(bytes: Uint8Array): string {
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
  const width = Math.ceil((bytes.length * 8) / Math.log2(62));
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(width, '0');
}

export function generateToken(): string {
  return TOKEN_PREFIX + base62(crypto.randomBytes(32));
}

/** Hex sha-256 of a UTF-8 string; the one-shot `crypto.hash` (Node ≥ 20.12) where there is one. */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'hex')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

export function hashToken(token: string): string {
  return sha256Hex(token);
}

/** Ids shown to admins; not secret. */
export function generateId(prefix: string): string {
  return `${prefix}_${base62(crypto.randomBytes(12))}`;
}

/** ≥128 random bits for session ids (DESIGN.md §5). */
export function generateSessionId(): string {
  return base62(crypto.randomBytes(18));
}

export function looksLikeOrgToken(value: string): boolean {
  return value.startsWith(TOKEN_PREFIX) && /^[0-9A-Za-z]{43}$/.test(value.slice(TOKEN_PREFIX.length));
}
