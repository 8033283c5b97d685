// Failed authentication is limited per client address (RELIABILITY 4d#4): past the limit an address
// gets 429 without any further key lookup (no database reads for guessed virtual keys), while
// static and master keys keep working; 0 turns the limit off.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, MASTER_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';
import { createKey } from '../support/key-support.js';

async function models(url: string, key: string): Promise<Response> {
  return fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
}

const GUESS = `sk-gw_${'0'.repeat(16)}_${'A'.repeat(43)}`;

describe('failed authentication per address', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway({}, { configure: (config) => void (config.auth.max_failures_per_minute = 5) });
  });
  after(() => gateway.close());

  test('five failures are 401, then 429 with Retry-After; good keys still pass', async () => {
    // A virtual key used before the lockout is known (cached) and keeps working through it.
    const { key: known } = await createKey(gateway.url, { name: 'known-before' });
    assert.equal((await models(gateway.url, known)).status, 200);
    for (let attempt = 0; attempt < 5; attempt++) assert.equal((await models(gateway.url, `sk-wrong-${attempt}`)).status, 401);
    const refused = await models(gateway.url, 'sk-wrong-again');
    assert.equal(refused.status, 429);
    const body = (await refused.json()) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'too_many_auth_failures');
    assert.equal(body.error.type, 'rate_limit_error');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    // A guessed virtual key is refused before any lookup, and a missing key likewise.
    const keys = gateway.app.services.store.keys;
    const findById = keys.findById.bind(keys);
    let lookups = 0;
    keys.findById = (id) => {
      lookups++;
      return findById(id);
    };
    assert.equal((await models(gateway.url, GUESS)).status, 429);
    assert.equal((await fetch(`${gateway.url}/v1/models`)).status, 429);
    assert.equal(lookups, 0);
    // The address is not locked out for keys that are known without a lookup.
    assert.equal((await models(gateway.url, CLIENT_KEY)).status, 200);
    assert.equal((await models(gateway.url, MASTER_KEY)).status, 200);
    assert.equal((await models(gateway.url, known)).status, 200);
    assert.equal(lookups, 0, 'the cached virtual key needed no lookup either');
  });
});

describe('failed authentication per address: a known key whose cache entry has aged', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway({}, { configure: (config) => void (config.auth.max_failures_per_minute = 5) });
  });
  after(() => gateway.close());

  test('a virtual key verified before is read again, not refused, while a neighbour on the address keeps failing', async () => {
    const { key: known } = await createKey(gateway.url, { name: 'known-long-ago' });
    assert.equal((await models(gateway.url, known)).status, 200);
    // 31 s on: the key's cache entry (30 s) wants a fresh read; the address then fails five times.
    const realNow = Date.now;
    Date.now = () => realNow() + 31_000;
    try {
      for (let attempt = 0; attempt < 5; attempt++) assert.equal((await models(gateway.url, `sk-wrong-${attempt}`)).status, 401);
      assert.equal((await models(gateway.url, GUESS)).status, 429);
      const keys = gateway.app.services.store.keys;
      const findById = keys.findById.bind(keys);
      const looked: string[] = [];
      keys.findById = (id) => {
        looked.push(id);
        return findById(id);
      };
      assert.equal((await models(gateway.url, known)).status, 200, 'README: a shared egress address cannot lock out known keys');
      assert.equal(looked.length, 1, 'read once, to see whether it changed');
      assert.equal((await models(gateway.url, GUESS)).status, 429);
      assert.equal(looked.length, 1, 'a guess is still not looked up');
    } finally {
      Date.now = realNow;
    }
  });
});

describe('failed authentication limit off', () => {
  let gateway: Gateway;
  before(async () => {
    gateway = await startGateway({}, { configure: (config) => void (config.auth.max_failures_per_minute = 0) });
  });
  after(() => gateway.close());

  test('max_failures_per_minute: 0 answers every failure with 401', async () => {
    for (let attempt = 0; attempt < 20; attempt++) assert.equal((await models(gateway.url, `sk-wrong-${attempt}`)).status, 401);
  });
});
