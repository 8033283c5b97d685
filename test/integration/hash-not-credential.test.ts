// RELIABILITY §4d#3: hashes are not credentials. The SHA-256 of a static client key or of the master
// key (hex, base64, base64url; bare or as "sha256:<hex>"), presented as if it were the key, is
// refused like any unknown key: 401 invalid_api_key, and the answer shows no digest. So is the
// digest a virtual key is stored as, bare or dressed in the key's own `sk-gw_<id>_` shape.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, MASTER_KEY } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';
import { assertError, call, chat, startStack, type Stack } from '../support/reliability-support.js';

describe('§4d#3 a stored hash presented as a key', () => {
  let stack: Stack;

  before(async () => {
    // Eighty refusals in a row: the per-address failure limit (§4d#4, tested on its own) is off here.
    stack = await startStack({ yaml: 'auth:\n  max_failures_per_minute: 0\n' });
  });
  after(async () => {
    await stack.close();
  });

  test('the digests of the client and master keys are refused on client and admin routes', async () => {
    for (const key of [CLIENT_KEY, MASTER_KEY]) {
      const digest = createHash('sha256').update(key).digest();
      for (const presented of [digest.toString('hex'), digest.toString('hex').toUpperCase(), `sha256:${digest.toString('hex')}`, digest.toString('base64'), digest.toString('base64url')]) {
        for (const headers of [{ authorization: `Bearer ${presented}` }, { 'x-api-key': presented }]) {
          for (const [method, path, body] of [['POST', '/v1/chat/completions', chat()], ['GET', '/v1/models', undefined], ['GET', '/admin/keys', undefined], ['GET', '/metrics', undefined]] as const) {
            const res = await call(stack.url, { method, path, headers: { ...headers, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });
            assertError(res, { status: 401, code: 'invalid_api_key' });
            assert.ok(!res.body.toLowerCase().includes(digest.toString('hex')), `${path}: the digest is echoed`);
          }
        }
      }
    }
    assert.equal(stack.fake.requests.length, 0, 'nothing went upstream');
    // The keys themselves still work.
    const served = await call(stack.url, { headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: chat() });
    assert.equal(served.status, 200, served.body);
  });

  test("a virtual key's stored digest is refused, bare or in the key's shape, and never shown", async () => {
    const made = await createKey(stack.url, { name: 'pass-the-hash' });
    const digest = createHash('sha256').update(made.key).digest();
    const from = stack.fake.requests.length;
    const presented = [
      digest.toString('hex'),
      digest.toString('base64'),
      digest.toString('base64url'),
      `sk-gw_${made.id}_${digest.toString('hex')}`,
      // 43 characters, the secret's own length and alphabet: the format check alone does not refuse it.
      `sk-gw_${made.id}_${digest.toString('base64url').slice(0, 43)}`,
      `sk-gw_${made.id}_${digest.toString('hex').slice(0, 43)}`,
    ];
    for (const value of presented) {
      for (const [method, path, body] of [['POST', '/v1/chat/completions', chat()], ['GET', '/v1/models', undefined]] as const) {
        const res = await call(stack.url, { method, path, headers: { authorization: `Bearer ${value}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body }) });
        assertError(res, { status: 401, code: 'invalid_api_key' });
      }
    }
    assert.equal(stack.fake.requests.length, from, 'nothing went upstream');
    // Neither the list nor one key's record shows the digest (§4d#3: the id and a 4-character prefix instead).
    for (const path of ['/admin/keys', `/admin/keys/${made.id}`]) {
      const res = await call(stack.url, { method: 'GET', path, headers: { authorization: `Bearer ${MASTER_KEY}` } });
      assert.equal(res.status, 200, res.body);
      for (const form of [digest.toString('hex'), digest.toString('base64'), digest.toString('base64url')]) assert.ok(!res.body.includes(form), `${path} shows the digest`);
    }
    const served = await call(stack.url, { headers: { authorization: `Bearer ${made.key}`, 'content-type': 'application/json' }, body: chat() });
    assert.equal(served.status, 200, served.body);
  });
});
