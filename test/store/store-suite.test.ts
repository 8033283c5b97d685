// The store suite, run unchanged against embedded SQLite and PostgreSQL: migrations, keys, budget
// holds (exact under concurrency), usage batches (idempotent, settling spend and holds), sums.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { DatabaseOptions } from '../../src/store/database.js';
import { periodEnd } from '../../src/store/key-store.js';
import { SqlStore } from '../../src/store/sql-store.js';
import type { IdentifiedUsageRecord } from '../../src/store/usage-store.js';
import { createPostgresSchema, type PostgresSchema } from '../support/backing-services.js';

const logger = pino({ level: 'silent' });
const postgres = await createPostgresSchema();

function usageRecord(id: string, keyId: string, overrides: Partial<IdentifiedUsageRecord> = {}): IdentifiedUsageRecord {
  return {
    id,
    requestId: `req-${id}`,
    keyId,
    endpoint: 'chat.completions',
    model: 'gpt-4',
    promptTokens: 10,
    completionTokens: 5,
    cachedTokens: 0,
    cost: 0.001,
    latencyMs: 12,
    status: 'ok',
    httpStatus: 200,
    stream: false,
    cacheHit: false,
    estimated: false,
    createdAt: Date.UTC(2025, 0, 15, 12),
    ...overrides,
  };
}

