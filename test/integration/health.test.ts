import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let storeUp = true;

beforeAll(async () => {
  const inner = createMemoryStore();
  const store: Store = {
    ...inner,
    async ping() {
      if (!storeUp) throw new GatewayError('ERR_STORE_UNAVAILABLE', 'down');
    },
  };
  gw = await startTestGateway({ store, faces: [] });
});
afterAll(async () => {
  await gw.close();
});

describe('health', () => {
  it('/healthz answers while the process runs, /readyz follows the store', async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    storeUp = false;
    const down = await fetch(`${gw.url}/readyz`);
    expect(down.status).toBe(503);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    storeUp = true;
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
  });

  it('/readyz is 503 while draining', async () => {
    gw.deps.lifecycle.draining = true;
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);
    gw.deps.lifecycle.draining = false;
  });
});
