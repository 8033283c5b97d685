import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { isGatewayError } from '../errors/gateway-error.js';
import type { BudgetOutcome, StoredKey, UnwrittenSpend } from '../store/key-store.js';
import { SqlStore } from '../store/sql-store.js';
import type { IdentifiedUsageRecord } from '../store/usage-store.js';
import { BatchedUsageWriter } from '../usage/batched-usage-writer.js';
import { BudgetLedger, budgetRefusal, HOLD_TIMEOUT_MS, type BudgetStore, type HoldMode } from './budget-ledger.js';

const logger = pino({ level: 'silent' });
let dir: string;
let store: SqlStore;
let keyCount = 0;
/** Hold ids, which are also the usage records' ids: unique across instances, as the proxy's UUIDs are. */
let callCount = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llm-proxy-ledger-'));
  store = new SqlStore({ dbPath: join(dir, 'ledger.db') }, logger);
  await store.ready();
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function newKey(maxBudget: number): Promise<StoredKey> {
  const id = `ledger-${++keyCount}`;
  return store.keys.insert({ id, keyHash: String(keyCount).padStart(64, '0'), prefix: 'x', maxBudget }, Date.now());
}

function usage(id: string, keyId: string, cost: number, budgetHeld: boolean): IdentifiedUsageRecord {
  return {
    id, requestId: `req-${id}`, keyId, endpoint: 'chat.completions', model: 'gpt-4', promptTokens: 10, completionTokens: 5, cachedTokens: 0,
    cost, latencyMs: 1, status: 'ok', httpStatus: 200, stream: false, cacheHit: false, estimated: false, createdAt: Date.now(),
    ...(budgetHeld ? { budgetHeld } : {}),
  };
}

/** One instance: a ledger and a usage writer wired as services.ts wires them (no timed flush: tests flush). */
function instance(cached: () => StoredKey | undefined = () => undefined, spoolFile?: string) {
  const ledger = new BudgetLedger(store.keys, cached, logger);
  const writer = new BatchedUsageWriter(store.usage, logger, { flushIntervalMs: 60_000, observer: ledger, ...(spoolFile === undefined ? {} : { spoolFile }) });
  ledger.onStoreBack(() => writer.retryNow());
  /** One call as the proxy makes it: hold, then settle at the real cost and record its usage. Returns how it was held, or the refusal code. */
  async function call(keyId: string, amount: number, cost: number): Promise<HoldMode | string> {
    const id = `${keyId}-call-${++callCount}`;
    let mode: HoldMode;
    try {
      mode = await ledger.hold(keyId, id, amount);
    } catch (error) {
      assert.ok(isGatewayError(error));
      return error.code ?? 'refused';
    }
    ledger.settle(keyId, id, mode, amount, cost);
    writer.record(usage(id, keyId, cost, mode === 'store'));
    return mode;
  }
  return {
    ledger,
    writer,
    call,
    async close() {
      ledger.close();
      await writer.close();
    },
  };
}

/** Makes the store calls a proxy makes fail like a refused connection, until `restore` (parts may be given back one by one). */
function outage() {
  const keys = store.keys;
  const rows = store.usage;
  const saved = { reserveBudget: keys.reserveBudget, insertBatch: rows.insertBatch, ping: rows.ping };
  const down = async (): Promise<never> => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
  };
  Object.assign(keys, { reserveBudget: down });
  Object.assign(rows, { insertBatch: down, ping: down });
  return {
    restoreUsage: () => Object.assign(rows, { insertBatch: saved.insertBatch, ping: saved.ping }),
    restoreKeys: () => Object.assign(keys, { reserveBudget: saved.reserveBudget }),
  };
}

