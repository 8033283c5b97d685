import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { SqlStore } from '../store/sql-store.js';
import type { IdentifiedUsageRecord } from '../store/usage-store.js';
import { BatchedUsageWriter, fanOutUsage, spoolsToReplay, timeOrderedId, usageSpoolFile, type UsageSink, type UsageWriteObserver } from './batched-usage-writer.js';
import { MemoryUsageRecorder } from './usage-recorder.js';
import type { UsageRecord } from './usage-recorder.js';

function record(index: number, model = 'gpt-4'): UsageRecord {
  return {
    requestId: `same-request-id`, keyId: 'k', endpoint: 'chat.completions', model, promptTokens: 1, completionTokens: 1, cachedTokens: 0,
    latencyMs: 1, status: 'ok', httpStatus: 200, stream: false, cacheHit: false, estimated: false, createdAt: index,
  };
}

/** Insert-or-ignore by id, like the real store; `down` makes every call fail, `poison` rejects some rows. */
class FakeSink implements UsageSink {
  readonly rows = new Map<string, IdentifiedUsageRecord>();
  readonly batches: number[] = [];
  readonly attemptedIds: string[] = [];
  down = false;
  poison = (_record: IdentifiedUsageRecord) => false;

  /** The connection is lost at the commit (after the statements and `beforeCommit`): nothing is kept, and the database is away. */
  failCommit = false;

  async insertBatch(records: readonly IdentifiedUsageRecord[], beforeCommit?: (records: readonly IdentifiedUsageRecord[]) => void): Promise<number> {
    this.attemptedIds.push(...records.map((item) => item.id));
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    if (records.some(this.poison)) throw new Error('invalid input syntax');
    const fresh = records.filter((item) => !this.rows.has(item.id));
    beforeCommit?.(records);
    if (this.failCommit) {
      this.down = true;
      throw new Error('Connection terminated unexpectedly');
    }
    this.batches.push(records.length);
    for (const item of fresh) this.rows.set(item.id, item);
    return fresh.length;
  }

  async ping(): Promise<void> {
    if (this.down) throw new Error('down');
  }
}

function capturingLogger() {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) };
}

test('writes in batches of the configured size, every record with its own id', async () => {
  const sink = new FakeSink();
  const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { batchSize: 3, flushIntervalMs: 60_000 });
  for (let index = 0; index < 7; index++) writer.record(record(index));
  await writer.flush();
  assert.equal(sink.rows.size, 7, 'a repeated X-Request-Id does not collapse records');
  assert.ok(sink.batches.every((size) => size <= 3));
  assert.equal(writer.stats().pending, 0);
  await writer.close();
});

test('flushes on its own within the interval', async () => {
  const sink = new FakeSink();
  const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { flushIntervalMs: 20 });
  writer.record(record(1));
  const deadline = Date.now() + 2_000;
  while (sink.rows.size === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(sink.rows.size, 1);
  await writer.close();
});

test('database down: records wait in the spool and are written once it is back, with no loss and no duplicates', async () => {
  const sink = new FakeSink();
  const { lines, logger } = capturingLogger();
  const writer = new BatchedUsageWriter(sink, logger, { batchSize: 2, flushIntervalMs: 60_000 });
  sink.down = true;
  for (let index = 0; index < 5; index++) writer.record(record(index));
  await writer.flush();
  await writer.flush();
  await writer.flush();
  assert.equal(writer.stats().pending, 5);
  assert.equal(writer.stats().databaseDown, true);
  assert.equal(lines.filter((line) => line.includes('usage store unavailable')).length, 1, 'one log line per transition');

  sink.down = false;
  await writer.flush();
  assert.equal(sink.rows.size, 5);
  assert.equal(writer.stats().pending, 0);
  assert.equal(writer.stats().databaseDown, false);
  assert.equal(lines.filter((line) => line.includes('available again')).length, 1);
  // Every retry of a record used the id it was given first, so a batch that did land is not doubled.
  assert.equal(new Set(sink.attemptedIds).size, 5);
  await writer.close();
});

