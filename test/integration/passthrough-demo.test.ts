/**
 * The demo works (issue 3 §7): the demo brain and seed that `mcpgate serve --demo` uses, in-process, and
 * an SDK v1 Streamable HTTP client at /brains/demo/mcp with the demo org token lists and calls the tools.
 */

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type DemoBrain, startDemoBrain } from '../../src/demo/brain.js';
import { demoBanner, seedDemo } from '../../src/demo/seed.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let demo: DemoBrain;
let gateway: TestGateway;
let orgToken: string;
let adminToken: string;

beforeAll(async () => {
  demo = await startDemoBrain();
  gateway = await startTestGateway();
  ({ orgToken, adminToken } = await seedDemo(gateway.deps, demo.url));
});

afterAll(async () => {
  await gateway.close();
  await demo.close();
});

test('an SDK v1 Streamable HTTP client lists and calls the demo tools through /brains/demo/mcp', async () => {
  const transport = new StreamableHTTPClientTransport(new URL(`${gateway.url}/brains/demo/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${orgToken}` } },
  });
  const client = new Client({ name: 'demo-test', version: '1.0.0' });
  await client.connect(transport);

  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  expect(tools).toEqual(['add', 'count', 'echo', 'start-logging']);
  expect((await client.callTool({ name: 'echo', arguments: { message: 'hi' } })).content).toEqual([
    { type: 'text', text: 'Echo: hi' },
  ]);
  expect((await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).content).toEqual([
    { type: 'text', text: '5' },
  ]);
  const progress: number[] = [];
  await client.callTool({ name: 'count', arguments: { steps: 3, intervalMs: 10 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  expect(progress).toEqual([1, 2, 3]);

  const tick = new Promise<unknown>((resolve) =>
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => resolve(n.params.data)),
  );
  await client.callTool({ name: 'start-logging', arguments: { intervalMs: 50 } });
  expect(await tick).toBe('tick 1');

  await transport.terminateSession();
  await client.close();
});

test('the example command printed by `npm start` works as printed', async () => {
  const banner = demoBanner(gateway.url, { orgToken, adminToken });
  expect(banner).toContain(`${gateway.url}/brains/demo/mcp`);
  expect(banner).toContain(`${gateway.url}/brains/demo/sse`);
  const line = banner.split('\n').find((l) => l.trim().startsWith('node --input-type=module -e'));
  const script = /-e "(.*)"$/.exec(line?.trim() ?? '')?.[1];
  expect(script).toBeTruthy();
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script!], {
    timeout: 20_000,
  });
  expect(JSON.parse(stdout)).toEqual({ content: [{ type: 'text', text: 'Echo: hi' }] });
});
