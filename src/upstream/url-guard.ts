// The SSRF policy for admin-configured upstream URLs (RELIABILITY §4d#10), as pure functions: which
// URLs a provider may point at (checked at start and on reload) and which resolved addresses a
// connection may use (checked by the guarded lookup, src/upstream/guarded-lookup.ts).
import { BlockList, isIP, isIPv4 } from 'node:net';

/** What a destination address is to the policy. */
export type AddressKind = 'loopback' | 'private' | 'public';

export interface AddressClass {
  kind: AddressKind;
  /** The range it falls in, for messages (`10.0.0.0/8, private network`). */
  range?: string;
}

interface Range {
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
  label: string;
}

const LOOPBACK: readonly Range[] = [
  { network: '127.0.0.0', prefix: 8, family: 'ipv4', label: '127.0.0.0/8, loopback' },
  { network: '::1', prefix: 128, family: 'ipv6', label: '::1, loopback' },
];

/** Destinations inside the machine's networks, or no real destination at all. */
const PRIVATE: readonly Range[] = [
  { network: '0.0.0.0', prefix: 8, family: 'ipv4', label: '0.0.0.0/8, "this network" (reaches this machine on Linux)' },
  { network: '10.0.0.0', prefix: 8, family: 'ipv4', label: '10.0.0.0/8, private network' },
  { network: '100.64.0.0', prefix: 10, family: 'ipv4', label: '100.64.0.0/10, carrier-grade NAT' },
  { network: '169.254.0.0', prefix: 16, family: 'ipv4', label: '169.254.0.0/16, link-local, where cloud metadata services answer' },
  { network: '172.16.0.0', prefix: 12, family: 'ipv4', label: '172.16.0.0/12, private network' },
  { network: '192.168.0.0', prefix: 16, family: 'ipv4', label: '192.168.0.0/16, private network' },
  { network: '224.0.0.0', prefix: 4, family: 'ipv4', label: '224.0.0.0/4, multicast' },
  { network: '240.0.0.0', prefix: 4, family: 'ipv4', label: '240.0.0.0/4, reserved and broadcast' },
  { network: '::', prefix: 128, family: 'ipv6', label: '::, unspecified' },
  { network: 'fc00::', prefix: 7, family: 'ipv6', label: 'fc00::/7, unique local (private network)' },
  { network: 'fe80::', prefix: 10, family: 'ipv6', label: 'fe80::/10, link-local' },
  { network: 'ff00::', prefix: 8, family: 'ipv6', label: 'ff00::/8, multicast' },
];

/**
 * One BlockList per range, so a match can be named. BlockList matches an IPv4-mapped IPv6 address
 * (`::ffff:7f00:1`, `::ffff:10.0.0.5`) against the IPv4 ranges, so a mapped address is judged by
 * the IPv4 address inside it (Node documents this for `check`).
 */
function compile(ranges: readonly Range[]): Array<{ list: BlockList; label: string }> {
  return ranges.map((range) => {
    const list = new BlockList();
    list.addSubnet(range.network, range.prefix, range.family);
    return { list, label: range.label };
  });
}

const LOOPBACK_LISTS = compile(LOOPBACK);
const PRIVATE_LISTS = compile(PRIVATE);

/** Where an IP address (v4 or v6, without brackets) leads; callers pass only addresses, so anything else counts as public. */
export function classifyAddress(address: string): AddressClass {
  const family = isIP(address);
  if (family === 0) return { kind: 'public' };
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const { list, label } of LOOPBACK_LISTS) if (list.check(address, type)) return { kind: 'loopback', range: label };
  for (const { list, label } of PRIVATE_LISTS) if (list.check(address, type)) return { kind: 'private', range: label };
  if (family === 6) {
    const embedded = embeddedIpv4(address);
    if (embedded !== undefined) {
      const inner = classifyAddress(embedded.address);
      // A translator or tunnel delivers it to the IPv4 address inside: never loopback here, but
      // private if that is (64:ff9b::a9fe:a9fe reaches 169.254.169.254 on a NAT64 network).
      if (inner.kind !== 'public') return { kind: 'private', range: `${embedded.label} of ${embedded.address} (${inner.range ?? inner.kind})` };
    }
  }
  return { kind: 'public' };
}

