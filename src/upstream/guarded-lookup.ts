// The connect-time half of the SSRF guard: the `lookup` undici's connector hands to net/tls. It
// resolves a host, refuses the connection when an answer is a destination the host may not reach,
// and returns the vetted answers, which are what the socket then connects to: a name that resolves
// to a public address when checked and to 10.0.0.5 a moment later (DNS rebinding) has no second
// resolution to slip through. Runs once per new connection; keep-alive reuse never calls it.
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { refusedAnswer, STRICT_RULE, type HostRule } from './url-guard.js';

/** Resolves a name to every address (dns.lookup with `all: true`); injectable for tests. */
export type HostResolver = (hostname: string, family: number, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/** The system resolver, looked up at call time (so a test's stand-in for dns.lookup is used too). */
export const systemResolver: HostResolver = (hostname, family, callback) => {
  dns.lookup(hostname, { all: true, family }, callback);
};

export interface RefusedConnection {
  host: string;
  addresses: string[];
  reason: string;
}

/** The error a refused connection fails with: mapped to 502 upstream_unreachable like any other connect error. */
export class UpstreamAddressRefused extends Error {
  readonly code = 'ERR_UPSTREAM_ADDRESS_REFUSED';

  constructor(host: string, reason: string) {
    super(`the SSRF guard refused to connect to ${host}: ${reason}`);
    this.name = 'UpstreamAddressRefused';
  }
}

/**
 * A net `lookup` that enforces `rules` (host → rule; a host without one gets public answers only).
 * `onRefused` is told of each refusal (the log line).
 */
export function guardedLookup(rules: ReadonlyMap<string, HostRule>, resolver: HostResolver, onRefused: (refused: RefusedConnection) => void): LookupFunction {
  return (hostname: string, options: LookupOptions, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    resolver(hostname, family, (error, addresses) => {
      if (error !== null) {
        callback(error, options.all === true ? [] : '');
        return;
      }
      const rule = rules.get(hostname) ?? STRICT_RULE;
      for (const answer of addresses) {
        const reason = refusedAnswer(rule, answer.address);
        if (reason === undefined) continue;
        // Every answer is judged, not only the first: net may try each of them (happy eyeballs).
        onRefused({ host: hostname, addresses: addresses.map((entry) => entry.address), reason });
        callback(new UpstreamAddressRefused(hostname, reason), options.all === true ? [] : '');
        return;
      }
      const first = addresses[0];
      if (first === undefined) {
        const empty: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
        empty.code = 'ENOTFOUND';
        callback(empty, options.all === true ? [] : '');
        return;
      }
      if (options.all === true) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}
