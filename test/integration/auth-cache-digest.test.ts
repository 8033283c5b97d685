// RELIABILITY §4d#4: the key caches are keyed by the full digest of what was presented, never by a
// prefix of the key or its id (CVE-2026-35030). Once a key has been verified (and so cached), a key
// that shares everything with it but its last character — the same `sk-gw_<id>_`, the same shown
// prefix, the same static-key stem — is still refused, every time, and no upstream call is made.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';
import { assertError, call, chat, startStack, type Stack } from '../support/reliability-support.js';

const STATIC_KEY = 'sk-static-shared-stem-0123456789abcdef-A';

/** The key with its last character changed to another of the same alphabet. */
function lastCharChanged(key: string): string {
  return `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
}

describe('§4d#4 auth caches keyed by the full digest', () => {
  let stack: Stack;

  before(async () => {
    // Many refusals in a row: the per-address failure limit (auth-failures.test.ts) is off here.
    stack = await startStack({ env: { LLM_PROXY_API_KEYS: `${CLIENT_KEY},${STATIC_KEY}` }, yaml: 'auth:\n  max_failures_per_minute: 0\n' });
  });
  after(async () => {
    await stack.close();
  });

  test('a cached static or virtual key does not let in a key that differs from it in the last character only', async () => {
    const made = await createKey(stack.url, { name: 'cache-neighbour' });
    for (const key of [STATIC_KEY, made.key]) {
      const as = (presented: string) => ({ authorization: `Bearer ${presented}`, 'content-type': 'application/json' });
      // Verified, twice, so the second is answered from the cache.
      for (let round = 0; round < 2; round++) assert.equal((await call(stack.url, { headers: as(key), body: chat() })).status, 200);
      const from = stack.fake.requests.length;
      const neighbours = [lastCharChanged(key), key.slice(0, -1), `${key}A`];
      for (const neighbour of neighbours) {
        // Twice as well: a first refusal must not be remembered as the cached key's answer either.
        for (let round = 0; round < 2; round++) {
          assertError(await call(stack.url, { headers: as(neighbour), body: chat() }), { status: 401, code: 'invalid_api_key' });
          assertError(await call(stack.url, { method: 'GET', path: '/v1/models', headers: as(neighbour) }), { status: 401, code: 'invalid_api_key' });
        }
      }
      assert.equal(stack.fake.requests.length, from, 'nothing went upstream for a neighbour');
      // And the refusals (now in the negative cache) do not shut out the real key.
      assert.equal((await call(stack.url, { headers: as(key), body: chat() })).status, 200);
    }
  });
});
