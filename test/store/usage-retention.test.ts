// Usage retention (storage.usage_retention_days) on embedded SQLite and PostgreSQL: rows older than
// the retention go, in batches, the newer stay; the keys' spend (kept on the key, never summed from
// rows) does not move; on PostgreSQL two instances pruning at once delete each row once, neither
// failing nor waiting for the other.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config-loader.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { UsageRetention } from '../../src/usage/usage-retention.js';
import { createPostgresSchema, type PostgresSchema } from '../support/backing-services.js';
import { usageRecord } from '../support/usage-fixture.js';

const logger = pino({ level: 'silent' });
const postgres = await createPostgresSchema();
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1, 12);

interface Backend {
  name: string;
  skip: string | false;
  open(): SqlStore;
  teardown(): Promise<void>;
}

const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-retention-'));
const backends: Backend[] = [
  { name: 'SQLite', skip: false, open: () => new SqlStore({ dbPath: join(dir, 'usage.db') }, logger), teardown: async () => rmSync(dir, { recursive: true, force: true }) },
  {
    name: 'PostgreSQL',
    skip: typeof postgres === 'string' ? postgres : false,
    open: () => new SqlStore({ dbPath: 'unused.db', databaseUrl: (postgres as PostgresSchema).url }, logger),
    teardown: async () => (postgres as PostgresSchema).drop(),
  },
];

async function count(store: SqlStore, start = 0, end = NOW + DAY): Promise<number> {
  return (await store.analytics.totals({ start, end })).requests;
}

for (const backend of backends) {
  describe(`usage retention on ${backend.name}`, { skip: backend.skip }, () => {
    let store: SqlStore;
    const keyId = 'retained0000001';

    before(async () => {
      store = backend.open();
      await store.keys.insert({ id: keyId, keyHash: 'r'.repeat(64), prefix: 'ret', maxBudget: 100 }, NOW);
    });
    after(async () => {
      await store.close();
      await backend.teardown();
    });

    test('a pass deletes the rows older than the retention, in batches, and leaves the newer and every spend', async () => {
      // 25 rows 40 to 16 days old, 5 from the last 5 days; retention 15 days.
      const old = Array.from({ length: 25 }, (_, index) => usageRecord(`old-${index}`, keyId, 'gpt-4', NOW - (40 - index) * DAY));
      const recent = Array.from({ length: 5 }, (_, index) => usageRecord(`new-${index}`, keyId, 'gpt-4', NOW - index * DAY));
      assert.equal(await store.usage.insertBatch([...old, ...recent]), 30);
      const before = await store.keys.findById(keyId);
      let deletes = 0;
      const pruner = { pruneBefore: (cutoff: number, limit: number) => (deletes++, store.usage.pruneBefore(cutoff, limit)) };
      const retention = new UsageRetention(pruner, logger, { days: 15, batch: 10, pauseMs: 1, now: () => NOW });
      assert.equal(await retention.pass(), 25);
      assert.equal(deletes, 3, 'batches of 10: 10, 10, 5');
      assert.equal(await count(store), 5);
      assert.equal(await count(store, NOW - 15 * DAY), 5);
      const afterwards = await store.keys.findById(keyId);
      assert.equal(afterwards?.totalSpend, before?.totalSpend);
      assert.equal(afterwards?.spend, before?.spend);
      // Nothing more to do: one delete that finds nothing.
      assert.equal(await retention.pass(), 0);
    });

    test('instances pruning together delete each row once, without errors', { skip: backend.name === 'SQLite' ? 'one writer at a time' : false }, async () => {
      const rows = Array.from({ length: 600 }, (_, index) => usageRecord(`many-${index}`, 'other-key', 'gpt-4', NOW - 100 * DAY + index));
      assert.equal(await store.usage.insertBatch(rows), 600);
      const second = backend.open();
      try {
        const options = { days: 15, batch: 50, pauseMs: 0, now: () => NOW };
        const [first, other] = await Promise.all([new UsageRetention(store.usage, logger, options).pass(), new UsageRetention(second.usage, logger, options).pass()]);
        assert.equal(first + other, 600);
        assert.equal(await count(store, 0, NOW - 15 * DAY), 0);
      } finally {
        await second.close();
      }
    });
  });
}

describe('usage retention setting', () => {
  test('off unless set; LLM_PROXY_USAGE_RETENTION_DAYS sets it; fewer than 7 days is refused', () => {
    assert.equal(loadConfig({}).config.storage.usage_retention_days, undefined);
    assert.equal(loadConfig({ LLM_PROXY_USAGE_RETENTION_DAYS: '90' }).config.storage.usage_retention_days, 90);
    assert.throws(() => loadConfig({ LLM_PROXY_USAGE_RETENTION_DAYS: '3' }), /usage_retention_days \(or LLM_PROXY_USAGE_RETENTION_DAYS\)/);
  });
});