async function rowCosts(keyId: string): Promise<{ rows: number; cost: number }> {
  const groups = await store.analytics.summarize({ keyId, start: 0, end: Date.now() + 1 });
  return { rows: groups.reduce((sum, group) => sum + group.requests, 0), cost: groups.reduce((sum, group) => sum + group.cost, 0) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a finished call counts at its real cost at once, not at its hold until its row lands', async () => {
  const key = await newKey(1);
  const one = instance();
  try {
    // Each call holds $0.22 and costs $0.02: 30 in a row fit a $1 budget ($0.58 spent + the last hold).
    for (let index = 0; index < 30; index++) assert.equal(await one.call(key.id, 0.22, 0.02), 'store', `call ${index}`);
    assert.equal(one.writer.stats().pending, 30, 'nothing was written meanwhile');
    // The next $0.50 hold would overspend the real $0.60: refused, and the message counts the spend.
    const refused = await one.call(key.id, 0.5, 0.02);
    assert.equal(refused, 'budget_exceeded');

    // Another instance sees this one's holds in the database until the rows land: it refuses early, never overspends.
    const other = instance();
    assert.equal(await other.call(key.id, 0.22, 0), 'budget_exceeded');
    await one.writer.flush();
    assert.equal(await other.call(key.id, 0.22, 0), 'store');
    await other.writer.flush();
    await other.close();

    const stored = await store.keys.findById(key.id);
    assert.ok(Math.abs((stored?.spend ?? 0) - 0.6) < 1e-9, `spend ${stored?.spend}`);
    assert.equal(stored?.reserved, 0, 'every hold was released with its row');
    const rows = await rowCosts(key.id);
    assert.equal(rows.rows, 31);
    assert.ok(Math.abs(rows.cost - (stored?.spend ?? 0)) < 1e-9);
  } finally {
    await one.close();
  }
});

test('spend made while the database was away counts until its records are written, and the writer retries as soon as it is back', async () => {
  const key = await newKey(0.5);
  let cached: StoredKey | undefined;
  const one = instance(() => cached);
  assert.equal(await one.call(key.id, 0.04, 0.02), 'store');
  await one.writer.flush();
  // As the key cache holds it when the outage begins.
  cached = await store.keys.findById(key.id);
  const down = outage();
  let local = 0;
  try {
    // Holds of $0.04 costing $0.02, decided locally from the cached key: 23 more fit ($0.02 + 22 × $0.02 + $0.04 ≤ $0.50).
    for (let index = 0; index < 40; index++) if ((await one.call(key.id, 0.04, 0.02)) === 'local') local++;
    assert.equal(local, 23);
    // Several failed attempts: the writer now waits 8 s before trying again on its own.
    for (let index = 0; index < 4; index++) await one.writer.flush();
    assert.equal(one.writer.stats().databaseDown, true);
  } finally {
    down.restoreUsage();
    down.restoreKeys();
  }
  // The ledger asks the database again at most once a second.
  await sleep(1_100);
  let admitted = 0;
  for (let index = 0; index < 40; index++) if ((await one.call(key.id, 0.04, 0.02)) === 'store') admitted++;
  assert.equal(admitted, 0, 'the spool still counts: $0.48 spent, and a $0.04 hold does not fit');
  // The database's first answer to a budget check ended the writer's backoff.
  for (let wait = 0; wait < 50 && one.writer.stats().databaseDown; wait++) await sleep(20);
  assert.equal(one.writer.stats().databaseDown, false, 'the spool was written well before the 8 s backoff');
  await one.writer.flush();
  const stored = await store.keys.findById(key.id);
  const rows = await rowCosts(key.id);
  assert.equal(rows.rows, 24, 'none lost, none doubled');
  assert.ok(Math.abs((stored?.spend ?? 0) - 0.48) < 1e-9, `spend ${stored?.spend}`);
  assert.ok(Math.abs(rows.cost - (stored?.spend ?? 0)) < 1e-9);
  assert.equal(stored?.reserved, 0);
  await one.close();
});

test("a restart during an outage: the last run's spooled spend counts against the budget until it is written", async () => {
  const key = await newKey(0.5);
  const cached = await store.keys.findById(key.id);
  const spoolFile = join(dir, `restart-${key.id}.jsonl`);
  const down = outage();
  try {
    const first = instance(() => cached, spoolFile);
    for (let index = 0; index < 10; index++) assert.equal(await first.call(key.id, 0.04, 0.04), 'local');
    // Stopped with the database still away: the $0.40 goes to the spool file.
    await first.close();
    const second = instance(() => cached, spoolFile);
    assert.equal(second.writer.stats().pending, 10);
    let admitted = 0;
    for (let index = 0; index < 10; index++) if ((await second.call(key.id, 0.04, 0.04)) === 'local') admitted++;
    assert.equal(admitted, 2, '$0.40 spooled + 2 × $0.04 fit $0.50; a third would not');
    second.ledger.close();
    second.writer.spoolNow();
  } finally {
    down.restoreUsage();
    down.restoreKeys();
  }
  const third = instance(() => cached, spoolFile);
  await third.writer.flush();
  assert.equal((await rowCosts(key.id)).rows, 12, 'none lost, none doubled');
  await third.close();
});

