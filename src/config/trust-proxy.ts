// server.trust_proxy: whose X-Forwarded-For/-Proto/-Host the proxy believes, so that request.ip
// (per-address limits), request.protocol (the dashboard cookie's Secure) and request.host (its
// sign-in's same-origin check) are the client's, not the load balancer's. Checked at load, turned
// into Fastify's `trustProxy` when an app is built.
import { isIP } from 'node:net';
import type { Config } from './config-schema.js';

export type TrustProxySetting = Config['server']['trust_proxy'];

/** proxy-addr's named ranges: 127.0.0.1/8 and ::1; 169.254.0.0/16 and fe80::/10; 10/8, 172.16/12, 192.168/16 and fc00::/7. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** The entries of an address list, given as a YAML list or a comma-separated string. */
export function trustedEntries(value: string | readonly string[]): string[] {
  return (typeof value === 'string' ? value.split(',') : value).map((entry) => entry.trim()).filter((entry) => entry.length > 0);
}

/** Why one entry is not an address, a CIDR or a named range; the entry itself is not repeated. */
function entryProblem(entry: string): string | undefined {
  if (NAMED_RANGES.has(entry)) return undefined;
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return 'is not an IP address, an address/prefix (10.0.0.0/8) or one of loopback, linklocal, uniquelocal';
  if (slash === -1) return undefined;
  const prefix = entry.slice(slash + 1);
  const bits = family === 4 ? 32 : 128;
  // A prefix of 0 would trust every peer: that is `true`, said plainly.
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) < 1 || Number(prefix) > bits) return `has a prefix that is not 1 to ${bits}`;
  return undefined;
}

/** Why a setting cannot be used (as `server.trust_proxy: …`), or undefined. */
export function trustProxyProblem(setting: TrustProxySetting): string | undefined {
  if (typeof setting !== 'string' && !Array.isArray(setting)) return undefined;
  const entries = trustedEntries(setting);
  if (entries.length === 0) return 'server.trust_proxy: the list holds no address.';
  for (const [index, entry] of entries.entries()) {
    const problem = entryProblem(entry);
    if (problem !== undefined) return `server.trust_proxy: entry ${index + 1} (a string of ${entry.length} characters) ${problem}.`;
  }
  return undefined;
}

export type TrustProxyOption = boolean | string[] | ((address: string, hop: number) => boolean);

/** Fastify's `trustProxy` for a checked setting. */
export function trustProxyOption(setting: TrustProxySetting): TrustProxyOption {
  if (setting === undefined || setting === false || setting === 0) return false;
  if (setting === true) return true;
  // Fastify 5 reads a bare number as "trust nothing" (it cannot tell who the peer is); a hop count
  // here trusts the nearest N hops whoever they are, as Express does: the port must not be reachable directly.
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return trustedEntries(setting);
}
