import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressBucket } from './client-address.js';

/** Each address and the key its per-address limits count under. */
function assertBuckets(cases: ReadonlyArray<readonly [string, string]>): void {
  for (const [address, bucket] of cases) assert.equal(addressBucket(address), bucket, address);
}

test('IPv6 addresses are counted by their /64, however they are written', () => {
  const bucket = '2001:db8:1:2::/64';
  assertBuckets(
    ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:0:0:0:a', '2001:db8:1:2:a:b:192.0.2.1', '2001:db8:1:2::7%eth0'].map((address) => [address, bucket] as const),
  );
  assertBuckets([
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['fe80::1%lo', 'fe80:0:0:0::/64'],
  ]);
});

test("an IPv4-mapped IPv6 address, or one of NAT64's well-known prefix, is its IPv4 address; IPv4 and anything else stay as they are", () => {
  assertBuckets([
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::FFFF:c000:0207', '192.0.2.7'],
    ['0:0:0:0:0:ffff:7f00:1', '127.0.0.1'],
    ['192.0.2.7', '192.0.2.7'],
    // A translator passes every IPv4 client on from 64:ff9b::/96: one /64 would be one limit for all.
    ['64:ff9b::192.0.2.7', '192.0.2.7'],
    ['64:ff9b:1::192.0.2.7', '64:ff9b:1:0::/64'],
    // The deprecated IPv4-compatible form is an IPv6 address like any other.
    ['::192.0.2.7', '0:0:0:0::/64'],
    ['not-an-address:1', 'not-an-address:1'],
    ['', ''],
  ]);
});