test('spend that landed between the caching of the key and an outage counts against the budget during the outage', async () => {
  const key = await newKey(0.5);
  // The key cache keeps a record up to 30 s: fetched before any of the spend below.
  const cached = await store.keys.findById(key.id);
  const one = instance(() => cached);
  // $0.20 spent and written while the database is up.
  for (let index = 0; index < 10; index++) assert.equal(await one.call(key.id, 0.04, 0.02), 'store');
  await one.writer.flush();
  const down = outage();
  let local = 0;
  try {
    // The cached record says $0 spent; the database said $0.20. 13 × $0.02 spent and a 14th call's $0.04 hold fill the $0.50, no more.
    for (let index = 0; index < 40; index++) if ((await one.call(key.id, 0.04, 0.02)) === 'local') local++;
    assert.equal(local, 14, "decided from the database's last figures plus what landed since, not from the older cached record");
  } finally {
    down.restoreUsage();
    down.restoreKeys();
  }
  await one.writer.flush();
  const stored = await store.keys.findById(key.id);
  assert.ok((stored?.spend ?? 0) <= 0.5 + 1e-9, `spend ${stored?.spend} within the $0.50 budget`);
  assert.ok(Math.abs((stored?.spend ?? 0) - 0.48) < 1e-9, `spend ${stored?.spend}`);
  assert.equal(stored?.reserved, 0);
  await one.close();
});

test("spend other instances made after this instance's last database answer counts during an outage (the cached record is newer)", async () => {
  const key = await newKey(1);
  let cached: StoredKey | undefined;
  const one = instance(() => cached);
  // This instance's last answer from the database: $0 spent.
  assert.equal(await one.call(key.id, 0.1, 0.05), 'store');
  await one.writer.flush();
  // Later, other instances spend $0.85 of the $1 budget, and this instance's key cache refreshes.
  const other = instance();
  for (let index = 0; index < 17; index++) assert.equal(await other.call(key.id, 0.1, 0.05), 'store');
  await other.writer.flush();
  await other.close();
  cached = await store.keys.findById(key.id);
  assert.ok(Math.abs((cached?.spend ?? 0) - 0.9) < 1e-9, `spend ${cached?.spend}`);
  const down = outage();
  try {
    // $0.90 spent: a $0.15 hold does not fit, whatever this instance's older figures say.
    assert.equal(await one.call(key.id, 0.15, 0.15), 'budget_exceeded');
  } finally {
    down.restoreUsage();
    down.restoreKeys();
  }
  await one.close();
});

test('spend written while budgets are still decided locally keeps counting there until the database answers a budget check', async () => {
  const key = await newKey(0.3);
  const one = instance(() => key);
  const down = outage();
  try {
    for (let index = 0; index < 10; index++) assert.equal(await one.call(key.id, 0.02, 0.02), 'local');
    // The usage writer reaches the database before the ledger does: the cached key's spend ($0) predates these rows.
    down.restoreUsage();
    await one.writer.flush();
    assert.equal((await rowCosts(key.id)).rows, 10);
    let local = 0;
    for (let index = 0; index < 20; index++) if ((await one.call(key.id, 0.02, 0.02)) === 'local') local++;
    assert.equal(local, 5, '$0.20 landed + 5 × $0.02 fills $0.30');
  } finally {
    down.restoreUsage();
    down.restoreKeys();
  }
  await one.writer.flush();
  const stored = await store.keys.findById(key.id);
  assert.ok(Math.abs((stored?.spend ?? 0) - 0.3) < 1e-9, `spend ${stored?.spend}`);
  await one.close();
});

/** Admits everything and keeps what the ledger says it has not written yet at each check. */
class RecordingStore implements BudgetStore {
  readonly seen: Array<UnwrittenSpend | undefined> = [];

  async reserveBudget(keyId: string, _id: string, _amount: number, _now: number, unwritten?: (keyId: string) => UnwrittenSpend | undefined): Promise<BudgetOutcome> {
    const figures = unwritten?.(keyId);
    this.seen.push(figures === undefined ? undefined : { spend: figures.spend, held: figures.held });
    return { admitted: true };
  }

  async releaseReservation(): Promise<number> {
    return 0;
  }

  async releaseStale(): Promise<number> {
    return 0;
  }
}

