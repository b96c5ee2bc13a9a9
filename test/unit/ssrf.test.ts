/**
 * Upstream address classification (src/proxy/ssrf.ts, issue 7 item 7): every special-purpose range the
 * guard refuses, the IPv6 forms that smuggle an IPv4 address, and the admin-time URL check.
 */
import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  type AddressClass,
  checkUpstreamUrl,
  classifyAddress,
  createGuardedLookup,
  embeddedIpv4,
} from '../../src/proxy/ssrf.js';

describe('classifyAddress', () => {
  it.each<[string, AddressClass]>([
    ['0.0.0.0', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.254', 'cgnat'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'], // Teredo
    ['4000::1', 'reserved'], // outside 2000::/3
    ['not-an-ip', 'reserved'],
  ])('%s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '172.32.0.1', // just past 172.16/12
    '100.128.0.1', // just past 100.64/10
    '2606:4700:4700::1111',
    '2a00:1450:4001:82a::200e',
  ])('%s is public', (address) => {
    expect(classifyAddress(address)).toBe('public');
  });

  it('sees through IPv4-mapped, IPv4-compatible, NAT64 and 6to4 addresses', () => {
    expect(classifyAddress('::ffff:127.0.0.1')).toBe('loopback');
    expect(classifyAddress('::ffff:7f00:1')).toBe('loopback');
    expect(classifyAddress('::ffff:169.254.169.254')).toBe('link-local');
    expect(classifyAddress('::10.0.0.1')).toBe('private');
    expect(classifyAddress('64:ff9b::10.0.0.1')).toBe('private');
    expect(classifyAddress('64:ff9b:1::a00:1')).toBe('private');
    expect(classifyAddress('2002:7f00:1::1')).toBe('loopback');
    expect(classifyAddress('2002:c0a8:101::1')).toBe('private');
    expect(classifyAddress('::ffff:8.8.8.8')).toBe('public');
    expect(classifyAddress('64:ff9b::8.8.8.8')).toBe('public');
    expect(embeddedIpv4('2002:0808:0808::')).toBe('8.8.8.8');
    expect(embeddedIpv4('2606:4700::1')).toBeUndefined();
  });
});

describe('checkUpstreamUrl', () => {
  const resolvesTo =
    (...addresses: string[]) =>
    async (): Promise<LookupAddress[]> =>
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

  it('refuses IP literals in special ranges, in every spelling the URL parser accepts', async () => {
    for (const url of [
      'http://127.0.0.1:8080/mcp',
      'http://2130706433/', // 127.0.0.1 as one number
      'http://0x7f.1/',
      'http://[::1]/',
      'http://[::ffff:10.0.0.1]/',
      'http://169.254.169.254/latest/meta-data/',
      'https://10.0.0.5/mcp',
    ]) {
      expect((await checkUpstreamUrl(url, resolvesTo('8.8.8.8'))).ok, url).toBe(false);
    }
    expect(await checkUpstreamUrl('https://8.8.8.8/mcp')).toEqual({ ok: true });
  });

  it('refuses localhost names without asking DNS', async () => {
    const never = async (): Promise<LookupAddress[]> => {
      throw new Error('must not resolve');
    };
    expect(await checkUpstreamUrl('http://localhost:3000/', never)).toMatchObject({
      ok: false,
      class: 'loopback',
    });
    expect(await checkUpstreamUrl('http://api.localhost./', never)).toMatchObject({ ok: false });
  });

  it('refuses a name if any address it resolves to is not public', async () => {
    expect(await checkUpstreamUrl('https://mcp.example.com/', resolvesTo('93.184.215.14'))).toEqual({
      ok: true,
    });
    expect(
      await checkUpstreamUrl('https://mcp.example.com/', resolvesTo('93.184.215.14', '10.0.0.7')),
    ).toEqual({
      ok: false,
      reason: 'not-public',
      address: '10.0.0.7',
      class: 'private',
    });
  });

  it('lets a name that does not resolve yet through (the connect-time guard still applies)', async () => {
    const nxdomain = async (): Promise<LookupAddress[]> => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    expect(await checkUpstreamUrl('https://not-yet.example.com/', nxdomain)).toEqual({ ok: true });
  });
});

describe('createGuardedLookup', () => {
  // A stand-in for dns.lookup with fixed answers, called the way net.connect calls it.
  const fakeDns = (addresses: LookupAddress[]) =>
    ((_host: string, _options: unknown, callback: (err: null, a: LookupAddress[]) => void) =>
      callback(null, addresses)) as unknown as typeof import('node:dns').lookup;

  const run = (addresses: LookupAddress[], all: boolean) =>
    new Promise<{ err: (Error & { code?: string }) | null; result: unknown; family?: number }>((resolve) => {
      createGuardedLookup(fakeDns(addresses))('upstream.test', { all }, (err, result, family) =>
        resolve({ err, result, family }),
      );
    });

  it('drops non-public answers and keeps the rest, in both callback shapes', async () => {
    const mixed = [
      { address: '127.0.0.1', family: 4 },
      { address: '93.184.215.14', family: 4 },
    ];
    expect(await run(mixed, true)).toMatchObject({
      err: null,
      result: [{ address: '93.184.215.14', family: 4 }],
    });
    expect(await run(mixed, false)).toMatchObject({ err: null, result: '93.184.215.14', family: 4 });
  });

  it('fails with ERR_UPSTREAM_ADDRESS_BLOCKED when nothing public is left', async () => {
    const { err } = await run(
      [
        { address: '127.0.0.1', family: 4 },
        { address: '::1', family: 6 },
      ],
      true,
    );
    expect(err?.code).toBe('ERR_UPSTREAM_ADDRESS_BLOCKED');
  });
});