test('a record the database rejects is dropped alone; the rest of its batch is written', async () => {
  const sink = new FakeSink();
  sink.poison = (item) => item.model === 'poison';
  const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { batchSize: 10, flushIntervalMs: 60_000 });
  writer.record(record(1));
  writer.record(record(2, 'poison'));
  writer.record(record(3));
  await writer.flush();
  assert.equal(sink.rows.size, 2);
  assert.equal(writer.stats().rejected, 1);
  assert.equal(writer.stats().pending, 0);
  await writer.close();
});

test('a real SQLite file locked by another process: writes fail while reads answer, and no record is dropped for it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-writer-lock-'));
  const store = new SqlStore({ dbPath: join(dir, 'usage.db'), busyTimeoutMs: 50 }, pino({ level: 'silent' }));
  await store.ready();
  // Another connection holds the write lock (the CLI, a backup, sqlite3 with BEGIN EXCLUSIVE): the store's waits end in SQLITE_BUSY.
  const holder = new Database(join(dir, 'usage.db'));
  const writer = new BatchedUsageWriter(store.usage, pino({ level: 'silent' }), { batchSize: 10, flushIntervalMs: 60_000 });
  try {
    holder.exec('begin exclusive');
    for (let index = 1; index <= 3; index++) writer.record(record(index));
    await writer.flush();
    assert.deepEqual(
      { rejected: writer.stats().rejected, pending: writer.stats().pending, down: writer.stats().databaseDown },
      { rejected: 0, pending: 3, down: true },
      'the lock is the database being away, not three records it refuses',
    );
    holder.exec('rollback');
    await writer.flush();
    assert.equal(writer.stats().pending, 0);
    const summary = await store.analytics.summarize({ start: 0, end: Date.now() + 1 });
    assert.equal(summary.reduce((sum, group) => sum + group.requests, 0), 3);
  } finally {
    holder.close();
    await writer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the spool is bounded: beyond it the oldest records are dropped and counted', async () => {
  const sink = new FakeSink();
  sink.down = true;
  const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { maxSpool: 10, flushIntervalMs: 60_000 });
  for (let index = 0; index < 15; index++) writer.record(record(index));
  assert.equal(writer.stats().pending, 10);
  assert.equal(writer.stats().dropped, 5);
  sink.down = false;
  await writer.flush();
  assert.deepEqual([...sink.rows.values()].map((item) => item.createdAt).sort((a, b) => a - b), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  await writer.close();
});

