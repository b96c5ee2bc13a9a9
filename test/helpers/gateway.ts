/**
 * Starts an in-process gateway for tests (memory store by default, or a given Store), with captured
 * logs, and provisions orgs/brains/tokens through the real admin API.
 */
import { Writable } from 'node:stream';
import type { Face } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { faces as allFaces } from '../../src/faces.js';
import { type Gateway, startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import type { Store } from '../../src/store/types.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestGateway extends Gateway {
  /** Every log line written so far (JSON strings). */
  logs: string[];
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  /** Creates org (if needed), brain and a token; returns the plaintext token. */
  provision(options: {
    org: string;
    brain: string;
    upstreamUrl: string;
    upstreamHeaders?: Record<string, string>;
    tokenBrains?: string[];
    connectTimeoutMs?: number;
    firstByteTimeoutMs?: number;
  }): Promise<{ token: string; tokenId: string }>;
  createToken(org: string, body?: Record<string, unknown>): Promise<{ token: string; tokenId: string }>;
}

export async function startTestGateway(
  options: { store?: Store; env?: Record<string, string>; faces?: Face[] } = {},
): Promise<TestGateway> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const config = parseConfig({
    PORT: '0',
    MCPGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'debug',
    ...options.env,
  });
  const gateway = await startGateway({
    config,
    logger: createLogger({ level: config.logLevel, destination }),
    faces: options.faces ?? allFaces,
    store: options.store,
  });

  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${gateway.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  const createToken = async (org: string, body: Record<string, unknown> = {}) => {
    const res = await admin('POST', `/orgs/${org}/tokens`, body);
    if (res.status !== 201) throw new Error(`token create failed: ${res.status} ${await res.text()}`);
    const json = (await res.json()) as { id: string; token: string };
    return { token: json.token, tokenId: json.id };
  };

  return {
    ...gateway,
    logs,
    admin,
    createToken,
    async provision(p) {
      const org = await admin('POST', '/orgs', { slug: p.org });
      if (org.status !== 201 && org.status !== 409) throw new Error(`org create failed: ${org.status}`);
      const brain = await admin('POST', `/orgs/${p.org}/brains`, {
        id: p.brain,
        upstreamUrl: p.upstreamUrl,
        upstreamHeaders: p.upstreamHeaders,
        connectTimeoutMs: p.connectTimeoutMs,
        firstByteTimeoutMs: p.firstByteTimeoutMs,
      });
      if (brain.status !== 201) throw new Error(`brain create failed: ${brain.status} ${await brain.text()}`);
      return createToken(p.org, p.tokenBrains ? { brains: p.tokenBrains } : {});
    },
  };
}
