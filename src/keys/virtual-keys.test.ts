import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { isGatewayError } from '../errors/gateway-error.js';
import { SqlStore } from '../store/sql-store.js';
import { DOWN_LOOKUP_WAIT_MS, generateVirtualKey, hashVirtualKey, VirtualKeyService } from './virtual-keys.js';

const logger = pino({ level: 'silent' });
let dir: string;
let store: SqlStore;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llm-proxy-keys-'));
  store = new SqlStore({ dbPath: join(dir, 'keys.db') }, logger);
  await store.ready();
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Counts the service's database reads, and can make them fail like a database that went away. */
function instrument() {
  const original = store.keys.findById.bind(store.keys);
  const state = { reads: 0, down: false };
  store.keys.findById = async (id: string) => {
    state.reads++;
    if (state.down) throw new Error('connect ECONNREFUSED');
    return original(id);
  };
  return { state, restore: () => (store.keys.findById = original) };
}

async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string | null }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isGatewayError(error));
    return { status: error.status, code: error.code };
  }
  assert.fail('expected a refusal');
}

test('keys are sk-gw_<id>_<32 random bytes, base64url>, and only the hash is kept', async () => {
  const one = generateVirtualKey();
  const two = generateVirtualKey();
  assert.match(one.key, /^sk-gw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(one.key, two.key);
  assert.equal(one.hash, hashVirtualKey(one.key));
  assert.equal(one.prefix.length, 4);
  const service = new VirtualKeyService(store.keys, logger);
  const { record, key } = await service.create({ name: 'hash-only' });
  assert.equal(record.keyHash, hashVirtualKey(key));
  const stored = await store.keys.findById(record.id);
  assert.ok(stored !== undefined && !JSON.stringify(stored).includes(key.slice(-43)), 'the secret is not stored');
});

test('authenticates a key with its limits; a wrong secret, a hash or a malformed key is unknown', async () => {
  const service = new VirtualKeyService(store.keys, logger);
  const { record, key } = await service.create({ rpmLimit: 7, tpmLimit: 900, models: ['gpt-4'], maxBudget: 3 });
  assert.deepEqual(await service.authenticate(key), { keyId: record.id, role: 'client', rpmLimit: 7, tpmLimit: 900, models: ['gpt-4'], maxBudget: 3 });
  const otherSecret = `sk-gw_${record.id}_${'A'.repeat(43)}`;
  assert.equal(await service.authenticate(otherSecret), undefined);
  // Pass-the-hash: the stored value presented as if it were the key, alone or in the key's shape.
  assert.equal(await service.authenticate(record.keyHash), undefined);
  assert.equal(await service.authenticate(`sk-gw_${record.id}_${record.keyHash}`), undefined);
  assert.equal(await service.authenticate(`sk-gw_${record.id}_${record.keyHash.slice(0, 43)}`), undefined);
  assert.equal(await service.authenticate(`${key}x`), undefined);
});

test('found and unknown keys are cached; a change made here takes effect at once', async () => {
  const service = new VirtualKeyService(store.keys, logger);
  const { record, key } = await service.create({});
  const probe = instrument();
  try {
    await service.authenticate(key);
    await service.authenticate(key);
    assert.equal(probe.state.reads, 1);
    const unknown = `sk-gw_${'0'.repeat(16)}_${'B'.repeat(43)}`;
    assert.equal(await service.authenticate(unknown), undefined);
    assert.equal(await service.authenticate(unknown), undefined);
    assert.equal(probe.state.reads, 2, 'the negative cache answered the second time');

    await service.revoke(record.id);
    assert.deepEqual(await refusal(service.authenticate(key)), { status: 403, code: 'key_revoked' });
  } finally {
    probe.restore();
  }
});

test('an expired key is refused with a message that says so', async () => {
  const service = new VirtualKeyService(store.keys, logger);
  const { record, key } = await service.create({ expiresAt: Date.now() + 60_000 });
  assert.ok((await service.authenticate(key)) !== undefined);
  await service.update(record.id, { expiresAt: Date.now() - 1 });
  assert.deepEqual(await refusal(service.authenticate(key)), { status: 403, code: 'key_expired' });
});

test('database down: known keys keep working from the cache, unknown keys get 503 auth_unavailable', async () => {
  const service = new VirtualKeyService(store.keys, logger, { ttlMs: 1, negativeTtlMs: 1 });
  const { key } = await service.create({ name: 'known' });
  await service.authenticate(key);
  const probe = instrument();
  try {
    probe.state.down = true;
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok((await service.authenticate(key)) !== undefined, 'served from the cache past its TTL');
    // For 15 minutes since it was last read, not for as long as the outage lasts.
    assert.ok((await service.authenticate(key, Date.now() + 14 * 60_000)) !== undefined, 'served 14 minutes into the outage');
    assert.deepEqual(await refusal(service.authenticate(key, Date.now() + 15 * 60_000 + 1_000)), { status: 503, code: 'auth_unavailable' });
    const stranger = generateVirtualKey().key;
    assert.deepEqual(await refusal(service.authenticate(stranger)), { status: 503, code: 'auth_unavailable' });
    probe.state.down = false;
    assert.equal(await service.authenticate(stranger), undefined);
  } finally {
    probe.restore();
  }
});

test('database known to be away and hanging: an unknown key gets its 503 within 1 s, not after the 5 s query timeout', async () => {
  const service = new VirtualKeyService(store.keys, logger, { ttlMs: 1, negativeTtlMs: 1 });
  const probe = instrument();
  const original = store.keys.findById;
  try {
    probe.state.down = true;
    // A first refused read marks the database away.
    assert.deepEqual(await refusal(service.authenticate(generateVirtualKey().key)), { status: 503, code: 'auth_unavailable' });
    // Now it accepts connections and answers nothing for 3 s (a query timeout of 5 s would end it later).
    store.keys.findById = () => new Promise((resolve) => setTimeout(() => resolve(undefined), 3_000));
    const started = Date.now();
    assert.deepEqual(await refusal(service.authenticate(generateVirtualKey().key)), { status: 503, code: 'auth_unavailable' });
    const waited = Date.now() - started;
    assert.ok(waited >= DOWN_LOOKUP_WAIT_MS - 50 && waited < DOWN_LOOKUP_WAIT_MS + 500, `answered after ${waited} ms`);
  } finally {
    store.keys.findById = original;
    probe.restore();
  }
});

test('a read that began before an invalidation is not cached after it', async () => {
  const service = new VirtualKeyService(store.keys, logger);
  const { record, key } = await service.create({});
  const original = store.keys.findById.bind(store.keys);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let calls = 0;
  store.keys.findById = async (id: string) => {
    const row = await original(id);
    if (++calls === 1) await gate;
    return row;
  };
  try {
    const slow = service.authenticate(key);
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Revoked (by another instance, say) while the read was in flight.
    await store.keys.revoke(record.id, Date.now());
    service.invalidate(record.id);
    release();
    await slow;
  } finally {
    store.keys.findById = original;
  }
  assert.deepEqual(await refusal(service.authenticate(key)), { status: 403, code: 'key_revoked' });
});

test("the change poll's invalidation keeps a cached copy already at the changed version, and drops an older one", async () => {
  const service = new VirtualKeyService(store.keys, logger);
  const { record, key } = await service.create({ name: 'polled' });
  const { state, restore } = instrument();
  try {
    assert.ok((await service.authenticate(key)) !== undefined);
    const reads = state.reads;
    // The poll reports the key's own creation (or an update the cache already read): no lookup after.
    service.invalidate(record.id, record.updatedAt);
    assert.ok((await service.authenticate(key)) !== undefined);
    assert.equal(state.reads, reads);
    // A newer version, and an announcement without one, both drop it.
    service.invalidate(record.id, record.updatedAt + 1);
    assert.ok((await service.authenticate(key)) !== undefined);
    assert.equal(state.reads, reads + 1);
    service.invalidate(record.id);
    assert.ok((await service.authenticate(key)) !== undefined);
    assert.equal(state.reads, reads + 2);
  } finally {
    restore();
  }
});
