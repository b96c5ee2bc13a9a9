/**
 * How a translated session's client message fares on its way to another instance
 * (src/routing/translated-messages.ts): taken, nowhere (drop it: nothing waits), or undelivered (the
 * client must send it again: the instance list or the peer could not be reached). Real HTTP peers on
 * loopback; the store is a stub that only lists instances.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretBox } from '../../src/auth/secrets.js';
import { parseConfig } from '../../src/config.js';
import type { GatewayDeps } from '../../src/http/context.js';
import { createLogger } from '../../src/log.js';
import { createPeerMessages, instanceTag } from '../../src/routing/translated-messages.js';
import type { InstanceRecord, Store } from '../../src/store/types.js';

const target = { brain: 'b', sessionId: 't-1', tokenId: 'tok_1' };
const answer = JSON.stringify({ jsonrpc: '2.0', id: 'x', result: {} });

function peerAnswering(status: number): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(status).end());
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

function depsWith(listInstances: () => Promise<InstanceRecord[]>): Parameters<typeof createPeerMessages>[0] {
  const store = { kind: 'postgres', listInstances } as unknown as Store;
  return {
    config: parseConfig({}),
    store,
    secrets: createSecretBox(new Uint8Array(32)),
    logger: createLogger({ level: 'silent' }),
    instanceId: 'inst_self',
  } satisfies Pick<GatewayDeps, 'config' | 'store' | 'secrets' | 'logger' | 'instanceId'>;
}

const instance = (id: string, url: string): InstanceRecord =>
  ({ id, url, heartbeatAt: new Date(), machineId: null }) as unknown as InstanceRecord;

describe('translated messages between instances', () => {
  let taking: Server;
  let empty: Server;
  let deadUrl: string;

  beforeAll(async () => {
    taking = await peerAnswering(202);
    empty = await peerAnswering(404);
    const dead = await peerAnswering(202);
    deadUrl = urlOf(dead);
    await new Promise((resolve) => dead.close(resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => taking.close(resolve));
    await new Promise((resolve) => empty.close(resolve));
  });

  it('an answer is taken by the tagged peer, dropped when nothing waits, undelivered when unreachable', async () => {
    const peers = createPeerMessages(
      depsWith(async () => [
        instance('inst_taking', urlOf(taking)),
        instance('inst_empty', urlOf(empty)),
        instance('inst_dead', deadUrl),
      ]),
    );
    expect(await peers.toTagged(instanceTag('inst_taking'), target, answer)).toBe('taken');
    expect(await peers.toTagged(instanceTag('inst_empty'), target, answer)).toBe('nowhere');
    expect(await peers.toTagged(instanceTag('inst_gone'), target, answer)).toBe('nowhere');
    expect(await peers.toTagged(instanceTag('inst_dead'), target, answer)).toBe('undelivered');
  });

  it('a cancel to everyone: taken if any took it, undelivered if one could not be asked', async () => {
    const all = (list: InstanceRecord[]) => createPeerMessages(depsWith(async () => list));
    const cancel = JSON.stringify({
      jsonrpc: '2.0',
      method: 'notifications/cancelled',
      params: { requestId: 1 },
    });
    const [t, e, d] = [instance('a', urlOf(taking)), instance('b', urlOf(empty)), instance('c', deadUrl)];
    expect(await all([e, t, d]).toEveryone(target, cancel)).toBe('taken');
    expect(await all([e]).toEveryone(target, cancel)).toBe('nowhere');
    expect(await all([e, d]).toEveryone(target, cancel)).toBe('undelivered');
  });

  it('without the instance list, nothing can be said to be delivered', async () => {
    const peers = createPeerMessages(
      depsWith(async () => {
        throw new Error('store down');
      }),
    );
    expect(await peers.toTagged(instanceTag('inst_taking'), target, answer)).toBe('undelivered');
    expect(await peers.toEveryone(target, answer)).toBe('undelivered');
  });
});
