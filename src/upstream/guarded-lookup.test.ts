import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { test } from 'node:test';
import { guardedLookup, UpstreamAddressRefused, type HostResolver, type RefusedConnection } from './guarded-lookup.js';
import type { HostRule } from './url-guard.js';

function resolverOf(table: Record<string, LookupAddress[]>): HostResolver {
  return (hostname, _family, callback) => {
    const found = table[hostname];
    if (found === undefined) {
      const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      error.code = 'ENOTFOUND';
      callback(error, []);
    } else callback(null, found);
  };
}

const TABLE: Record<string, LookupAddress[]> = {
  'api.example.com': [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }],
  'rebind.example': [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.5', family: 4 }],
  'gpu.internal': [{ address: '10.0.0.5', family: 4 }],
  localhost: [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }],
};

function lookUp(rules: Map<string, HostRule>, host: string, all: boolean): Promise<{ error: NodeJS.ErrnoException | null; result: unknown; refused: RefusedConnection[] }> {
  const refused: RefusedConnection[] = [];
  const lookup = guardedLookup(rules, resolverOf(TABLE), (entry) => refused.push(entry));
  return new Promise((resolve) => {
    lookup(host, { all, family: 0 }, (error, address, family) => resolve({ error, result: all ? address : { address, family }, refused }));
  });
}

test('public answers pass, in both of net\'s calling forms', async () => {
  const all = await lookUp(new Map(), 'api.example.com', true);
  assert.equal(all.error, null);
  assert.deepEqual(all.result, TABLE['api.example.com']);
  const one = await lookUp(new Map(), 'api.example.com', false);
  assert.deepEqual(one.result, { address: '93.184.216.34', family: 4 });
});

test('one private answer among public ones refuses the connection (a host with no rule is strict), and tells why', async () => {
  const { error, refused } = await lookUp(new Map(), 'rebind.example', true);
  assert.ok(error instanceof UpstreamAddressRefused, String(error));
  assert.equal(error.code, 'ERR_UPSTREAM_ADDRESS_REFUSED');
  assert.deepEqual(refused, [{ host: 'rebind.example', addresses: ['93.184.216.34', '10.0.0.5'], reason: '10.0.0.5 is a private destination (10.0.0.0/8, private network)' }]);
});

test('the provider\'s opt-in lets its host resolve privately; localhost names must resolve to loopback', async () => {
  const rules = new Map<string, HostRule>([
    ['gpu.internal', { loopbackOnly: false, allowPrivate: true }],
    ['localhost', { loopbackOnly: true, allowPrivate: false }],
  ]);
  assert.deepEqual((await lookUp(rules, 'gpu.internal', false)).result, { address: '10.0.0.5', family: 4 });
  assert.equal((await lookUp(rules, 'localhost', true)).error, null);
  assert.ok((await lookUp(new Map([['api.example.com', { loopbackOnly: true, allowPrivate: false }]]), 'api.example.com', true)).error instanceof UpstreamAddressRefused);
});

test('a resolver error passes through untouched (the usual unreachable error follows)', async () => {
  const { error, refused } = await lookUp(new Map(), 'nowhere.invalid', true);
  assert.equal(error?.code, 'ENOTFOUND');
  assert.deepEqual(refused, []);
});