/**
 * IPv6 forms that carry an IPv4 destination in their bits (BlockList judges only the IPv4-mapped
 * `::ffff:0:0/96` by the address inside): NAT64's well-known prefix `64:ff9b::/96` (RFC 6052) and
 * its local-use `64:ff9b:1::/48` (RFC 8215), 6to4's `2002::/16` (RFC 3056), and the deprecated
 * IPv4-compatible `::a.b.c.d` (`::/96`).
 */
function embeddedIpv4(address: string): { address: string; label: string } | undefined {
  const words = ipv6Words(address);
  if (words === undefined) return undefined;
  const v4 = (high: number, low: number) => `${high >>> 8}.${high & 255}.${low >>> 8}.${low & 255}`;
  const zero = (from: number, to: number) => words.slice(from, to).every((word) => word === 0);
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return { address: v4(words[6] as number, words[7] as number), label: 'NAT64 address' };
  if (words[0] === 0x64 && words[1] === 0xff9b && words[2] === 1) return { address: v4(words[6] as number, words[7] as number), label: 'local-use NAT64 address' };
  if (words[0] === 0x2002) return { address: v4(words[1] as number, words[2] as number), label: '6to4 address' };
  if (zero(0, 6) && (words[6] !== 0 || (words[7] as number) > 1)) return { address: v4(words[6] as number, words[7] as number), label: 'IPv4-compatible address' };
  return undefined;
}

/** The eight 16-bit words of an IPv6 address (`::` expanded, a trailing dotted IPv4 read as two words). */
function ipv6Words(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  const lastColon = text.lastIndexOf(':');
  const dotted = text.slice(lastColon + 1);
  if (isIPv4(dotted)) {
    const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((word) => (/^[0-9a-f]{1,4}$/.test(word) ? Number.parseInt(word, 16) : Number.NaN)));
  const front = parse(halves[0] as string);
  const back = halves.length === 2 ? parse(halves[1] as string) : [];
  const gap = 8 - front.length - back.length;
  if (halves.length === 2 ? gap < 1 : gap !== 0) return undefined;
  const words = [...front, ...new Array<number>(gap).fill(0), ...back];
  return words.every((word) => Number.isInteger(word)) ? words : undefined;
}

/** What a connection to a named host may resolve to (IP literals are judged once, at config time). */
export interface HostRule {
  /** `localhost` and `*.localhost`: the admin means this machine, so every answer must be loopback. */
  loopbackOnly: boolean;
  /** The provider opted in to private destinations (allow_private_network, LLM_PROXY_PRIVATE_UPSTREAMS). */
  allowPrivate: boolean;
}

/** The rule for a host no provider names: public answers only. */
export const STRICT_RULE: HostRule = { loopbackOnly: false, allowPrivate: false };

export type UrlVerdict =
  /** The connect-time rule for a named host comes from hostRules, once per client. */
  | { allowed: true }
  /** `remedy` undefined: the fix is the provider's opt-in (or https to a public host). */
  | { allowed: false; reason: string; remedy: string | undefined };