test('closing with the database down saves the spool; the next start writes it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-spool-'));
  const spoolFile = join(dir, 'usage-spool.jsonl');
  try {
    const down = new FakeSink();
    down.down = true;
    const first = new BatchedUsageWriter(down, pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
    for (let index = 0; index < 4; index++) first.record(record(index));
    await first.close();
    assert.ok(existsSync(spoolFile));

    const up = new FakeSink();
    const second = new BatchedUsageWriter(up, pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
    assert.ok(!existsSync(spoolFile), 'claimed at start');
    await second.flush();
    assert.equal(up.rows.size, 4);
    assert.deepEqual(new Set(up.rows.keys()), new Set(down.attemptedIds), 'the same ids as before the restart');
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a record that arrives after close goes to the spool file, not into a queue nobody drains', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-spool-'));
  const spoolFile = join(dir, 'usage-spool.jsonl');
  try {
    const writer = new BatchedUsageWriter(new FakeSink(), pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
    writer.record(record(0));
    await writer.close();
    assert.ok(!existsSync(spoolFile), 'written before close: nothing spooled');
    writer.record(record(1));
    const saved = readFileSync(spoolFile, 'utf8').trim().split('\n');
    assert.equal(saved.length, 1, 'the late record is saved for the next start');
    assert.equal(writer.stats().pending, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('records arriving after close are appended to a large spool file, not each rewriting it whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-spool-'));
  const spoolFile = join(dir, 'usage-spool.jsonl');
  try {
    const sink = new FakeSink();
    sink.down = true;
    const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
    for (let index = 0; index < 60_000; index++) writer.record(record(index, `model-${'m'.repeat(200)}`));
    await writer.close();
    // Calls cut at the drain deadline end one after another: each used to read and write the whole file again.
    const started = Date.now();
    for (let index = 0; index < 200; index++) writer.record(record(index));
    const took = Date.now() - started;
    assert.equal(readFileSync(spoolFile, 'utf8').split('\n').filter((line) => line !== '').length, 60_200);
    assert.ok(took < 1_500, `200 late records took ${took} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a spool file, records that arrive after close are logged once each, not again with every later record', async () => {
  const lines: string[] = [];
  const writer = new BatchedUsageWriter(new FakeSink(), pino({ level: 'error' }, { write: (line: string) => void lines.push(line) }), { flushIntervalMs: 60_000 });
  await writer.close();
  writer.record(record(1));
  writer.record(record(2));
  assert.deepEqual(lines.map((line) => (JSON.parse(line) as { lost: number }).lost), [1, 1]);
  assert.equal(writer.stats().pending, 0);
});

test('a forced exit while a batch write hangs spools that batch with the records queued after it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-spool-'));
  const spoolFile = join(dir, 'usage-spool.jsonl');
  try {
    // A database that takes the batch and never answers.
    const hanging: UsageSink = { insertBatch: () => new Promise<number>(() => undefined), ping: () => Promise.resolve() };
    const writer = new BatchedUsageWriter(hanging, pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
    for (let index = 0; index < 3; index++) writer.record(record(index));
    void writer.flush();
    writer.record(record(3));
    writer.spoolNow();
    const saved = readFileSync(spoolFile, 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { model: string; id: string }).id);
    assert.equal(saved.length, 4, 'the three in the hanging write and the one queued after it');
    assert.equal(new Set(saved).size, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a start also replays the spools of worker slots that no longer run and of replays that crashed half-way', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-spool-'));
  const line = (id: string) => `${JSON.stringify({ ...record(1), id })}\n`;
  try {
    // Left by `--workers 4` (slot 3) before a restart with fewer workers, by a replay whose process
    // died after claiming its file (pid 2^22+1 is above Linux's pid_max), and by an earlier run
    // with our own pid (containers start node as pid 1 every time).
    writeFileSync(join(dir, 'usage-spool-3.jsonl'), line('slot-3'));
    writeFileSync(join(dir, 'usage-spool.jsonl.4194305.loading'), line('crashed-replay'));
    writeFileSync(join(dir, `usage-spool-1.jsonl.${process.pid}.loading`), line('own-pid-leftover'));
    // A live process's claim is its own business; other files are not spools.
    writeFileSync(join(dir, `usage-spool-2.jsonl.${process.ppid}.loading`), line('live-claim'));
    writeFileSync(join(dir, 'usage-spool-backup.json'), line('not-a-spool'));
    assert.deepEqual(spoolsToReplay(join(dir, 'usage-spool.jsonl')).map((file) => file.slice(dir.length + 1)).sort(), [
      `usage-spool-1.jsonl.${process.pid}.loading`,
      'usage-spool-3.jsonl',
      'usage-spool.jsonl.4194305.loading',
    ]);
    const sink = new FakeSink();
    const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { spoolFile: join(dir, 'usage-spool.jsonl'), flushIntervalMs: 60_000 });
    await writer.flush();
    assert.deepEqual([...sink.rows.keys()].sort(), ['crashed-replay', 'own-pid-leftover', 'slot-3']);
    assert.deepEqual(readdirSync(dir).sort(), [`usage-spool-2.jsonl.${process.ppid}.loading`, 'usage-spool-backup.json']);
    await writer.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A run that stopped with the database away: `count` records in its spool file, the sink still down. */
async function spooledAtExit(count: number) {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-spool-'));
  const spoolFile = join(dir, 'usage-spool.jsonl');
  const down = new FakeSink();
  down.down = true;
  const first = new BatchedUsageWriter(down, pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
  for (let index = 0; index < count; index++) first.record(record(index));
  await first.close();
  return { dir, spoolFile, down };
}

test('a replayed spool stays on disk until its records are written: a crash while the database is still away loses none', async () => {
  const { dir, spoolFile, down } = await spooledAtExit(3);
  try {

    // The next start reads the spool while the database is still away, then dies before writing it.
    const crashed = new BatchedUsageWriter(down, pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
    await crashed.flush();
    assert.equal(crashed.stats().pending, 3);
    crashed.spoolNow = () => undefined; // a kill -9: nothing more is saved
    assert.equal(spoolsToReplay(spoolFile).length, 1, 'the claimed spool is still on disk');

    // A second replay (the claim of a process that is gone) in the same pid reads the file too, so it
    // is keyed apart from the spool this writer saves; once written, nothing is left behind.
    const up = new FakeSink();
    const second = new BatchedUsageWriter(up, pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
    await second.flush();
    assert.deepEqual(new Set(up.rows.keys()), new Set(down.attemptedIds));
    assert.equal(up.rows.size, 3);
    assert.deepEqual(readdirSync(dir), [], 'deleted once written');
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a replayed spool saved again at exit (database still away) is not left twice on disk', async () => {
  const { dir, spoolFile, down } = await spooledAtExit(3);
  try {
    const again = new BatchedUsageWriter(down, pino({ level: 'silent' }), { spoolFile, flushIntervalMs: 60_000 });
    await again.close();
    assert.deepEqual(readdirSync(dir), ['usage-spool.jsonl']);
    assert.equal(readFileSync(spoolFile, 'utf8').split('\n').filter((line) => line !== '').length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('timeOrderedId: RFC 9562 version 7 layout, the 48-bit millisecond time first', () => {
  for (const now of [0, 1, 0xffff_ffff, 0x1_0000_0000, Date.UTC(2026, 10, 27, 10, 7, 42, 123), 0xffff_ffff_ffff]) {
    const id = timeOrderedId(now);
    assert.match(id, UUID_V7);
    assert.equal(id.slice(0, 8) + id.slice(9, 13), now.toString(16).padStart(12, '0'), `time of ${now}`);
  }
  // Fractions are floored; what is not a time falls back to now.
  assert.equal(timeOrderedId(1_700_000_000_000.9).slice(0, 13), timeOrderedId(1_700_000_000_000).slice(0, 13));
  for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
    const before = Date.now();
    const time = Number.parseInt(timeOrderedId(bad).slice(0, 13).replace('-', ''), 16);
    assert.ok(time >= before && time <= Date.now(), `${bad} gives the current time`);
  }
});

test('timeOrderedId: 100k ids are unique, sort in time order, and every random digit varies', () => {
  const count = 100_000;
  const start = Date.UTC(2026, 0, 1);
  const ids: string[] = [];
  // Several ids per millisecond, as under load.
  for (let index = 0; index < count; index++) ids.push(timeOrderedId(start + Math.floor(index / 4)));
  assert.equal(new Set(ids).size, count, 'no id repeats');
  for (let index = 1; index < count; index++) {
    const [previous, current] = [ids[index - 1] as string, ids[index] as string];
    if (index % 4 === 0) assert.ok(previous < current, `a later millisecond sorts after: ${previous} ${current}`);
    else assert.equal(previous.slice(0, 13), current.slice(0, 13));
  }
  const variants = new Set<string>();
  // Digits 15-17, 20-22 and 24-35 are random: each takes all 16 values over this many ids.
  const seen = Array.from({ length: 36 }, () => new Set<string>());
  for (const id of ids) {
    assert.match(id, UUID_V7);
    variants.add(id.charAt(19));
    for (let position = 0; position < 36; position++) seen[position]?.add(id.charAt(position));
  }
  assert.deepEqual([...variants].sort(), ['8', '9', 'a', 'b']);
  for (const position of [15, 16, 17, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]) {
    assert.equal(seen[position]?.size, 16, `digit ${position} is random`);
  }
});

test('the writer takes the record without copying it and fixes its id in place; a given id is kept', async () => {
  const sink = new FakeSink();
  const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { flushIntervalMs: 60_000 });
  const memory = new MemoryUsageRecorder();
  const usage = fanOutUsage([writer, memory]);
  const fresh = record(Date.UTC(2026, 0, 1));
  const held = { ...record(2), id: 'hold-id', budgetHeld: true };
  usage.record(fresh);
  usage.record(held);
  assert.match(fresh.id ?? '', UUID_V7);
  assert.equal(fresh.id?.slice(0, 13), timeOrderedId(Date.UTC(2026, 0, 1)).slice(0, 13), 'the id carries the record time');
  await writer.flush();
  assert.equal(sink.rows.get(fresh.id ?? ''), fresh, 'the same object reaches the sink');
  assert.equal(sink.rows.get('hold-id'), held);
  // Every recorder sees the one record, id included.
  assert.deepEqual(memory.recent(), [fresh, held]);
  await writer.close();
});

/** Logs what the writer tells it, with whether the sink had stored the records at that moment. */
function observing(sink: FakeSink) {
  const events: string[] = [];
  const ids = (records: readonly IdentifiedUsageRecord[]) => records.map((item) => item.createdAt).join(',');
  const observer: UsageWriteObserver = {
    landing: (records) => void events.push(`landing ${ids(records)} stored=${records.some((item) => sink.rows.has(item.id))}`),
    landed: (records, committed) => void events.push(`landed ${ids(records)} ${committed}`),
    lost: (records) => void events.push(`lost ${ids(records)}`),
    adopted: (records) => void events.push(`adopted ${ids(records)}`),
  };
  return { events, observer };
}

test('the observer hears of each batch inside its transaction, then whether it committed, and of every record dropped', async () => {
  const sink = new FakeSink();
  const { events, observer } = observing(sink);
  const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { batchSize: 2, maxSpool: 3, flushIntervalMs: 60_000, observer });
  writer.record(record(1));
  writer.record(record(2));
  await writer.flush();
  assert.deepEqual(events.splice(0), ['landing 1,2 stored=false', 'landed 1,2 true']);

  sink.failCommit = true;
  writer.record(record(3));
  await writer.flush();
  assert.deepEqual(events.splice(0), ['landing 3 stored=false', 'landed 3 false']);
  sink.failCommit = false;
  for (let index = 4; index < 7; index++) writer.record(record(index));
  assert.deepEqual(events.splice(0), ['lost 3'], 'the spool is full: the oldest record is dropped');
  await writer.flush();
  assert.deepEqual(events.splice(0), ['landed 4,5 false'], 'a batch that never reached its commit is not landing (the observer ignores what it was not told of)');

  sink.down = false;
  sink.poison = (item) => item.createdAt === 5;
  await writer.flush();
  assert.deepEqual(events.splice(0), ['landed 4,5 false', 'landing 4 stored=false', 'landed 4 true', 'landed 5 false', 'lost 5', 'landing 6 stored=false', 'landed 6 true']);
  await writer.close();
});

test('retryNow ends the backoff: the spool is written as soon as the database is known to be back', async () => {
  const sink = new FakeSink();
  const writer = new BatchedUsageWriter(sink, pino({ level: 'silent' }), { flushIntervalMs: 10 });
  sink.down = true;
  writer.record(record(1));
  // Four failures: the next attempt of its own is 8 s away.
  for (let index = 0; index < 4; index++) await writer.flush();
  sink.down = false;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(sink.rows.size, 0, 'still waiting out the backoff');
  writer.retryNow();
  const deadline = Date.now() + 1_000;
  while (writer.stats().databaseDown && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(writer.stats().databaseDown, false);
  assert.equal(sink.rows.size, 1);
  await writer.close();
});

test('usageSpoolFile: storage.spool_dir when set, else beside the SQLite path; a file per worker slot', () => {
  assert.equal(usageSpoolFile({ db_path: './data/llm-proxy.db' }), resolve('data/usage-spool.jsonl'));
  assert.equal(usageSpoolFile({ db_path: '/srv/db/llm-proxy.db' }, 2), '/srv/db/usage-spool-2.jsonl');
  // With PostgreSQL the SQLite path is unused; the spool goes where storage.spool_dir says.
  assert.equal(usageSpoolFile({ db_path: './data/llm-proxy.db', spool_dir: '/var/lib/llm-proxy/spool' }), '/var/lib/llm-proxy/spool/usage-spool.jsonl');
  assert.equal(usageSpoolFile({ db_path: './data/llm-proxy.db', spool_dir: 'spool' }, 1), resolve('spool/usage-spool-1.jsonl'));
});
