/**
 * The event bus on a real Postgres (issue 5 §5): two buses on one database stand for two instances.
 * Connection failures are real ones: a backend terminated by the server, a relay that black-holes the
 * listener's socket, a relay that refuses connections at boot.
 */
import postgres, { type Sql } from 'postgres';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import type { EventBus, GatewayEvent } from '../../src/events.js';
import { createLogger } from '../../src/log.js';
import { createPostgresBus, listenerName, type PostgresBusOptions } from '../../src/store/postgres-bus.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../helpers/postgres.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const logger = createLogger({ level: 'silent' });

/** Every event a bus hands its subscribers, and a way to wait for the next one that matches. */
function record(bus: EventBus) {
  const events: GatewayEvent[] = [];
  const waiters = new Set<{ match: (e: GatewayEvent) => boolean; resolve: (e: GatewayEvent) => void }>();
  bus.subscribe((event) => {
    events.push(event);
    for (const waiter of waiters) {
      if (!waiter.match(event)) continue;
      waiters.delete(waiter);
      waiter.resolve(event);
    }
  });
  const next = (match: (e: GatewayEvent) => boolean, timeoutMs = 8_000) =>
    new Promise<GatewayEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching event in ${timeoutMs} ms`)), timeoutMs);
      waiters.add({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  return { events, next };
}

const revoked = (tokenId: string): GatewayEvent => ({ type: 'token.revoked', tokenId });

describePostgres('event bus: Postgres LISTEN/NOTIFY', () => {
  let db: TestDatabase;
  let admin: Sql;
  const open: EventBus[] = [];
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = postgres(db.url, { max: 1, onnotice: () => {} });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((bus) => bus.close()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });
  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  async function startBus(instanceId: string, options: Partial<PostgresBusOptions> = {}) {
    const bus = createPostgresBus({ url: db.url, instanceId, logger, ...options });
    open.push(bus);
    const recorder = record(bus);
    await bus.start();
    return { bus, ...recorder };
  }

  /** Waits until the instance has exactly one listener backend (none left over from a replaced one). */
  async function expectOneListener(instanceId: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const [row] = await admin<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where application_name = ${listenerName(instanceId)}`;
      if (row!.n === 1) return;
      if (Date.now() > deadline) expect(row!.n, `listener backends of ${instanceId}`).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function proxyToDb(): Promise<TcpProxy> {
    const u = new URL(db.url);
    const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) });
    proxies.push(proxy);
    return proxy;
  }

  it('delivers an event published on one instance to the other, and once (at once) on the sender', async () => {
    const a = await startBus('inst-a');
    const b = await startBus('inst-b');

    const arrived = b.next((e) => e.type === 'token.revoked');
    const publishing = a.bus.publish(revoked('tok_1'));
    // The sender's own subscribers have it before the database has answered.
    expect(a.events).toEqual([revoked('tok_1')]);
    await publishing;
    expect(await arrived).toEqual(revoked('tok_1'));

    // Notifications arrive in commit order, so once B's reply is in, A's own echo would have been too.
    const reply = a.next((e) => e.type === 'brain.changed');
    await b.bus.publish({ type: 'brain.changed', brainId: 'b1' });
    await reply;
    expect(a.events).toEqual([revoked('tok_1'), { type: 'brain.changed', brainId: 'b1' }]);
    expect(b.events).toEqual([revoked('tok_1'), { type: 'brain.changed', brainId: 'b1' }]);
  });

  it('re-listens by itself after its connection is killed, resyncs, and hears later events', async () => {
    const a = await startBus('inst-a');
    const b = await startBus('inst-b');
    const resync = b.next((e) => e.type === 'resync');
    const killed = await admin`
      select pg_terminate_backend(pid) as ok from pg_stat_activity
       where application_name = ${listenerName('inst-b')} and datname = current_database()`;
    expect(killed).toEqual([{ ok: true }]);
    await resync;
    expect(a.events).toEqual([]);

    const arrived = b.next((e) => e.type === 'brain.deleted');
    await a.bus.publish({ type: 'brain.deleted', brainId: 'b9' });
    expect(await arrived).toEqual({ type: 'brain.deleted', brainId: 'b9' });
    await expectOneListener('inst-b');
  });

  it('replaces a listener whose connection went silent (half-open), then resyncs', async () => {
    const proxy = await proxyToDb();
    const a = await startBus('inst-a');
    const b = await startBus('inst-b', { url: proxy.via(db.url), selfCheckMs: 200, selfCheckTimeoutMs: 300 });
    // Only the listener's socket goes dark; B's NOTIFY connection still works.
    expect(proxy.freeze(listenerName('inst-b'))).toBe(1);
    await a.bus.publish(revoked('lost-while-dark'));

    await b.next((e) => e.type === 'resync');
    const arrived = b.next((e) => e.type === 'token.revoked');
    await a.bus.publish(revoked('after'));
    expect(await arrived).toEqual(revoked('after'));
    expect(b.events).not.toContainEqual(revoked('lost-while-dark'));
    await expectOneListener('inst-b');
  });

  it('boots while the database refuses connections, then listens (and resyncs) once it is reachable', async () => {
    const proxy = await proxyToDb();
    proxy.refuse(true);
    const a = await startBus('inst-a');
    const started = Date.now();
    const b = await startBus('inst-b', {
      url: proxy.via(db.url),
      retryMs: 100,
      listenTimeoutMs: 1_000,
    });
    expect(Date.now() - started).toBeLessThan(3_000);

    // Publishing while unreachable still reaches the sender's own subscribers, and does not throw.
    await b.bus.publish(revoked('local-only'));
    expect(b.events).toEqual([revoked('local-only')]);

    const resync = b.next((e) => e.type === 'resync');
    proxy.refuse(false);
    await resync;
    const arrived = b.next((e) => e.type === 'brain.changed');
    await a.bus.publish({ type: 'brain.changed', brainId: 'b2' });
    expect(await arrived).toEqual({ type: 'brain.changed', brainId: 'b2' });
    expect(b.events.filter((e) => e.type === 'resync')).toHaveLength(1);
    await expectOneListener('inst-b');
  });

  it('refuses an event too large for NOTIFY, delivering it nowhere', async () => {
    const a = await startBus('inst-a');
    const err = await a.bus
      .publish({ type: 'brain.notify', brainId: 'b1', params: { level: 'info', data: 'x'.repeat(8000) } })
      .catch((e: unknown) => e);
    expect(isGatewayError(err, 'ERR_PAYLOAD_TOO_LARGE')).toBe(true);
    expect(a.events).toEqual([]);
  });

  it('ignores notifications that are not its envelopes', async () => {
    const a = await startBus('inst-a');
    await admin`select pg_notify('mcpgate_events', 'not json')`;
    await admin`select pg_notify('mcpgate_events', ${JSON.stringify({ from: 'x', event: { type: 'nope' } })})`;
    const arrived = a.next((e) => e.type === 'brain.changed');
    await admin`select pg_notify('mcpgate_events', ${JSON.stringify({ from: 'x', event: { type: 'brain.changed', brainId: 'b3' } })})`;
    await arrived;
    expect(a.events).toEqual([{ type: 'brain.changed', brainId: 'b3' }]);
  });
});
