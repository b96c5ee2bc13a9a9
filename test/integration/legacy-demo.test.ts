/**
 * The demo as `npm start` sets it up (demo brain + seed on the embedded store), reached the way an old
 * agent would: SDK v1 `SSEClientTransport` at /brains/demo/sse with the printed org token. It lists and
 * calls the demo tools and receives the demo's log pushes (issue 4 §8).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type DemoBrain, startDemoBrain } from '../../src/demo/brain.js';
import { seedDemo } from '../../src/demo/seed.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let demo: DemoBrain;
let gateway: TestGateway;
let orgToken: string;

beforeAll(async () => {
  demo = await startDemoBrain();
  gateway = await startTestGateway();
  ({ orgToken } = await seedDemo(gateway.deps, demo.url));
});

afterAll(async () => {
  await gateway?.close();
  await demo?.close();
});

test('SDK v1 SSE client: demo tools and the demo’s log pushes', async () => {
  const transport = new SSEClientTransport(new URL(`${gateway.url}/brains/demo/sse`), {
    requestInit: { headers: { authorization: `Bearer ${orgToken}` } },
  });
  const client = new Client({ name: 'demo-legacy', version: '1.0.0' });
  await client.connect(transport);

  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'add', 'count', 'start-logging']));
  const sum = (await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } })) as {
    content: Array<{ text: string }>;
  };
  expect(sum.content[0]!.text).toBe('42');

  const ticks: unknown[] = [];
  const twoTicks = new Promise<void>((resolve) =>
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      ticks.push(n.params);
      if (ticks.length === 2) resolve();
    }),
  );
  await client.callTool({ name: 'start-logging', arguments: { intervalMs: 50 } });
  await twoTicks;
  expect(ticks[0]).toEqual({ level: 'info', logger: 'demo', data: 'tick 1' });
  await client.close();
});