interface Backend {
  name: string;
  skip: string | false;
  /** `waits` apply to PostgreSQL's pool and queries; SQLite has neither. */
  open(waits?: Pick<DatabaseOptions, 'timeoutMs' | 'poolWaitMs'>): SqlStore;
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

function sqliteBackend(): Backend {
  let dir = '';
  return {
    name: 'SQLite',
    skip: false,
    open: () => new SqlStore({ dbPath: join(dir, 'nested', 'store.db') }, logger),
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'llm-proxy-store-'));
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  const schema = typeof postgres === 'string' ? undefined : (postgres as PostgresSchema);
  return {
    name: 'PostgreSQL',
    skip: typeof postgres === 'string' ? postgres : false,
    open: (waits = {}) => new SqlStore({ dbPath: 'unused.db', databaseUrl: schema?.url ?? '', ...waits }, logger),
    async setup() {},
    async teardown() {
      await schema?.drop();
    },
  };
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`store on ${backend.name}`, { skip: backend.skip }, () => {
    let store: SqlStore;
    let keyCount = 0;
    const newKeyId = () => (++keyCount).toString(16).padStart(16, '0');

    before(async () => {
      await backend.setup();
      store = backend.open();
      await store.ready();
    });
    after(async () => {
      await store.close();
      await backend.teardown();
    });

    test('migrations run once: a second store on the same database finds nothing to do', async () => {
      const again = backend.open();
      try {
        await again.ready();
        assert.deepEqual(await again.keys.list(), await store.keys.list());
      } finally {
        await again.close();
      }
    });

    test('keys: insert, find, list, update, revoke, and the change feed', async () => {
      const id = newKeyId();
      const before = Date.now() - 1;
      const created = await store.keys.insert({ id, keyHash: 'a'.repeat(64), prefix: 'AbCd', name: 'app', models: ['gpt-4'], rpmLimit: 5, maxBudget: 2 }, Date.now());
      assert.equal(created.name, 'app');
      const found = await store.keys.findById(id);
      assert.deepEqual(found?.models, ['gpt-4']);
      assert.equal(found?.rpmLimit, 5);
      assert.equal(found?.maxBudget, 2);
      assert.equal(found?.tpmLimit, null);
      assert.equal(typeof found?.createdAt, 'number');
      assert.ok((await store.keys.list()).some((key) => key.id === id));

      const updated = await store.keys.update(id, { tpmLimit: 1000, models: null, budgetPeriod: 'daily' }, Date.now());
      assert.equal(updated?.tpmLimit, 1000);
      assert.equal(updated?.models, null);
      assert.equal(updated?.budgetPeriod, 'daily');
      assert.ok((updated?.budgetResetAt ?? 0) > Date.now());

      const first = await store.keys.revoke(id, 1_000);
      const second = await store.keys.revoke(id, 2_000);
      assert.equal(first?.revokedAt, 1_000);
      assert.equal(second?.revokedAt, 1_000, 'a second revocation keeps the first time');
      assert.ok((second?.updatedAt ?? 0) > (first?.updatedAt ?? 0), 'every change moves updated_at forward');
      const changed = await store.keys.changedSince(before);
      assert.ok(changed.some((row) => row.id === id));
      assert.equal(await store.keys.findById('ffffffffffffffff'), undefined);
      assert.equal(await store.keys.update('ffffffffffffffff', { name: 'x' }, Date.now()), undefined);
    });

    test('budget holds: admitted while they fit, with a reason when not', async () => {
      const id = newKeyId();
      await store.keys.insert({ id, keyHash: 'b'.repeat(64), prefix: 'x', maxBudget: 1 }, Date.now());
      assert.equal((await store.keys.reserveBudget(id, `${id}-1`, 0.6, Date.now())).admitted, true);
      const held = await store.keys.reserveBudget(id, `${id}-2`, 0.6, Date.now());
      assert.equal(held.admitted, false);
      assert.equal(!held.admitted && held.reason, 'insufficient');
      assert.equal((await store.keys.findById(id))?.reserved, 0.6);
      assert.equal(await store.keys.releaseReservation(`${id}-1`), 1);
      assert.equal(await store.keys.releaseReservation(`${id}-1`), 0, 'a hold is given back once');
      assert.equal((await store.keys.findById(id))?.reserved, 0);

      const noBudget = newKeyId();
      await store.keys.insert({ id: noBudget, keyHash: 'c'.repeat(64), prefix: 'x' }, Date.now());
      assert.equal((await store.keys.reserveBudget(noBudget, `${noBudget}-1`, 1e6, Date.now())).admitted, true);
      const missing = await store.keys.reserveBudget('eeeeeeeeeeeeeeee', 'h', 1, Date.now());
      assert.equal(!missing.admitted && missing.reason, 'missing');
    });

    test('budget race: 100 concurrent holds against a budget that fits one admit exactly one', async () => {
      const id = newKeyId();
      await store.keys.insert({ id, keyHash: 'd'.repeat(64), prefix: 'x', maxBudget: 0.01 }, Date.now());
      // 100 transactions queue on one row lock through 20 pooled connections: on a loaded machine the
      // last of them waited past the pool's 3 s and its query's 5 s. What is checked is the answer, not
      // how soon it comes (the product sends one hold per key at a time, budget-ledger.ts).
      const racing = backend.open({ timeoutMs: 120_000, poolWaitMs: 120_000 });
      try {
        const outcomes = await Promise.all(Array.from({ length: 100 }, (_, index) => racing.keys.reserveBudget(id, `${id}-race-${index}`, 0.006, Date.now())));
        assert.equal(outcomes.filter((outcome) => outcome.admitted).length, 1);
        const key = await racing.keys.findById(id);
        assert.ok(Math.abs((key?.reserved ?? 0) - 0.006) < 1e-12);
        const released = await Promise.all(Array.from({ length: 100 }, (_, index) => racing.keys.releaseReservation(`${id}-race-${index}`)));
        assert.equal(released.reduce((sum, count) => sum + count, 0), 1, 'one hold row, for the one admitted');
      } finally {
        await racing.close();
      }
    });

    test('a budget period that has ended starts again from 0', async () => {
      const id = newKeyId();
      const now = Date.now();
      const nextWeek = now + 8 * 86_400_000;
      await store.keys.insert({ id, keyHash: 'e'.repeat(64), prefix: 'x', maxBudget: 1, budgetPeriod: 'daily' }, now);
      await store.usage.insertBatch([usageRecord(`${id}-spent`, id, { cost: 5, createdAt: now })]);
      assert.equal((await store.keys.findById(id))?.spend, 5);
      assert.equal((await store.keys.reserveBudget(id, `${id}-new`, 0.5, nextWeek)).admitted, true);
      const key = await store.keys.findById(id);
      assert.equal(key?.spend, 0);
      assert.equal(key?.budgetResetAt, periodEnd('daily', nextWeek));
      assert.equal(key?.totalSpend, 5);
    });

    test("setting a key's budget period after its last period ended does not carry that period's spend into the next", async () => {
      const id = newKeyId();
      const now = Date.now();
      const nextWeek = now + 8 * 86_400_000;
      await store.keys.insert({ id, keyHash: '7'.repeat(64), prefix: 'x', maxBudget: 1, budgetPeriod: 'daily' }, now);
      await store.usage.insertBatch([usageRecord(`${id}-spent`, id, { cost: 5, createdAt: now })]);
      // The admin API shows 0 spent (the period ended); re-sending the same period, or another, keeps it so.
      const updated = await store.keys.update(id, { budgetPeriod: 'weekly' }, nextWeek);
      assert.equal(updated?.spend, 0);
      assert.equal(updated?.totalSpend, 5);
      assert.equal(updated?.budgetResetAt, periodEnd('weekly', nextWeek));
      assert.equal((await store.keys.reserveBudget(id, `${id}-after`, 0.5, nextWeek)).admitted, true);

      // A period still running keeps its spend when the period changes (the admin chose to count it on).
      const running = newKeyId();
      await store.keys.insert({ id: running, keyHash: '8'.repeat(64), prefix: 'x', maxBudget: 1, budgetPeriod: 'monthly' }, Date.now());
      await store.usage.insertBatch([usageRecord(`${running}-spent`, running, { cost: 0.25, createdAt: Date.now() })]);
      assert.equal((await store.keys.update(running, { budgetPeriod: 'daily' }, Date.now()))?.spend, 0.25);
    });

    test('a usage row settles into the budget period it was made in, whenever it lands', async () => {
      const now = Date.now();
      const today = periodEnd('daily', now) - 86_400_000;
      // A call of yesterday whose row lands after today's first hold started the new period: not today's spend.
      const late = newKeyId();
      await store.keys.insert({ id: late, keyHash: '3'.repeat(64), prefix: 'x', maxBudget: 10, budgetPeriod: 'daily' }, now);
      assert.equal((await store.keys.reserveBudget(late, `${late}-today`, 0, now)).admitted, true);
      await store.usage.insertBatch([usageRecord(`${late}-yesterday`, late, { cost: 3, createdAt: today - 60_000 })]);
      let key = await store.keys.findById(late);
      assert.equal(key?.spend, 0, "yesterday's call is not charged to today's budget");
      assert.equal(key?.totalSpend, 3);

      // A call of today whose row lands before anything started the new period: kept when it starts.
      const early = newKeyId();
      await store.keys.insert({ id: early, keyHash: '4'.repeat(64), prefix: 'x', maxBudget: 10, budgetPeriod: 'daily' }, now - 2 * 86_400_000);
      await store.usage.insertBatch([
        usageRecord(`${early}-old`, early, { cost: 4, createdAt: now - 2 * 86_400_000 }),
        usageRecord(`${early}-today`, early, { cost: 2, createdAt: now }),
      ]);
      const outcome = await store.keys.reserveBudget(early, `${early}-next`, 9, now);
      assert.equal(outcome.admitted, false, "today's 2 leave no room for 9 of 10");
      key = await store.keys.findById(early);
      assert.equal(key?.spend, 2);
      assert.equal(key?.totalSpend, 6);
      assert.equal(key?.budgetResetAt, periodEnd('daily', now));
    });

    test('batches of several instances settling the same keys in other orders do not deadlock', { skip: backend.name === 'SQLite' ? 'one writer at a time: no row locks to order' : false }, async () => {
      const keys = Array.from({ length: 6 }, () => newKeyId());
      for (const id of keys) await store.keys.insert({ id, keyHash: `d${id}`.padEnd(64, 'd'), prefix: 'x', maxBudget: 1_000 }, Date.now());
      const other = backend.open();
      try {
        for (let round = 0; round < 10; round++) {
          const batch = (order: string[], tag: string) => order.map((id) => usageRecord(`${id}-${tag}-${round}`, id, { cost: 0.5, createdAt: Date.now() }));
          const reversed = [...keys].reverse();
          await Promise.all([store.usage.insertBatch(batch(keys, 'a')), other.usage.insertBatch(batch(reversed, 'b'))]);
        }
      } finally {
        await other.close();
      }
      for (const id of keys) assert.equal((await store.keys.findById(id))?.spend, 10);
    });

    test('usage batches are idempotent and settle spend and holds of exactly the new rows', async () => {
      const id = newKeyId();
      await store.keys.insert({ id, keyHash: 'f'.repeat(64), prefix: 'x', maxBudget: 10 }, Date.now());
      assert.equal((await store.keys.reserveBudget(id, `${id}-u1`, 2, Date.now())).admitted, true);
      const batch = [usageRecord(`${id}-u1`, id, { cost: 0.5, budgetHeld: true }), usageRecord(`${id}-u2`, id, { cost: 0.25 }), usageRecord(`${id}-u3`, 'static-1', { cost: 1 })];
      assert.equal(await store.usage.insertBatch(batch), 3);
      assert.equal(await store.usage.insertBatch(batch), 0, 'a replayed batch inserts nothing');
      const key = await store.keys.findById(id);
      assert.equal(key?.spend, 0.75);
      assert.equal(key?.reserved, 0, 'the hold was settled by its usage record');
    });

    test('NUL and over-long strings are cleaned before they reach the database', async () => {
      const id = `nul-${newKeyId()}`;
      assert.equal(await store.usage.insertBatch([usageRecord(id, 'k-nul', { model: 'gpt\u0000-4', errorCode: 'x'.repeat(500), requestId: 'r\u0000' })]), 1);
      const groups = await store.analytics.summarize({ keyId: 'k-nul', start: 0, end: Date.now() + 1 });
      assert.deepEqual(groups.map((group) => group.model), ['gpt-4']);
    });

    test('usage filters with NUL or over-long values match what was stored, not a database error', async () => {
      const key = `nulf-${newKeyId()}`;
      await store.usage.insertBatch([usageRecord(`${key}-1`, `${key}\u0000`, { model: `m\u0000${'x'.repeat(300)}`, createdAt: Date.UTC(2025, 3, 1) })]);
      const range = { start: Date.UTC(2025, 3, 1), end: Date.UTC(2025, 3, 2) };
      const model = `m${'x'.repeat(255)}`;
      assert.equal((await store.analytics.summarize({ ...range, keyId: `${key}\u0000` })).length, 1);
      assert.equal((await store.analytics.totals({ ...range, keyId: `\u0000${key}`, model: `${model}\u0000` })).requests, 1);
      assert.equal((await store.analytics.rows({ ...range, model: `${model}yyy` }, 10, { createdAt: range.end, id: 'z\u0000' })).length, 1);
    });

    test('usage sums by day, model and key over a half-open range', async () => {
      const key = `sum-${newKeyId()}`;
      const day1 = Date.UTC(2025, 2, 1, 10);
      const day2 = Date.UTC(2025, 2, 2, 23, 59);
      await store.usage.insertBatch([
        usageRecord(`${key}-1`, key, { createdAt: day1, model: 'gpt-4', promptTokens: 10, completionTokens: 1, cost: 0.5 }),
        usageRecord(`${key}-2`, key, { createdAt: day1 + 1000, model: 'gpt-4', promptTokens: 20, completionTokens: 2, cost: 0.25 }),
        usageRecord(`${key}-3`, key, { createdAt: day2, model: 'claude', promptTokens: 5, completionTokens: 5, cost: undefined }),
        usageRecord(`${key}-4`, `${key}-other`, { createdAt: day1, model: 'gpt-4' }),
      ]);
      const groups = await store.analytics.summarize({ keyId: key, start: Date.UTC(2025, 2, 1), end: Date.UTC(2025, 2, 3) });
      assert.deepEqual(groups, [
        { day: '2025-03-01', model: 'gpt-4', keyId: key, requests: 2, promptTokens: 30, completionTokens: 3, cost: 0.75 },
        { day: '2025-03-02', model: 'claude', keyId: key, requests: 1, promptTokens: 5, completionTokens: 5, cost: 0 },
      ]);
      const firstDay = await store.analytics.summarize({ keyId: key, start: Date.UTC(2025, 2, 1), end: Date.UTC(2025, 2, 2) });
      assert.equal(firstDay.length, 1);
      const everyKey = await store.analytics.summarize({ start: Date.UTC(2025, 2, 1), end: Date.UTC(2025, 2, 3) });
      assert.ok(everyKey.some((group) => group.keyId === `${key}-other`));
    });

    test("an instance's finished calls count at their real cost, not their holds, until their rows land", async () => {
      const id = newKeyId();
      await store.keys.insert({ id, keyHash: '1'.repeat(64), prefix: 'x', maxBudget: 1 }, Date.now());
      for (let index = 0; index < 4; index++) assert.equal((await store.keys.reserveBudget(id, `${id}-h${index}`, 0.22, Date.now())).admitted, true);
      // Without what this instance knows, the 4 holds leave no room for a 5th.
      assert.equal((await store.keys.reserveBudget(id, `${id}-h4`, 0.22, Date.now())).admitted, false);
      const unwritten = (keyId: string) => (keyId === id ? { spend: 0.08, held: 0.88 } : undefined);
      assert.equal((await store.keys.reserveBudget(id, `${id}-h4`, 0.22, Date.now(), unwritten)).admitted, true);
      const refused = await store.keys.reserveBudget(id, `${id}-h5`, 0.8, Date.now(), unwritten);
      assert.ok(!refused.admitted && Math.abs(refused.spend - 0.08) < 1e-12, 'the refusal counts the unwritten spend');
      // A hold the sweeper already gave back is not taken off twice.
      assert.equal(await store.keys.releaseReservation(`${id}-h0`), 1);
      const bigger = (keyId: string) => (keyId === id ? { spend: 0, held: 10 } : undefined);
      assert.equal((await store.keys.reserveBudget(id, `${id}-h6`, 1.01, Date.now(), bigger)).admitted, false);
    });

    test('beforeCommit runs inside the usage transaction: a budget check sees the rows and the unwritten figures change together', async () => {
      const id = newKeyId();
      await store.keys.insert({ id, keyHash: '2'.repeat(64), prefix: 'x', maxBudget: 100 }, Date.now());
      const pending = { spend: 0, held: 0 };
      const records: IdentifiedUsageRecord[] = [];
      for (let index = 0; index < 40; index++) {
        assert.equal((await store.keys.reserveBudget(id, `${id}-r${index}`, 0.22, Date.now())).admitted, true);
        records.push(usageRecord(`${id}-r${index}`, id, { cost: 0.02, budgetHeld: true }));
        pending.spend += 0.02;
        pending.held += 0.22;
      }
      const unwritten = (keyId: string) => (keyId === id ? pending : undefined);
      const clear = () => {
        pending.spend = 0;
        pending.held = 0;
      };
      // A throwing beforeCommit rolls the batch back: it ran inside the transaction.
      await assert.rejects(
        store.usage.insertBatch(records.slice(0, 1), () => {
          throw new Error('stop');
        }),
      );
      assert.equal((await store.keys.findById(id))?.spend, 0);
      // Checks racing the batches: each sees the spend once, from the database or from the instance, never both or neither.
      const checks: Array<Promise<number>> = [];
      const check = async () => {
        const outcome = await store.keys.reserveBudget(id, 'never', 1_000, Date.now(), unwritten);
        return outcome.admitted ? Number.NaN : outcome.spend;
      };
      const writes: Array<Promise<number>> = [];
      for (let index = 0; index < 4; index++) {
        checks.push(check(), check());
        writes.push(
          store.usage.insertBatch(records.slice(index * 10, index * 10 + 10), (written) => {
            pending.spend -= 0.02 * written.length;
            pending.held -= 0.22 * written.length;
          }),
        );
        checks.push(check(), check());
      }
      await Promise.all(writes);
      clear();
      for (const spend of await Promise.all(checks)) assert.ok(Math.abs(spend - 0.8) < 1e-9, `seen ${spend}`);
      const key = await store.keys.findById(id);
      assert.ok(Math.abs((key?.spend ?? 0) - 0.8) < 1e-9);
      assert.ok(Math.abs(key?.reserved ?? 1) < 1e-9);
    });

    test('stale holds (an instance that died mid-request) are released by the sweeper', async () => {
      const id = newKeyId();
      await store.keys.insert({ id, keyHash: '0'.repeat(64), prefix: 'x', maxBudget: 1 }, Date.now());
      await store.keys.reserveBudget(id, `${id}-old`, 0.9, Date.now() - 3_600_000);
      await store.keys.reserveBudget(id, `${id}-new`, 0.05, Date.now());
      assert.ok((await store.keys.releaseStale(Date.now() - 1_800_000)) >= 1);
      assert.ok(Math.abs(((await store.keys.findById(id))?.reserved ?? 0) - 0.05) < 1e-12);
    });
  });
}
