/**
 * The Store contract (src/store/types.ts), run against every implementation: store-memory.test.ts and
 * store-postgres.test.ts. Anything one store does that the other must match belongs here.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GatewayErrorCode } from '../../src/errors.js';
import type { AuditEntry, NewBrain, NewSession, NewToken, Store } from '../../src/store/types.js';

async function rejection(promise: Promise<unknown>): Promise<{ code: GatewayErrorCode; field?: string }> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeDefined();
  expect((err as Error).name).toBe('GatewayError');
  return err as { code: GatewayErrorCode; field?: string };
}

const brainInput = (id: string, org: string, extra: Partial<NewBrain> = {}): NewBrain => ({
  id,
  org,
  upstreamUrl: `http://127.0.0.1:9/${id}/mcp`,
  upstreamHeadersEnc: null,
  upstreamHeaderNames: [],
  ...extra,
});

const tokenInput = (id: string, org: string, extra: Partial<NewToken> = {}): NewToken => ({
  id,
  org,
  name: null,
  hash: `hash-of-${id}`,
  brains: null,
  expiresAt: null,
  ...extra,
});

const sessionInput = (id: string, extra: Partial<NewSession> = {}): NewSession => ({
  id,
  brain: 'b1',
  kind: 'legacy',
  org: 'acme',
  tokenId: 'tok1',
  ownerInstance: 'inst-a',
  upstreamSessionId: null,
  protocolVersion: null,
  initParams: { protocolVersion: '2025-06-18', clientInfo: { name: 'test', version: '1' } },
  ...extra,
});

/**
 * Declares the contract suite. `makeStore` gives an empty store for each test; the suite closes it.
 */