/** `localhost`, `foo.localhost`, with or without the root's trailing dot (RFC 6761: always loopback). */
export function isLocalhostName(hostname: string): boolean {
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * The host as written in the URL text (lower-cased, without userinfo and port), or undefined when
 * the text has no `scheme://authority` form. WHATWG URL parsing rewrites `2130706433`, `0x7f.1`,
 * `0177.0.0.1`, `127.1` and even `%31%32%37.0.0.1` to `127.0.0.1`, so only the raw text shows them.
 */
function writtenHost(text: string): { host: string; hasUserinfo: boolean } | undefined {
  // The parser drops tabs and newlines anywhere and trims spaces and controls; so does this.
  const cleaned = text.replace(/[\t\n\r]/g, '').trim();
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:[/\\]{2}([^/?#\\]*)/.exec(cleaned);
  if (match === null) return undefined;
  const authority = match[1] as string;
  const at = authority.lastIndexOf('@');
  const hostPort = authority.slice(at + 1);
  const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:[0-9]*$/, '');
  return { host: host.toLowerCase(), hasUserinfo: at !== -1 };
}

const OPT_IN_NEEDED = undefined;
const ALLOWED: UrlVerdict = { allowed: true };

/**
 * Vets one configured base URL. `allowPrivate` is the provider's opt-in. Loopback written as such
 * (`localhost`, `127.x.x.x`, `[::1]`) is allowed with http too: the admin plainly means this machine.
 */
export function vetUpstreamUrl(text: string, allowPrivate: boolean): UrlVerdict {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { allowed: false, reason: 'not a URL', remedy: 'write it as https://host[:port]/path' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { allowed: false, reason: `${url.protocol}// is not allowed (only http and https)`, remedy: 'write the provider\'s https:// address' };
  }
  const written = writtenHost(text);
  if (url.username !== '' || url.password !== '' || written?.hasUserinfo === true) {
    // Credentials in a URL end up in logs, proxies' access logs and error text.
    return { allowed: false, reason: 'the URL carries a user name or password', remedy: 'remove it and give the provider\'s key as api_key (or its _API_KEY variable)' };
  }
  const host = url.hostname;
  if (isIPv4(host) && written?.host !== host) {
    // An address written so that it does not look like one slips past reviewers and naive filters.
    return { allowed: false, reason: `the host is the IPv4 address ${host} written in another form (decimal, octal, hex, shortened or encoded)`, remedy: `write it as ${host}` };
  }
  const address = host.startsWith('[') ? host.slice(1, -1) : host;
  const https = url.protocol === 'https:';
  if (isIP(address) !== 0) {
    const found = classifyAddress(address);
    if (found.kind === 'loopback') return ALLOWED;
    if (found.kind === 'private' && !allowPrivate) return { allowed: false, reason: `${address} is a private destination (${found.range ?? 'private'})`, remedy: OPT_IN_NEEDED };
    if (!https && !allowPrivate) return { allowed: false, reason: `http:// to ${address} would send the provider's key in clear text`, remedy: OPT_IN_NEEDED };
    return ALLOWED;
  }
  if (isLocalhostName(host)) return ALLOWED;
  if (!https && !allowPrivate) {
    return { allowed: false, reason: `http:// to ${host} would send the provider's key in clear text, and the name may lead into a private network`, remedy: OPT_IN_NEEDED };
  }
  return ALLOWED;
}

/** Why `rule` refuses one resolved answer, or undefined when it may be used. */
export function refusedAnswer(rule: HostRule, address: string): string | undefined {
  const found = classifyAddress(address);
  if (found.kind === 'public') return rule.loopbackOnly ? `${address} is not a loopback address, which a localhost name must resolve to` : undefined;
  if (found.kind === 'loopback' && rule.loopbackOnly) return undefined;
  return rule.allowPrivate ? undefined : `${address} is a private destination (${found.range ?? 'private'})`;
}

/** The parts of a provider the connect-time rules come from. */
export interface GuardedProvider {
  baseUrl: URL;
  allowPrivateNetwork?: boolean;
}

/**
 * The connect-time rule of every named host the providers use. Providers sharing a host share its
 * connections, so one provider's opt-in covers the host (the admin vouched for that name).
 */
export function hostRules(providers: readonly GuardedProvider[]): Map<string, HostRule> {
  const rules = new Map<string, HostRule>();
  for (const provider of providers) {
    const host = provider.baseUrl.hostname;
    if (isIP(host.startsWith('[') ? host.slice(1, -1) : host) !== 0) continue;
    const allowPrivate = provider.allowPrivateNetwork === true;
    const known = rules.get(host);
    rules.set(host, { loopbackOnly: isLocalhostName(host), allowPrivate: allowPrivate || known?.allowPrivate === true });
  }
  return rules;
}

/**
 * `LLM_PROXY_PRIVATE_UPSTREAMS`: `*` or comma-separated provider names. Returns the names, `'*'`,
 * or undefined when unset.
 */
export function parsePrivateUpstreams(raw: string | undefined): '*' | string[] | undefined {
  if (raw === undefined) return undefined;
  const names = raw.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  if (names.includes('*')) return '*';
  return names;
}
