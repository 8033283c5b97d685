// The address a per-address limit counts (dashboard sign-in, failed authentication): an IPv6
// client by its /64, since one host is usually given a whole /64 and could take a new address
// for every attempt; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, a dual-stack listener's IPv4
// client) as the IPv4 address it is, and so one in NAT64's well-known prefix (`64:ff9b::a.b.c.d`,
// RFC 6052), where a translator passes IPv4 clients on: as one /64 they would share one limit.
import { isIPv6 } from 'node:net';

/** The first six groups of the IPv6 prefixes whose last 32 bits are an IPv4 client: ::ffff:0:0/96 and 64:ff9b::/96. */
const IPV4_PREFIXES: ReadonlyArray<readonly number[]> = [
  [0, 0, 0, 0, 0, 0xffff],
  [0x64, 0xff9b, 0, 0, 0, 0],
];

/** `address` (request.ip) as the key of its per-address limits: IPv4 as is, IPv6 as `a:b:c:d::/64`. */
export function addressBucket(address: string): string {
  if (!address.includes(':')) return address;
  const groups = parseIpv6(address);
  if (groups === undefined) return address;
  if (IPV4_PREFIXES.some((prefix) => prefix.every((group, index) => groups[index] === group))) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (a zone such as `%eth0` dropped), or undefined when it is none. */
function parseIpv6(address: string): number[] | undefined {
  const zone = address.indexOf('%');
  let text = zone === -1 ? address : address.slice(0, zone);
  if (!isIPv6(text)) return undefined;
  // A dotted IPv4 tail (::ffff:192.0.2.1) is the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const [a = 0, b = 0, c = 0, d = 0] = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const gap = text.indexOf('::');
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? '' : text.slice(gap + 2);
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16));
}