test('a call leaves the unwritten figures when its transaction is about to commit; a failed commit puts it back; a dropped record leaves them', async () => {
  const fake = new RecordingStore();
  const ledger = new BudgetLedger(fake, () => undefined, logger);
  const check = async () => {
    await ledger.hold('k', `check-${fake.seen.length}`, 0);
    return fake.seen.at(-1);
  };
  ledger.settle('k', 'a', 'store', 0.22, 0.02);
  ledger.settle('k', 'b', 'local', 0.1, 0.05);
  ledger.settle('k', 'c', 'store', 0, 0);
  ledger.settle('other', 'd', 'store', 0.3, 0.01);
  const close = (value: UnwrittenSpend | undefined, spend: number, held: number) =>
    assert.ok(value !== undefined && Math.abs(value.spend - spend) < 1e-12 && Math.abs(value.held - held) < 1e-12, JSON.stringify(value));
  close(await check(), 0.07, 0.22);

  const a = usage('a', 'k', 0.02, true);
  const b = usage('b', 'k', 0.05, false);
  ledger.landing([a, b, usage('unknown', 'k', 1, false)]);
  assert.equal(await check(), undefined, 'nothing left for the key while its rows commit');
  ledger.landed([a, b], false);
  close(await check(), 0.07, 0.22);
  ledger.landing([a]);
  ledger.landed([a], true);
  ledger.landed([a], false);
  close(await check(), 0.05, 0);
  ledger.lost([b]);
  assert.equal(await check(), undefined);
  ledger.close();
});

/** A database that answers every hold, admitted, after `delayMs` (a slow one), and records the holds given back. */
class SlowStore implements BudgetStore {
  readonly asked: string[] = [];
  readonly released: string[] = [];
  constructor(private readonly delayMs: number) {}

  async reserveBudget(_keyId: string, id: string): Promise<BudgetOutcome> {
    this.asked.push(id);
    await sleep(this.delayMs);
    return { admitted: true, figures: { spend: 0, reserved: 0.01, resetAt: null } };
  }

  async releaseReservation(id: string): Promise<number> {
    this.released.push(id);
    return 1;
  }

  async releaseStale(): Promise<number> {
    return 0;
  }
}

test('a database slower than the hold timeout does not hold up requests: they are held locally, one hold at a time is left running, and a late hold is given back', async () => {
  const slow = new SlowStore(HOLD_TIMEOUT_MS + 600);
  const key = { ...(await newKey(10)), spend: 0, reserved: 0 };
  const ledger = new BudgetLedger(slow, () => key, logger);
  try {
    const started = Date.now();
    assert.equal(await ledger.hold(key.id, 'first', 0.01), 'local');
    const waited = Date.now() - started;
    assert.ok(waited >= HOLD_TIMEOUT_MS - 50 && waited < HOLD_TIMEOUT_MS + 400, `the first waited ${waited} ms`);
    // The late hold still runs: the next requests do not queue behind the database at all.
    const next = Date.now();
    for (let index = 0; index < 20; index++) assert.equal(await ledger.hold(key.id, `next-${index}`, 0.01), 'local');
    assert.ok(Date.now() - next < 200, `20 more took ${Date.now() - next} ms`);
    assert.deepEqual(slow.asked, ['first'], 'no second hold was sent while the first was still running');
    await sleep(800);
    assert.deepEqual(slow.released, ['first'], 'the hold the database made after the request went on was given back');
  } finally {
    ledger.close();
  }
});

/**
 * A $0.50 key with a $0.40 hold the database made, whose request then ended without a usage record
 * (the client left); `during` runs with every store call failing, after the hold was given back.
 */
async function releasedDuringOutage(during: (one: ReturnType<typeof instance>, keyId: string) => Promise<void>) {
  const key = await newKey(0.5);
  const cached = await store.keys.findById(key.id);
  const one = instance(() => cached);
  const id = `${key.id}-call-${++callCount}`;
  assert.equal(await one.ledger.hold(key.id, id, 0.4), 'store');
  const down = outage();
  const releaseReservation = store.keys.releaseReservation;
  Object.assign(store.keys, { releaseReservation: async (): Promise<never> => { throw new Error('connect ECONNREFUSED 127.0.0.1:5432'); } });
  try {
    await one.ledger.release(id, key.id, 0.4);
    await during(one, key.id);
  } finally {
    Object.assign(store.keys, { releaseReservation });
    down.restoreUsage();
    down.restoreKeys();
  }
  return { one, keyId: key.id };
}

test('a database hold given back unspent during an outage leaves the local figures at once', async () => {
  const { one } = await releasedDuringOutage(async (instance, keyId) => {
    // Nothing is spent or held: a $0.30 hold fits the $0.50 budget (it was refused while the $0.40 still counted).
    assert.equal(await instance.call(keyId, 0.3, 0.1), 'local');
  });
  await one.writer.flush();
  await one.close();
});

