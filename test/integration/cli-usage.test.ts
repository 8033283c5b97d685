// `llm-proxy usage rebuild-rollup`, run as the built CLI against a SQLite file a version before the
// daily sums also wrote to: the sums are summed again from the records, from --since on.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { openDatabase } from '../../src/store/database.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { toUsageRow } from '../../src/store/usage-store.js';
import { usageRecord } from '../support/usage-fixture.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'src', 'cli.js');
const DAY = 86_400_000;
const START = Date.UTC(2026, 2, 1);

describe('llm-proxy usage rebuild-rollup (CLI)', () => {
  let dir: string;
  let db: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-cli-usage-'));
    db = join(dir, 'llm-proxy.db');
    env = { PATH: process.env.PATH ?? '', LLM_PROXY_DB: db };
    const store = new SqlStore({ dbPath: db }, pino({ level: 'silent' }));
    // March 1 to 4 through this version (sums added); March 2 and 3 also by an older one (records alone).
    await store.usage.insertBatch(Array.from({ length: 40 }, (_, index) => usageRecord(`new-${index}`, 'key-a', 'gpt-4o', START + index * (DAY / 10))));
    await store.close();
    const database = openDatabase({ dbPath: db });
    await database.db.insertInto('usage_records').values(Array.from({ length: 30 }, (_, index) => toUsageRow(usageRecord(`old-${index}`, 'key-b', 'gpt-4o', START + DAY + index * (DAY / 20))))).execute();
    await database.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function sums(): Promise<Record<string, number>> {
    const store = new SqlStore({ dbPath: db }, pino({ level: 'silent' }));
    try {
      const byDay = await store.analytics.breakdowns({ start: START, end: START + 10 * DAY }, ['day']);
      return Object.fromEntries(byDay.day.map((row) => [row.value, row.requests]));
    } finally {
      await store.close();
    }
  }

  test('rebuilds from --since on, and says what it did', async () => {
    assert.deepEqual(await sums(), { '2026-03-01': 10, '2026-03-02': 10, '2026-03-03': 10, '2026-03-04': 10 }, 'the older instance’s records are missing');
    const { stdout } = await run(process.execPath, [CLI, 'usage', 'rebuild-rollup', '--since', '2026-03-03'], { env });
    assert.equal(stdout, 'usage_daily rebuilt from the records: 2 days (2026-03-03 to 2026-03-04), 3 rows\n');
    // March 3 has key-b's last 10 records: rebuilt; March 2 (its first 20) is before --since.
    assert.deepEqual(await sums(), { '2026-03-01': 10, '2026-03-02': 10, '2026-03-03': 20, '2026-03-04': 10 });
    await run(process.execPath, [CLI, 'usage', 'rebuild-rollup'], { env });
    assert.deepEqual(await sums(), { '2026-03-01': 10, '2026-03-02': 30, '2026-03-03': 20, '2026-03-04': 10 });
  });

  test('bad input is refused with a message, and --help describes it', async () => {
    for (const [args, message] of [
      [['usage', 'rebuild-rollup', '--since', '2026-02-30'], /^llm-proxy: --since takes an ISO 8601 date such as 2026-03-01 \(a UTC day\) or a date-time, not "2026-02-30"\n$/],
      [['usage', 'rebuild-rollup', '--sinse', '2026-03-01'], /^llm-proxy: .*--sinse/],
      [['usage', 'rebuild'], /^llm-proxy: unknown usage command "rebuild"; see llm-proxy usage --help\n$/],
      // The last one won: a rebuild from another day than the first one asked for.
      [['usage', 'rebuild-rollup', '--since', '2026-03-02', '--since', '2026-03-03'], /^llm-proxy: --since is given twice \("2026-03-02", then "2026-03-03"\): give it once; see llm-proxy usage --help\n$/],
    ] as const) {
      await assert.rejects(run(process.execPath, [CLI, ...args], { env }), (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr, message);
        return true;
      });
    }
    assert.match((await run(process.execPath, [CLI, 'usage', '--help'], { env })).stdout, /^llm-proxy usage rebuild-rollup \[--since DATE\]/);
    assert.match((await run(process.execPath, [CLI, '--help'], { env })).stdout, /usage rebuild-rollup/);
  });
});
