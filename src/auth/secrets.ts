/**
 * Upstream credentials at rest: JWE (dir + A256GCM, jose) under a key derived from MCPGATE_SECRET, and
 * the instance-to-instance signing key. Pure apart from randomness.
 *
 * Keys are derived with HKDF so one secret can serve several purposes without one use weakening another.
 */
import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';

export type UpstreamHeaders = Record<string, string>;

export interface SecretBox {
  /** Encrypts headers for storage; null when there are none. */
  sealHeaders(headers: UpstreamHeaders | undefined): Promise<string | null>;
  openHeaders(sealed: string | null): Promise<UpstreamHeaders>;
  /** HMAC key for signing internal (instance-to-instance) calls. */
  readonly signingKey: Uint8Array;
}

function derive(secret: Uint8Array, purpose: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'mcpgate', purpose, 32));
}

export function createSecretBox(secret: Uint8Array): SecretBox {
  const encKey = derive(secret, 'upstream-headers/v1');
  const signingKey = derive(secret, 'internal-calls/v1');
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return {
    signingKey,
    async sealHeaders(headers) {
      if (!headers || Object.keys(headers).length === 0) return null;
      return new CompactEncrypt(encoder.encode(JSON.stringify(headers)))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'mcpgate-headers' })
        .encrypt(encKey);
    },
    async openHeaders(sealed) {
      if (!sealed) return {};
      const { plaintext } = await compactDecrypt(sealed, encKey);
      return JSON.parse(decoder.decode(plaintext)) as UpstreamHeaders;
    },
  };
}