test('a database hold given back while the database is away is given back there too once it answers again, not at the 30-minute sweep', async () => {
  const { one, keyId } = await releasedDuringOutage(async (instance, id) => {
    // A budget check while it is away marks the database down.
    assert.equal(await instance.call(id, 0.1, 0.05), 'local');
  });
  // Still held in the database: the release failed.
  assert.equal((await store.keys.findById(keyId))?.reserved, 0.4);
  // The first check the database answers (one a second while it is known away) finds it back: the
  // stuck $0.40 is given back then, leaving only that check's own $0.04 (its row is not written yet).
  await sleep(1_100);
  assert.equal(await one.call(keyId, 0.04, 0.01), 'store');
  let reserved: number | undefined;
  for (let attempt = 0; attempt < 50; attempt++) {
    reserved = (await store.keys.findById(keyId))?.reserved;
    if (reserved !== undefined && reserved < 0.4) break;
    await sleep(20);
  }
  assert.ok(reserved !== undefined && Math.abs(reserved - 0.04) < 1e-9, `reserved ${reserved}`);
  await one.writer.flush();
  await one.close();
});

test("the first budget check the database answers after an outage does not count the holds given back during it", async () => {
  const { one, keyId } = await releasedDuringOutage(async (instance, id) => {
    assert.equal(await instance.call(id, 0.1, 0.05), 'local');
  });
  await sleep(1_100);
  // $0.50 budget, $0.05 spent (not written yet): $0.20 fits once the stuck $0.40 is given back. The
  // database's first answer still counted it (0.40 + 0.05 + 0.20 > 0.50) and refused the key.
  assert.equal(await one.call(keyId, 0.2, 0.01), 'store');
  assert.ok(Math.abs(((await store.keys.findById(keyId))?.reserved ?? NaN) - 0.2) < 1e-9);
  await one.writer.flush();
  await one.close();
});

test('a request dearer than the whole budget of a periodic key is 403, not a 429 no reset can mend', () => {
  const now = Date.UTC(2026, 10, 29, 12);
  const resetAt = Date.UTC(2026, 11, 1);
  // Nothing spent: it fits no period, so Retry-After (two days here) would send the client back for another refusal.
  const never = budgetRefusal({ admitted: false, reason: 'insufficient', spend: 0, maxBudget: 0.1, resetAt }, 0.16, now);
  assert.equal(never.status, 403);
  assert.equal(never.code, 'budget_exceeded');
  assert.equal(never.retryAfterMs, undefined);
  assert.match(never.message, /more than this key's whole budget of \$0\.10/);
  // A period already used up says when it resets, as before.
  assert.equal(budgetRefusal({ admitted: false, reason: 'exhausted', spend: 0.1, maxBudget: 0.1, resetAt }, 0.16, now).status, 429);
  // One that fits a fresh period still waits for it.
  const later = budgetRefusal({ admitted: false, reason: 'insufficient', spend: 0.05, maxBudget: 0.1, resetAt }, 0.08, now);
  assert.equal(later.status, 429);
  assert.equal(later.retryAfterMs, resetAt - now);
});

test('a periodic budget of 0 refuses with 403 and no Retry-After: no reset ever makes room', () => {
  const now = Date.UTC(2026, 10, 29, 12);
  const resetAt = Date.UTC(2026, 11, 1);
  for (const amount of [0, 0.01]) {
    const refusal = budgetRefusal({ admitted: false, reason: 'exhausted', spend: 0, maxBudget: 0, resetAt }, amount, now);
    assert.equal(refusal.status, 403);
    assert.equal(refusal.code, 'budget_exceeded');
    assert.equal(refusal.retryAfterMs, undefined);
    assert.match(refusal.message, /budget of \$0/);
  }
});

test('a budget within the 1e-9 USD tolerance is one of $0: 403 without Retry-After, not a 429 forever with "$4.9e-324"', () => {
  const now = Date.UTC(2026, 10, 29, 12);
  const resetAt = Date.UTC(2026, 11, 1);
  for (const maxBudget of [5e-324, 1e-10, 1e-9]) {
    const refusal = budgetRefusal({ admitted: false, reason: 'exhausted', spend: 0, maxBudget, resetAt }, 0.01, now);
    assert.equal(refusal.status, 403, String(maxBudget));
    assert.equal(refusal.retryAfterMs, undefined);
    assert.match(refusal.message, /budget of under \$0\.000000001 a period lets it spend nothing/);
    assert.doesNotMatch(refusal.message, /e-/);
  }
});
