/**
 * Upstream address policy for hosted deployments (SSRF guard, issue 7 item 7). Pure, except
 * `assertPublicUpstream` and `createGuardedLookup`, which resolve names through an injectable `lookup`.
 *
 * A tenant chooses its brain's upstream URL, so on a shared gateway that URL must not reach the gateway's
 * own network: loopback, RFC 1918, CGNAT, link-local (cloud metadata at 169.254.169.254), unique-local,
 * and the IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4). The check runs twice: when an
 * admin sets the URL (a clear 400), and on every connect (DNS can change after the check; rebinding).
 * Ranges follow the IANA special-purpose registries (RFC 6890 and its updates).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'reserved';

type Rule = readonly [AddressClass, string, number];

const IPV4_RULES: Rule[] = [
  ['unspecified', '0.0.0.0', 8], // "this network" (RFC 791); 0.0.0.0 reaches the local host on Linux
  ['private', '10.0.0.0', 8], // RFC 1918
  ['cgnat', '100.64.0.0', 10], // RFC 6598 shared address space
  ['loopback', '127.0.0.0', 8],
  ['link-local', '169.254.0.0', 16], // RFC 3927; cloud metadata endpoints live here
  ['private', '172.16.0.0', 12], // RFC 1918
  ['reserved', '192.0.0.0', 24], // IETF protocol assignments
  ['reserved', '192.0.2.0', 24], // TEST-NET-1
  ['reserved', '192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['private', '192.168.0.0', 16], // RFC 1918
  ['reserved', '198.18.0.0', 15], // benchmarking
  ['reserved', '198.51.100.0', 24], // TEST-NET-2
  ['reserved', '203.0.113.0', 24], // TEST-NET-3
  ['multicast', '224.0.0.0', 4],
  ['reserved', '240.0.0.0', 4], // class E and the broadcast address
];

const IPV6_RULES: Rule[] = [
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  ['reserved', '100::', 64], // discard-only
  ['reserved', '2001::', 23], // IETF protocol assignments, Teredo (hides an IPv4 peer) and ORCHID
  ['reserved', '2001:db8::', 32], // documentation
  ['reserved', '3fff::', 20], // documentation (RFC 9637)
  ['reserved', '5f00::', 16], // SRv6 SIDs
  ['unique-local', 'fc00::', 7], // RFC 4193
  ['link-local', 'fe80::', 10],
  ['link-local', 'fec0::', 10], // site-local (deprecated, still routed on some networks)
  ['multicast', 'ff00::', 8],
];

function blockListsFor(rules: Rule[], family: 'ipv4' | 'ipv6'): Array<[AddressClass, BlockList]> {
  const byClass = new Map<AddressClass, BlockList>();
  for (const [cls, network, prefix] of rules) {
    const list = byClass.get(cls) ?? new BlockList();
    byClass.set(cls, list);
    list.addSubnet(network, prefix, family);
  }
  return [...byClass];
}

interface Tables {
  v4: Array<[AddressClass, BlockList]>;
  v6: Array<[AddressClass, BlockList]>;
  /** 2000::/3: everything else in IPv6 is unallocated. */
  globalUnicast: BlockList;
}
let tables: Tables | undefined;
function rules(): Tables {
  if (!tables) {
    const globalUnicast = new BlockList();
    globalUnicast.addSubnet('2000::', 3, 'ipv6');
    tables = { v4: blockListsFor(IPV4_RULES, 'ipv4'), v6: blockListsFor(IPV6_RULES, 'ipv6'), globalUnicast };
  }
  return tables;
}

/** The eight 16-bit groups of an IPv6 address (with or without brackets, zone id or dotted tail). */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) =>
    part ? part.split(':').map((h) => Number.parseInt(h, 16)) : [];
  const left = parse(head);
  const right = parse(tail);
  const fill = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...fill, ...right];
}