export function describeStoreContract(name: string, makeStore: () => Store | Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close();
    });

    /** An org `acme` with brains b1, b2, and an org `globex` with brain g1. */
    async function seed() {
      await store.createOrg({ slug: 'acme', name: 'Acme' });
      await store.createOrg({ slug: 'globex', name: null });
      await store.createBrain(brainInput('b1', 'acme'));
      await store.createBrain(brainInput('b2', 'acme'));
      await store.createBrain(brainInput('g1', 'globex'));
    }

    describe('orgs', () => {
      it('creates, reads and lists orgs by slug', async () => {
        const created = await store.createOrg({ slug: 'beta', name: 'Beta Inc' });
        expect(created).toEqual({
          slug: 'beta',
          name: 'Beta Inc',
          rateLimitPerMinute: null,
          rateLimitBurst: null,
          createdAt: expect.any(Date),
        });
        await store.createOrg({ slug: 'alpha', name: null });
        await store.createOrg({ slug: 'gamma-2', name: null });
        expect(await store.getOrg('beta')).toEqual(created);
        expect(await store.getOrg('alpha')).toEqual({
          slug: 'alpha',
          name: null,
          rateLimitPerMinute: null,
          rateLimitBurst: null,
          createdAt: expect.any(Date),
        });
        expect(await store.getOrg('nope')).toBeUndefined();
        expect((await store.listOrgs()).map((o) => o.slug)).toEqual(['alpha', 'beta', 'gamma-2']);
      });

      it('refuses a duplicate slug with ERR_CONFLICT on field slug', async () => {
        await store.createOrg({ slug: 'acme', name: null });
        const err = await rejection(store.createOrg({ slug: 'acme', name: 'again' }));
        expect(err).toMatchObject({ code: 'ERR_CONFLICT', field: 'slug' });
        expect(await store.listOrgs()).toHaveLength(1);
      });

      it('lists nothing when empty', async () => {
        expect(await store.listOrgs()).toEqual([]);
      });

      it('updates the rate-limit override and the name; undefined leaves a field, null clears it', async () => {
        const created = await store.createOrg({ slug: 'acme', name: 'Acme' });
        const limited = await store.updateOrg('acme', { rateLimitPerMinute: 120, rateLimitBurst: 20 });
        expect(limited).toEqual({ ...created, rateLimitPerMinute: 120, rateLimitBurst: 20 });
        expect(await store.getOrg('acme')).toEqual(limited);
        const renamed = await store.updateOrg('acme', { name: null, rateLimitBurst: null });
        expect(renamed).toEqual({ ...created, name: null, rateLimitPerMinute: 120, rateLimitBurst: null });
        expect(await store.updateOrg('acme', {})).toEqual(renamed);
        expect(await store.updateOrg('nope', { rateLimitPerMinute: 1 })).toBeUndefined();
        expect(await store.getOrg('nope')).toBeUndefined();
      });
    });

    describe('audit log', () => {
      const entry = (n: number, extra: Partial<AuditEntry> = {}): AuditEntry => ({
        at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
        org: 'acme',
        brain: 'b1',
        tokenId: 'tok1',
        session: null,
        face: 'mcp',
        method: 'tools/call',
        name: `tool-${n}`,
        status: 200,
        latencyMs: 1.25,
        requestId: `req-${n}`,
        ...extra,
      });

      it('appends batches and reads them back in order, every field kept', async () => {
        await store.appendAudit([entry(1, { session: 'a1b2c3', method: null, name: null, status: 429 })]);
        await store.appendAudit([entry(2, { face: 'sse', latencyMs: 0.004 }), entry(3)]);
        await store.appendAudit([]);
        const records = await store.listAudit({ limit: 10 });
        expect(records).toEqual([
          {
            ...entry(1, { session: 'a1b2c3', method: null, name: null, status: 429 }),
            id: expect.any(String),
          },
          { ...entry(2, { face: 'sse', latencyMs: 0.004 }), id: expect.any(String) },
          { ...entry(3), id: expect.any(String) },
        ]);
        const ids = records.map((r) => BigInt(r.id));
        expect(ids[0]! < ids[1]! && ids[1]! < ids[2]!).toBe(true);
      });

      it('filters by org, brain and time, and pages with the last id as cursor', async () => {
        const entries = Array.from({ length: 12 }, (_, n) =>
          entry(n, { org: n % 3 === 0 ? 'globex' : 'acme', brain: n % 2 === 0 ? 'b1' : 'b2' }),
        );
        await store.appendAudit(entries);
        const acme = await store.listAudit({ org: 'acme', limit: 100 });
        expect(acme.map((r) => r.requestId)).toEqual(
          entries.filter((e) => e.org === 'acme').map((e) => e.requestId),
        );
        const acmeB1 = await store.listAudit({ org: 'acme', brain: 'b1', limit: 100 });
        expect(acmeB1.map((r) => r.requestId)).toEqual(['req-2', 'req-4', 'req-8', 'req-10']);
        const since = await store.listAudit({ since: entries[9]!.at, limit: 100 });
        expect(since.map((r) => r.requestId)).toEqual(['req-9', 'req-10', 'req-11']);

        const pages: string[][] = [];
        let after: string | undefined;
        for (;;) {
          const page = await store.listAudit({ org: 'acme', limit: 3, after });
          if (page.length === 0) break;
          pages.push(page.map((r) => r.requestId));
          after = page.at(-1)!.id;
        }
        expect(pages).toEqual([
          ['req-1', 'req-2', 'req-4'],
          ['req-5', 'req-7', 'req-8'],
          ['req-10', 'req-11'],
        ]);
      });

      it('prunes records older than a time', async () => {
        await store.appendAudit([entry(1), entry(2), entry(3)]);
        expect(await store.pruneAudit(entry(3).at)).toBe(2);
        expect((await store.listAudit({ limit: 10 })).map((r) => r.requestId)).toEqual(['req-3']);
        expect(await store.pruneAudit(entry(3).at)).toBe(0);
      });
    });

    describe('brains', () => {
      it('creates a brain with defaults and reads it back', async () => {
        await store.createOrg({ slug: 'acme', name: null });
        const brain = await store.createBrain(brainInput('b1', 'acme'));
        expect(brain).toEqual({
          id: 'b1',
          org: 'acme',
          upstreamUrl: 'http://127.0.0.1:9/b1/mcp',
          upstreamHeadersEnc: null,
          upstreamHeaderNames: [],
          connectTimeoutMs: null,
          firstByteTimeoutMs: null,
          era: 'auto',
          createdAt: expect.any(Date),
          updatedAt: expect.any(Date),
        });
        expect(brain.updatedAt.getTime()).toBe(brain.createdAt.getTime());
        expect(await store.getBrain('b1')).toEqual(brain);
        expect(await store.getBrain('nope')).toBeUndefined();
      });

      it('keeps every field given', async () => {
        await store.createOrg({ slug: 'acme', name: null });
        const input = brainInput('full', 'acme', {
          upstreamHeadersEnc: 'eyJhbGciOi.jwe.compact',
          upstreamHeaderNames: ['Authorization', 'X-Api-Key'],
          connectTimeoutMs: 1500,
          firstByteTimeoutMs: 60_000,
          era: '2026',
        });
        const brain = await store.createBrain(input);
        expect(brain).toMatchObject({ ...input });
        expect(await store.getBrain('full')).toEqual(brain);
      });

      it('refuses a brain of a missing org with ERR_NOT_FOUND', async () => {
        const err = await rejection(store.createBrain(brainInput('b1', 'ghost')));
        expect(err.code).toBe('ERR_NOT_FOUND');
        expect(await store.getBrain('b1')).toBeUndefined();
      });

      it('checks the org before the id: a taken id under a missing org is ERR_NOT_FOUND', async () => {
        await seed();
        expect((await rejection(store.createBrain(brainInput('b1', 'ghost')))).code).toBe('ERR_NOT_FOUND');
      });

      it('refuses a duplicate id, across orgs too, with ERR_CONFLICT on field id', async () => {
        await seed();
        const same = await rejection(store.createBrain(brainInput('b1', 'acme')));
        expect(same).toMatchObject({ code: 'ERR_CONFLICT', field: 'id' });
        const other = await rejection(store.createBrain(brainInput('b1', 'globex')));
        expect(other).toMatchObject({ code: 'ERR_CONFLICT', field: 'id' });
        expect((await store.getBrain('b1'))?.org).toBe('acme');
      });

      it('lists brains by id, all or of one org', async () => {
        await seed();
        await store.createBrain(brainInput('a0', 'globex'));
        expect((await store.listBrains()).map((b) => b.id)).toEqual(['a0', 'b1', 'b2', 'g1']);
        expect((await store.listBrains('acme')).map((b) => b.id)).toEqual(['b1', 'b2']);
        expect((await store.listBrains('globex')).map((b) => b.id)).toEqual(['a0', 'g1']);
        expect(await store.listBrains('nope')).toEqual([]);
      });

      it('updates only the fields given; null clears, undefined leaves alone', async () => {
        await store.createOrg({ slug: 'acme', name: null });
        const before = await store.createBrain(
          brainInput('b1', 'acme', {
            upstreamHeadersEnc: 'enc-1',
            upstreamHeaderNames: ['X-Key'],
            connectTimeoutMs: 1000,
            firstByteTimeoutMs: 2000,
          }),
        );
        const after = await store.updateBrain('b1', {
          upstreamUrl: 'http://127.0.0.1:9/new',
          upstreamHeadersEnc: undefined,
          connectTimeoutMs: null,
        });
        expect(after).toEqual({
          ...before,
          upstreamUrl: 'http://127.0.0.1:9/new',
          connectTimeoutMs: null,
          updatedAt: expect.any(Date),
        });
        expect(after!.updatedAt.getTime()).toBeGreaterThanOrEqual(before.updatedAt.getTime());
        expect(after!.createdAt).toEqual(before.createdAt);
        expect(await store.getBrain('b1')).toEqual(after);

        const cleared = await store.updateBrain('b1', {
          upstreamHeadersEnc: null,
          upstreamHeaderNames: [],
          firstByteTimeoutMs: null,
        });
        expect(cleared).toMatchObject({
          upstreamUrl: 'http://127.0.0.1:9/new',
          upstreamHeadersEnc: null,
          upstreamHeaderNames: [],
          connectTimeoutMs: null,
          firstByteTimeoutMs: null,
        });
        const set = await store.updateBrain('b1', {
          upstreamHeadersEnc: 'enc-2',
          upstreamHeaderNames: ['A', 'B'],
          connectTimeoutMs: 5,
          firstByteTimeoutMs: 6,
        });
        expect(set).toMatchObject({
          upstreamHeadersEnc: 'enc-2',
          upstreamHeaderNames: ['A', 'B'],
          connectTimeoutMs: 5,
          firstByteTimeoutMs: 6,
        });
      });

      it('pins and unpins the era (issue 6); other fields stay', async () => {
        await seed();
        const before = await store.getBrain('b1');
        expect(before?.era).toBe('auto');
        expect(await store.updateBrain('b1', { era: '2025' })).toEqual({
          ...before,
          era: '2025',
          updatedAt: expect.any(Date),
        });
        expect((await store.updateBrain('b1', { connectTimeoutMs: 7 }))?.era).toBe('2025');
        expect((await store.updateBrain('b1', { era: 'auto' }))?.era).toBe('auto');
        expect((await store.listBrains('acme')).map((b) => b.era)).toEqual(['auto', 'auto']);
      });

      it('an empty patch still answers the brain; a missing brain answers undefined', async () => {
        await seed();
        const brain = await store.getBrain('b1');
        expect(await store.updateBrain('b1', {})).toEqual({ ...brain, updatedAt: expect.any(Date) });
        expect(await store.updateBrain('nope', { upstreamUrl: 'http://127.0.0.1:9/x' })).toBeUndefined();
        expect(await store.getBrain('nope')).toBeUndefined();
      });

      it('hands out copies: mutating a returned brain changes nothing stored', async () => {
        await seed();
        const brain = await store.getBrain('b1');
        brain!.upstreamHeaderNames.push('Injected');
        brain!.upstreamUrl = 'http://evil';
        expect(await store.getBrain('b1')).toMatchObject({
          upstreamHeaderNames: [],
          upstreamUrl: 'http://127.0.0.1:9/b1/mcp',
        });
      });

      it('deletes a brain with its sessions, and only those', async () => {
        await seed();
        await store.putSession(sessionInput('s1', { brain: 'b1' }));
        await store.putSession(sessionInput('s2', { brain: 'b1' }));
        await store.putSession(sessionInput('s1', { brain: 'b2' }));
        expect(await store.deleteBrain('b1')).toBe(true);
        expect(await store.getBrain('b1')).toBeUndefined();
        expect(await store.getSession('b1', 's1')).toBeUndefined();
        expect(await store.getSession('b1', 's2')).toBeUndefined();
        expect(await store.getSession('b2', 's1')).toBeDefined();
        expect((await store.listBrains()).map((b) => b.id)).toEqual(['b2', 'g1']);
        expect(await store.deleteBrain('b1')).toBe(false);
        expect(await store.deleteBrain('nope')).toBe(false);
        // The id is free again.
        expect((await store.createBrain(brainInput('b1', 'globex'))).org).toBe('globex');
      });
    });

    describe('tokens', () => {
      it('creates a token and finds it by id and by hash', async () => {
        await seed();
        const expiresAt = new Date('2031-02-03T04:05:06.789Z');
        const input = tokenInput('tok1', 'acme', { name: 'ci', brains: ['b1', 'b2'], expiresAt });
        const token = await store.createToken(input);
        expect(token).toEqual({ ...input, revokedAt: null, createdAt: expect.any(Date) });
        expect(token.expiresAt?.toISOString()).toBe('2031-02-03T04:05:06.789Z');
        expect(await store.getToken('tok1')).toEqual(token);
        expect(await store.findTokenByHash('hash-of-tok1')).toEqual(token);
        expect(await store.getToken('nope')).toBeUndefined();
        expect(await store.findTokenByHash('hash-of-nope')).toBeUndefined();
      });

      it('keeps null brains (every brain of the org) apart from an empty list', async () => {
        await seed();
        expect((await store.createToken(tokenInput('all', 'acme'))).brains).toBeNull();
        expect((await store.createToken(tokenInput('none', 'acme', { brains: [] }))).brains).toEqual([]);
        expect((await store.getToken('all'))?.brains).toBeNull();
        expect((await store.getToken('none'))?.brains).toEqual([]);
      });

      it('refuses a token of a missing org with ERR_NOT_FOUND', async () => {
        const err = await rejection(store.createToken(tokenInput('tok1', 'ghost')));
        expect(err.code).toBe('ERR_NOT_FOUND');
        expect(await store.getToken('tok1')).toBeUndefined();
      });

      it('refuses a duplicate id or hash with ERR_CONFLICT', async () => {
        await seed();
        await store.createToken(tokenInput('tok1', 'acme'));
        const sameId = await rejection(store.createToken(tokenInput('tok1', 'acme', { hash: 'other' })));
        expect(sameId.code).toBe('ERR_CONFLICT');
        const sameHash = await rejection(
          store.createToken(tokenInput('tok2', 'acme', { hash: 'hash-of-tok1' })),
        );
        expect(sameHash.code).toBe('ERR_CONFLICT');
        expect(await store.getToken('tok2')).toBeUndefined();
        expect((await store.findTokenByHash('hash-of-tok1'))?.id).toBe('tok1');
      });

      it('revokes once, at the time given, and removes that token’s sessions only', async () => {
        await seed();
        await store.createToken(tokenInput('tok1', 'acme'));
        await store.createToken(tokenInput('tok2', 'acme'));
        await store.putSession(sessionInput('s1', { tokenId: 'tok1' }));
        await store.putSession(sessionInput('s2', { tokenId: 'tok1', brain: 'b2' }));
        await store.putSession(sessionInput('s3', { tokenId: 'tok2' }));
        const at = new Date('2030-01-01T00:00:00.123Z');

        expect(await store.revokeToken('tok1', at)).toBe(true);
        expect((await store.getToken('tok1'))?.revokedAt).toEqual(at);
        expect((await store.findTokenByHash('hash-of-tok1'))?.revokedAt).toEqual(at);
        expect(await store.getSession('b1', 's1')).toBeUndefined();
        expect(await store.getSession('b2', 's2')).toBeUndefined();
        expect((await store.listSessions()).map((s) => s.id)).toEqual(['s3']);

        expect(await store.revokeToken('tok1', new Date('2031-01-01T00:00:00Z'))).toBe(false);
        expect((await store.getToken('tok1'))?.revokedAt).toEqual(at);
        expect(await store.revokeToken('nope')).toBe(false);
        expect((await store.getToken('tok2'))?.revokedAt).toBeNull();
      });

      it('revokes now when no time is given', async () => {
        await seed();
        const token = await store.createToken(tokenInput('tok1', 'acme'));
        expect(await store.revokeToken('tok1')).toBe(true);
        const revokedAt = (await store.getToken('tok1'))?.revokedAt;
        expect(revokedAt).toBeInstanceOf(Date);
        expect(revokedAt!.getTime()).toBeGreaterThanOrEqual(token.createdAt.getTime());
      });
    });

    describe('sessions', () => {
      it('puts a session and reads it back by (brain, id)', async () => {
        await seed();
        const input = sessionInput('s1', { upstreamSessionId: 'up-1', protocolVersion: '2025-06-18' });
        const session = await store.putSession(input);
        expect(session).toEqual({ ...input, createdAt: expect.any(Date), lastSeenAt: expect.any(Date) });
        expect(session.lastSeenAt.getTime()).toBe(session.createdAt.getTime());
        expect(await store.getSession('b1', 's1')).toEqual(session);
        // The same id on another brain is another session.
        expect(await store.getSession('b2', 's1')).toBeUndefined();
        expect(await store.getSession('b1', 'nope')).toBeUndefined();
      });

      it('round-trips init params of any JSON shape, and tells null from unset', async () => {
        await seed();
        const shapes: Record<string, unknown> = {
          object: { capabilities: { roots: { listChanged: true } }, nested: [1, 'two', null, { x: false }] },
          string: 'text',
          number: 42,
          array: [],
          null: null,
          unset: undefined,
        };
        for (const [id, initParams] of Object.entries(shapes)) {
          await store.putSession(sessionInput(id, { initParams }));
        }
        for (const [id, initParams] of Object.entries(shapes)) {
          expect((await store.getSession('b1', id))?.initParams, id).toStrictEqual(initParams);
        }
      });

      it('replaces a session put again under the same (brain, id)', async () => {
        await seed();
        await store.putSession(sessionInput('s1'));
        const replaced = await store.putSession(
          sessionInput('s1', { kind: 'passthrough', ownerInstance: 'inst-b', upstreamSessionId: 'up-2' }),
        );
        expect(await store.getSession('b1', 's1')).toEqual(replaced);
        expect(replaced).toMatchObject({
          kind: 'passthrough',
          ownerInstance: 'inst-b',
          upstreamSessionId: 'up-2',
        });
        expect(await store.listSessions()).toHaveLength(1);
      });

      it('updates the fields given and marks the session seen', async () => {
        await seed();
        const before = await store.putSession(sessionInput('s1', { upstreamSessionId: 'up-1' }));
        await store.updateSession('b1', 's1', {
          protocolVersion: '2025-11-25',
          upstreamSessionId: undefined,
          initParams: { replayed: true },
        });
        const after = await store.getSession('b1', 's1');
        expect(after).toEqual({
          ...before,
          protocolVersion: '2025-11-25',
          initParams: { replayed: true },
          lastSeenAt: expect.any(Date),
        });
        expect(after!.lastSeenAt.getTime()).toBeGreaterThanOrEqual(before.lastSeenAt.getTime());

        await store.updateSession('b1', 's1', { upstreamSessionId: null, initParams: null });
        expect(await store.getSession('b1', 's1')).toMatchObject({
          upstreamSessionId: null,
          protocolVersion: '2025-11-25',
          initParams: null,
        });
        // A session that is not there is not an error.
        await store.updateSession('b1', 'nope', { protocolVersion: 'x' });
        expect(await store.getSession('b1', 'nope')).toBeUndefined();
      });

      it('touches a session at the time given', async () => {
        await seed();
        const before = await store.putSession(sessionInput('s1'));
        const at = new Date(before.createdAt.getTime() + 60_000);
        await store.touchSession('b1', 's1', at);
        expect(await store.getSession('b1', 's1')).toEqual({ ...before, lastSeenAt: at });
        await store.touchSession('b1', 's1');
        const now = (await store.getSession('b1', 's1'))!.lastSeenAt;
        expect(now.getTime()).toBeGreaterThanOrEqual(before.createdAt.getTime());
        await store.touchSession('b1', 'nope', at);
        expect(await store.getSession('b1', 'nope')).toBeUndefined();
      });

      it('deletes one session', async () => {
        await seed();
        await store.putSession(sessionInput('s1'));
        await store.putSession(sessionInput('s1', { brain: 'b2' }));
        expect(await store.deleteSession('b1', 's1')).toBe(true);
        expect(await store.deleteSession('b1', 's1')).toBe(false);
        expect(await store.getSession('b1', 's1')).toBeUndefined();
        expect(await store.getSession('b2', 's1')).toBeDefined();
      });

      it('holds translated sessions (issue 6) with their state, and lists them by kind', async () => {
        await seed();
        const state = {
          initialize: { protocolVersion: '2025-11-25' },
          logLevel: 'debug',
          subscriptions: ['a://b'],
        };
        const input = sessionInput('t-1', {
          kind: 'translated',
          protocolVersion: '2025-11-25',
          initParams: state,
        });
        expect(await store.putSession(input)).toMatchObject(input);
        await store.putSession(sessionInput('s2', { kind: 'passthrough' }));
        await store.updateSession('b1', 't-1', { initParams: { ...state, logLevel: 'error' } });
        expect((await store.getSession('b1', 't-1'))?.initParams).toEqual({ ...state, logLevel: 'error' });
        expect((await store.listSessions({ kind: 'translated' })).map((s) => s.id)).toEqual(['t-1']);
        // Not tied to an instance: an instance going away leaves it, as a pass-through session.
        expect(await store.deleteInstance('inst-a')).toEqual([]);
        expect(await store.getSession('b1', 't-1')).toBeDefined();
      });

      it('lists sessions oldest first, filtered by org, brain, kind and owner', async () => {
        await seed();
        await store.putSession(sessionInput('s1', { brain: 'b1', kind: 'legacy', ownerInstance: 'inst-a' }));
        await store.putSession(
          sessionInput('s2', { brain: 'b2', kind: 'passthrough', ownerInstance: 'inst-a' }),
        );
        await store.putSession(
          sessionInput('s3', { brain: 'g1', org: 'globex', kind: 'legacy', ownerInstance: 'inst-b' }),
        );
        await store.putSession(
          sessionInput('s4', { brain: 'b1', kind: 'passthrough', ownerInstance: 'inst-b' }),
        );
        const ids = async (filter?: Parameters<Store['listSessions']>[0]) =>
          (await store.listSessions(filter)).map((s) => `${s.brain}/${s.id}`);

        expect(await ids()).toEqual(['b1/s1', 'b2/s2', 'g1/s3', 'b1/s4']);
        expect(await ids({})).toEqual(['b1/s1', 'b2/s2', 'g1/s3', 'b1/s4']);
        expect(await ids({ org: 'acme' })).toEqual(['b1/s1', 'b2/s2', 'b1/s4']);
        expect(await ids({ org: 'globex' })).toEqual(['g1/s3']);
        expect(await ids({ brain: 'b1' })).toEqual(['b1/s1', 'b1/s4']);
        expect(await ids({ kind: 'passthrough' })).toEqual(['b2/s2', 'b1/s4']);
        expect(await ids({ ownerInstance: 'inst-b' })).toEqual(['g1/s3', 'b1/s4']);
        expect(await ids({ org: 'acme', kind: 'legacy' })).toEqual(['b1/s1']);
        expect(await ids({ brain: 'b1', kind: 'passthrough', ownerInstance: 'inst-b' })).toEqual(['b1/s4']);
        expect(await ids({ org: 'globex', brain: 'b1' })).toEqual([]);
        expect(await ids({ ownerInstance: 'nope' })).toEqual([]);
      });

      it('expires pass-through and translated sessions idle since before the cutoff, never legacy ones', async () => {
        await seed();
        const long = new Date(Date.now() - 2 * 86_400_000);
        const cutoff = new Date(Date.now() - 86_400_000);
        for (const [id, kind] of [
          ['old-pass', 'passthrough'],
          ['old-tr', 'translated'],
          ['old-legacy', 'legacy'],
          ['new-pass', 'passthrough'],
        ] as const) {
          await store.putSession(sessionInput(id, { kind }));
          if (id.startsWith('old-')) await store.touchSession('b1', id, long);
        }
        const expired = await store.expireIdleSessions({
          kinds: ['passthrough', 'translated'],
          before: cutoff,
        });
        expect(expired).toBe(2);
        expect((await store.listSessions()).map((s) => s.id).sort()).toEqual(['new-pass', 'old-legacy']);
        // Asking for legacy ones too changes nothing: their owner's liveness decides (reapDeadInstances).
        expect(await store.expireIdleSessions({ kinds: ['legacy', 'passthrough'], before: cutoff })).toBe(0);
        expect(await store.getSession('b1', 'old-legacy')).toBeDefined();
      });

      it('expires a backlog larger than one delete batch in one call', async () => {
        await seed();
        const long = new Date(Date.now() - 2 * 86_400_000);
        const ids = Array.from({ length: 1_001 }, (_, i) => `idle-${i}`);
        for (let i = 0; i < ids.length; i += 100) {
          await Promise.all(
            ids.slice(i, i + 100).map(async (id) => {
              await store.putSession(sessionInput(id, { kind: 'passthrough' }));
              await store.touchSession('b1', id, long);
            }),
          );
        }
        const before = new Date(Date.now() - 86_400_000);
        expect(await store.expireIdleSessions({ kinds: ['passthrough'], before })).toBe(1_001);
        expect(await store.listSessions()).toEqual([]);
      });
    });

    describe('last initialize params', () => {
      it('remembers the last params per (token, brain)', async () => {
        expect(await store.getLastInitParams('tok1', 'b1')).toBeUndefined();
        await store.setLastInitParams('tok1', 'b1', { clientInfo: { name: 'a' } });
        await store.setLastInitParams('tok1', 'b2', { clientInfo: { name: 'b' } });
        await store.setLastInitParams('tok2', 'b1', null);
        expect(await store.getLastInitParams('tok1', 'b1')).toEqual({ clientInfo: { name: 'a' } });
        expect(await store.getLastInitParams('tok1', 'b2')).toEqual({ clientInfo: { name: 'b' } });
        expect(await store.getLastInitParams('tok2', 'b1')).toBeNull();
        expect(await store.getLastInitParams('tok2', 'b2')).toBeUndefined();

        await store.setLastInitParams('tok1', 'b1', { clientInfo: { name: 'again' } });
        expect(await store.getLastInitParams('tok1', 'b1')).toEqual({ clientInfo: { name: 'again' } });
      });

      it('hands out copies', async () => {
        const params = { capabilities: {} as Record<string, unknown> };
        await store.setLastInitParams('tok1', 'b1', params);
        params.capabilities.sampling = {};
        const read = (await store.getLastInitParams('tok1', 'b1')) as typeof params;
        expect(read).toEqual({ capabilities: {} });
        read.capabilities.roots = {};
        expect(await store.getLastInitParams('tok1', 'b1')).toEqual({ capabilities: {} });
      });
    });

    describe('instances', () => {
      const instanceInput = (id: string, bootId = `boot-${id}`) => ({
        id,
        url: `http://127.0.0.1:1/${id}`,
        bootId,
      });
      const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

      it('registers, reads, lists, heartbeats and marks instances draining', async () => {
        const b = await store.registerInstance(instanceInput('inst-b'));
        expect(b).toEqual({
          id: 'inst-b',
          url: 'http://127.0.0.1:1/inst-b',
          machineId: null,
          bootId: 'boot-inst-b',
          heartbeatAt: expect.any(Date),
          draining: false,
          startedAt: expect.any(Date),
        });
        await store.registerInstance(instanceInput('inst-a'));
        expect(await store.getInstance('inst-b')).toEqual(b);
        expect(await store.getInstance('nope')).toBeUndefined();
        expect((await store.listInstances()).map((i) => i.id)).toEqual(['inst-a', 'inst-b']);

        await pause(5);
        expect(await store.heartbeatInstance('inst-b')).toBe(true);
        const beat = (await store.getInstance('inst-b'))!;
        expect(beat.heartbeatAt.getTime()).toBeGreaterThan(b.heartbeatAt.getTime());
        expect(await store.heartbeatInstance('nope')).toBe(false);

        await store.setInstanceDraining('inst-b', true);
        expect(await store.getInstance('inst-b')).toMatchObject({ draining: true });
        await store.setInstanceDraining('nope', true);
        expect(await store.getInstance('nope')).toBeUndefined();

        // Registering again (a new incarnation) starts over: new boot id, not draining, one row.
        const again = await store.registerInstance(instanceInput('inst-b', 'boot-2'));
        expect(again).toMatchObject({ id: 'inst-b', bootId: 'boot-2', draining: false });
        expect(await store.getInstance('inst-b')).toEqual(again);
        expect(await store.listInstances()).toHaveLength(2);
      });

      it('keeps the Fly Machine id of an instance, and its new one on registering again', async () => {
        await store.registerInstance({ ...instanceInput('inst-m'), machineId: '0e286039f42e86' });
        expect(await store.getInstance('inst-m')).toMatchObject({ machineId: '0e286039f42e86' });
        await store.registerInstance({ ...instanceInput('inst-m', 'boot-2'), machineId: '148e21ea7e6089' });
        expect(await store.getInstance('inst-m')).toMatchObject({
          machineId: '148e21ea7e6089',
          bootId: 'boot-2',
        });
      });

      it('deletes an instance with its legacy sessions, returning them; pass-through sessions stay', async () => {
        await seed();
        await store.registerInstance(instanceInput('inst-a'));
        await store.registerInstance(instanceInput('inst-b'));
        await store.putSession(sessionInput('s1', { ownerInstance: 'inst-a', upstreamSessionId: 'up-1' }));
        await store.putSession(sessionInput('s2', { ownerInstance: 'inst-a', kind: 'passthrough' }));
        await store.putSession(sessionInput('s3', { ownerInstance: 'inst-b' }));

        const removed = await store.deleteInstance('inst-a');
        expect(removed.map((s) => s.id)).toEqual(['s1']);
        expect(removed[0]).toMatchObject({ brain: 'b1', upstreamSessionId: 'up-1', kind: 'legacy' });
        expect(await store.getInstance('inst-a')).toBeUndefined();
        expect((await store.listSessions()).map((s) => s.id)).toEqual(['s2', 's3']);
        expect(await store.deleteInstance('inst-a')).toEqual([]);
      });

      it('reaps silent instances and their legacy sessions, and unowned legacy sessions not seen', async () => {
        await seed();
        await store.registerInstance(instanceInput('live'));
        await store.registerInstance(instanceInput('dead'));
        await store.registerInstance(instanceInput('self'));
        await store.putSession(sessionInput('s1', { ownerInstance: 'live' }));
        await store.putSession(sessionInput('s2', { ownerInstance: 'dead', upstreamSessionId: 'up-2' }));
        await store.putSession(sessionInput('s3', { ownerInstance: 'dead', kind: 'passthrough' }));
        const stale = await store.putSession(sessionInput('s4', { ownerInstance: 'ghost' }));
        await store.touchSession('b1', 's4', new Date(stale.createdAt.getTime() - 3_600_000));
        await store.putSession(sessionInput('s5', { ownerInstance: 'ghost' }));

        await pause(300);
        // `live` heartbeats and `ghost`'s s5 is seen; `self` is silent but is the caller.
        expect(await store.heartbeatInstance('live')).toBe(true);
        await store.touchSession('b1', 's5');
        const reaped = await store.reapDeadInstances({ silentForMs: 150, except: 'self' });

        expect(reaped.instances.map((i) => i.id)).toEqual(['dead']);
        expect(reaped.instances[0]).toMatchObject({ url: 'http://127.0.0.1:1/dead', bootId: 'boot-dead' });
        expect(reaped.sessions.map((s) => s.id)).toEqual(['s2', 's4']);
        expect(reaped.sessions[0]).toMatchObject({ brain: 'b1', upstreamSessionId: 'up-2' });
        expect((await store.listInstances()).map((i) => i.id)).toEqual(['live', 'self']);
        expect((await store.listSessions()).map((s) => s.id)).toEqual(['s1', 's3', 's5']);

        expect(await store.reapDeadInstances({ silentForMs: 150, except: 'self' })).toEqual({
          instances: [],
          sessions: [],
        });
      });

      it('never reaps the same instance twice when two reapers run at once', async () => {
        await seed();
        for (const id of ['d1', 'd2', 'd3']) {
          await store.registerInstance(instanceInput(id));
          await store.putSession(sessionInput(`s-${id}`, { ownerInstance: id }));
        }
        await pause(300);
        const results = await Promise.all([
          store.reapDeadInstances({ silentForMs: 150 }),
          store.reapDeadInstances({ silentForMs: 150 }),
          store.reapDeadInstances({ silentForMs: 150 }),
        ]);
        const instances = results.flatMap((r) => r.instances.map((i) => i.id)).sort();
        const sessions = results.flatMap((r) => r.sessions.map((s) => s.id)).sort();
        expect(instances).toEqual(['d1', 'd2', 'd3']);
        expect(sessions).toEqual(['s-d1', 's-d2', 's-d3']);
        expect(await store.listInstances()).toEqual([]);
      });
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