function ipv4FromGroups(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/**
 * The IPv4 address an IPv6 address stands for, if it is one of the embedding forms: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated), NAT64 well-known and local-use
 * prefixes (RFC 6052, RFC 8215) and 6to4 (`2002:AABB:CCDD::`).
 */
export function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (g.length !== 8) return undefined;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return ipv4FromGroups(g[6]!, g[7]!);
  if (zeros(0, 6) && (g[6]! !== 0 || g[7]! > 1)) return ipv4FromGroups(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return ipv4FromGroups(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return ipv4FromGroups(g[6]!, g[7]!);
  if (g[0] === 0x2002) return ipv4FromGroups(g[1]!, g[2]!);
  return undefined;
}

/**
 * Classifies an IP address literal. Anything that is not a valid IP is `reserved` (never public).
 *
 * @example
 * classifyAddress('169.254.169.254'); // 'link-local'
 * classifyAddress('::ffff:10.0.0.1'); // 'private'
 * classifyAddress('93.184.215.14');   // 'public'
 */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) {
    for (const [cls, list] of rules().v4) if (list.check(bare, 'ipv4')) return cls;
    return 'public';
  }
  if (family === 6) {
    const v4 = embeddedIpv4(bare);
    if (v4 !== undefined) return classifyAddress(v4);
    for (const [cls, list] of rules().v6) if (list.check(bare, 'ipv6')) return cls;
    return rules().globalUnicast.check(bare, 'ipv6') ? 'public' : 'reserved';
  }
  return 'reserved';
}

export function isPublicAddress(address: string): boolean {
  return classifyAddress(address) === 'public';
}

/** Names that resolve to this host without DNS (RFC 6761 §6.3): refused before any lookup. */
function isLocalName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

export type LookupAll = (hostname: string) => Promise<LookupAddress[]>;

const defaultLookupAll: LookupAll = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });

export type UpstreamAddressVerdict =
  | { ok: true }
  | { ok: false; reason: 'not-public'; address: string; class: AddressClass };

/**
 * Checks an upstream URL's host at configuration time: an IP literal is classified, a name is resolved
 * and every address it resolves to must be public. A name that does not resolve (yet) passes: the
 * connect-time guard (`createGuardedLookup`) still stands between it and the network.
 */
export async function checkUpstreamUrl(url: string, lookupAll: LookupAll = defaultLookupAll) {
  const hostname = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const refuse = (address: string): UpstreamAddressVerdict => ({
    ok: false,
    reason: 'not-public',
    address,
    class: classifyAddress(address),
  });
  if (isIP(hostname)) return isPublicAddress(hostname) ? { ok: true } : refuse(hostname);
  if (isLocalName(hostname)) return { ok: false, reason: 'not-public', address: hostname, class: 'loopback' };
  let addresses: LookupAddress[];
  try {
    addresses = await lookupAll(hostname);
  } catch {
    return { ok: true };
  }
  const bad = addresses.find((a) => !isPublicAddress(a.address));
  return bad ? refuse(bad.address) : ({ ok: true } as UpstreamAddressVerdict);
}

/** The error a guarded connect fails with; the upstream client maps it to ERR_UPSTREAM_UNREACHABLE. */
export class UpstreamAddressBlocked extends Error {
  readonly code = 'ERR_UPSTREAM_ADDRESS_BLOCKED';
  constructor(hostname: string) {
    super(`upstream host ${hostname} has no public address`);
    this.name = 'UpstreamAddressBlocked';
  }
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `net.connect` (undici `connect.lookup`) that drops non-public answers and fails when
 * none is left. Handles both shapes Node uses: `{ all: true }` (autoSelectFamily, the Node 20 default)
 * and the single-address form.
 */
export function createGuardedLookup(lookup: typeof dnsLookup = dnsLookup) {
  return function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
    lookup(hostname, { ...options, all: true } as LookupAllOptions, (err, addresses) => {
      if (err) return callback(err, options.all ? [] : '', undefined);
      const allowed = addresses.filter((a) => isPublicAddress(a.address));
      if (allowed.length === 0) return callback(new UpstreamAddressBlocked(hostname), options.all ? [] : '');
      if (options.all) return callback(null, allowed);
      const first = allowed[0]!;
      return callback(null, first.address, first.family);
    });
  };
}
