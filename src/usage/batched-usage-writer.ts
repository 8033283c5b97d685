// Usage records to the database, off the request path: buffered, written in batches (every second
// or every 500 records), and kept in a bounded spool while the database is away. Every record gets
// its unique id when it is recorded, so a batch written twice inserts nothing twice. On close the
// spool is flushed, or saved to a file (usageSpoolFile) and replayed on the next start; a
// replayed file is deleted only once its records are written.
import { randomFillSync } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from '../logging/logger.js';
import { makeDirectory } from '../store/make-directory.js';
import { isTransientStoreError } from '../store/transient-errors.js';
import type { IdentifiedUsageRecord } from '../store/usage-store.js';
import type { UsageRecord, UsageRecorder } from './usage-recorder.js';

/** `<spool>.<pid>[-<n>].loading`: a spool being replayed by process <pid> (its n-th claim). */
const LOADING_SUFFIX = /\.\d+(-\d+)?\.loading$/;
/** Claims made by this process, for claim names of their own. */
let claimCount = 0;

function processAlive(pid: number): boolean {
  // Our own pid on a leftover is an earlier run's (a container's node is pid 1 on every start).
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The spool file of a process: in storage.spool_dir, or beside the SQLite file (the default data
 * directory, also with PostgreSQL). Worker slot 0 keeps the single-process name, so a spool left by
 * an earlier run is replayed whatever the number of workers.
 */
export function usageSpoolFile(storage: { db_path: string; spool_dir?: string }, slot = 0): string {
  const dir = storage.spool_dir === undefined ? dirname(resolve(storage.db_path)) : resolve(storage.spool_dir);
  return join(dir, slot === 0 ? 'usage-spool.jsonl' : `usage-spool-${slot}.jsonl`);
}

/**
 * The spool files beside `file` that are ours to replay: `<stem>.jsonl` and `<stem>-<slot>.jsonl`
 * of every worker slot, and those files claimed (`….<pid>-<n>.loading`) by a process that is gone (claims stay until their records are written).
 */
export function spoolsToReplay(file: string): string[] {
  const dir = dirname(file);
  const stem = basename(file).replace(/(-\d+)?\.jsonl$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const spool = new RegExp(`^${stem}(-\\d+)?\\.jsonl$`);
  const loading = new RegExp(`^${stem}(-\\d+)?\\.jsonl\\.(\\d+)(-\\d+)?\\.loading$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const name of names.sort()) {
    const half = loading.exec(name);
    if (spool.test(name) || (half !== null && !processAlive(Number(half[2])))) found.push(join(dir, name));
  }
  return found;
}

/** Random bytes one id takes (74 bits are used). */
const ID_RANDOM_BYTES = 11;
/** Random bytes for ids, drawn from the CSPRNG in bulk: one call per 512 ids instead of one per id. */
const RANDOM_POOL = Buffer.alloc(ID_RANDOM_BYTES * 512);
let randomAt = RANDOM_POOL.length;
/** ASCII codes of the hex digits. */
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** The id is written into this template (dashes and the version digit stay) and read out as one string. */
const ID_SCRATCH = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');

function writeHex(value: number, at: number, digits: number): void {
  for (let index = at + digits - 1; index >= at; index--) {
    ID_SCRATCH[index] = HEX[value & 15] as number;
    value >>>= 4;
  }
}

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, the version 7, 12 random bits, the variant
 * (10), then 62 random bits. Records inserted in time order land at the end of the primary-key
 * index instead of at random pages, which more than halved SQLite's cost per usage row under load.
 * Written digit by digit into one buffer: the string slicing this replaced cost ~1 KB per id.
 */
export function timeOrderedId(now: number = Date.now()): string {
  const ms = Number.isFinite(now) && now >= 0 ? Math.floor(now) : Date.now();
  // The low 48 bits, as 16 + 32 (bitwise operators work on 32 bits).
  writeHex(Math.floor(ms / 0x1_0000_0000) & 0xffff, 0, 4);
  writeHex(ms >>> 16, 4, 4);
  writeHex(ms & 0xffff, 9, 4);
  if (randomAt + ID_RANDOM_BYTES > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  const at = randomAt;
  randomAt += ID_RANDOM_BYTES;
  const random = RANDOM_POOL;
  // rand_a: 12 bits after the version digit (index 14 holds the 7).
  writeHex(random.readUInt16BE(at) & 0x0fff, 15, 3);
  // The variant digit: 10 then two random bits (8, 9, a or b); then 12 random bits.
  ID_SCRATCH[19] = HEX[8 | ((random[at + 2] as number) & 3)] as number;
  writeHex(random.readUInt16BE(at + 3) & 0x0fff, 20, 3);
  // The last 48 bits.
  writeHex(random.readUInt16BE(at + 5), 24, 4);
  writeHex(random.readUInt32BE(at + 7), 28, 8);
  return ID_SCRATCH.toString('latin1', 0, 36);
}

export interface UsageSink {
  /** `beforeCommit` runs inside the batch's transaction, after its statements. */
  insertBatch(records: readonly IdentifiedUsageRecord[], beforeCommit?: (records: readonly IdentifiedUsageRecord[]) => void): Promise<number>;
  /** Succeeds when the database answers, whatever a batch said. */
  ping(): Promise<void>;
}

/**
 * Told where records stand on their way to the database: the budget ledger counts the spend of a
 * record itself until its row lands, and not a moment longer (budget-ledger.ts).
 */
export interface UsageWriteObserver {
  /** Inside the transaction that writes `records`, just before it commits. */
  landing(records: readonly IdentifiedUsageRecord[]): void;
  /** That transaction ended: committed, or not (the records wait to be written again). */
  landed(records: readonly IdentifiedUsageRecord[], committed: boolean): void;
  /** Records that will never be written: the spool was full, or the database rejected them. */
  lost(records: readonly IdentifiedUsageRecord[]): void;
  /**
   * Records of calls this observer did not see that now wait in the writer: the spool files of the
   * last run. Their spend counts until they land, like its own.
   */
  adopted(records: readonly IdentifiedUsageRecord[]): void;
}

export interface BatchedUsageWriterOptions {
  flushIntervalMs?: number;
  batchSize?: number;
  /** Most records held while the database is away; beyond it the oldest are dropped and counted. */
  maxSpool?: number;
  /** Where the spool goes when the process stops with the database still away. */
  spoolFile?: string;
  observer?: UsageWriteObserver;
}

export interface UsageWriterStats {
  pending: number;
  written: number;
  dropped: number;
  rejected: number;
  databaseDown: boolean;
}

export class BatchedUsageWriter implements UsageRecorder {
  private queue: IdentifiedUsageRecord[] = [];
  /** The batch being written: out of the queue until its write ends (a forced exit spools it too). */
  private writing: IdentifiedUsageRecord[] | undefined;
  private draining: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly batchSize: number;
  private readonly maxSpool: number;
  private readonly spoolFile: string | undefined;
  private readonly observer: UsageWriteObserver | undefined;
  private readonly landing: ((records: readonly IdentifiedUsageRecord[]) => void) | undefined;
  private down = false;
  private retryAt = 0;
  private backoffMs = 0;
  private closed = false;
  private written = 0;
  private dropped = 0;
  private rejected = 0;
  /**
   * Spool files of the last run, claimed and read: each stays on disk until every record it held is
   * written (or given up), so a crash while the database is still away loses none of them.
   */
  private claims: { file: string; remaining: Set<IdentifiedUsageRecord> }[] = [];

  constructor(
    private readonly sink: UsageSink,
    private readonly logger: Logger,
    options: BatchedUsageWriterOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.maxSpool = options.maxSpool ?? 100_000;
    this.spoolFile = options.spoolFile;
    const observer = options.observer;
    this.observer = observer;
    this.landing = observer === undefined ? undefined : (records) => observer.landing(records);
    this.loadSpool();
    this.timer = setInterval(() => void this.flushIfDue(), options.flushIntervalMs ?? 1_000);
    this.timer.unref();
  }

  /**
   * Takes the record as it is (no copy: the caller made it for this call and does not reuse it) and
   * fixes its id here, once, in place, so every later attempt to write it is the same insert.
   */
  record(record: UsageRecord): void {
    record.id ??= timeOrderedId(record.createdAt);
    this.queue.push(record as IdentifiedUsageRecord);
    this.enforceBound();
    // Closed and no write under way (a call cut at shutdown records after the writer closed): no
    // drain will ever take it, and the store is closing, so it goes to the spool file for the next start.
    if (this.closed && this.draining === undefined) {
      this.saveSpool();
      return;
    }
    if (this.queue.length >= this.batchSize && !this.down) void this.flushIfDue();
  }

  stats(): UsageWriterStats {
    return { pending: this.queue.length, written: this.written, dropped: this.dropped, rejected: this.rejected, databaseDown: this.down };
  }

  /** Writes everything buffered; resolves (never rejects) when done or when the database is away. */
  async flush(): Promise<void> {
    this.retryAt = 0;
    await this.drain();
  }

  /**
   * The database answers again (someone else's call just succeeded): retry the spool now instead
   * of at the end of the backoff, which may be 10 s away; spend made meanwhile counts until then.
   */
  retryNow(): void {
    if (!this.down || this.closed) return;
    this.retryAt = 0;
    void this.drain();
  }

  /**
   * The process is about to end without a drain (an operator's second stop signal): what is
   * buffered goes to the spool file at once, synchronously, for the next start to write.
   */
  spoolNow(): void {
    // The write under way may be what hangs: its batch goes too (ids make a replay insert nothing twice).
    if (this.writing !== undefined) this.queue.unshift(...this.writing);
    this.writing = undefined;
    if (this.queue.length > 0) this.saveSpool();
  }

  /** Final flush; what cannot be written is saved to the spool file for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
    if (this.queue.length > 0) this.saveSpool();
  }

  private async flushIfDue(): Promise<void> {
    if (Date.now() < this.retryAt) return;
    await this.drain();
  }

  private drain(): Promise<void> {
    if (this.draining === undefined) {
      this.draining = this.drainLoop().finally(() => {
        this.draining = undefined;
      });
    }
    return this.draining;
  }

  private async drainLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      this.writing = batch;
      try {
        await this.sink.insertBatch(batch, this.landing);
        this.observer?.landed(batch, true);
        this.written += batch.length;
        this.settle(batch);
        this.recovered();
      } catch (error) {
        this.observer?.landed(batch, false);
        if (!isTransientStoreError(error) && (await this.databaseAnswers())) {
          // The database is up, so something in this batch is unwritable: find it, keep the rest.
          const rest = await this.writeOneByOne(batch);
          if (rest.length === 0) {
            this.recovered();
            continue;
          }
          this.queue.unshift(...rest);
          this.enforceBound();
          this.wentDown(error);
          return;
        }
        this.queue.unshift(...batch);
        this.enforceBound();
        this.wentDown(error);
        return;
      } finally {
        this.writing = undefined;
      }
    }
  }

  private async databaseAnswers(): Promise<boolean> {
    try {
      await this.sink.ping();
      return true;
    } catch {
      return false;
    }
  }

  /** Writes a batch record by record, dropping only what the database rejects; returns what is left when it goes away. */
  private async writeOneByOne(batch: IdentifiedUsageRecord[]): Promise<IdentifiedUsageRecord[]> {
    for (let index = 0; index < batch.length; index++) {
      const record = batch[index] as IdentifiedUsageRecord;
      const single = [record];
      try {
        await this.sink.insertBatch(single, this.landing);
        this.observer?.landed(single, true);
        this.written++;
        this.settle(single);
      } catch (error) {
        this.observer?.landed(single, false);
        if (isTransientStoreError(error) || !(await this.databaseAnswers())) return batch.slice(index);
        this.rejected++;
        this.observer?.lost(single);
        this.settle(single);
        this.logger.error(
          { component: 'usage', usageId: record.id, reqId: record.requestId, err: error instanceof Error ? error.message : String(error) },
          'usage record rejected by the database and dropped',
        );
      }
    }
    return [];
  }

  private wentDown(error: unknown): void {
    this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 1_000), 10_000);
    this.retryAt = Date.now() + this.backoffMs;
    if (this.down) return;
    this.down = true;
    this.logger.warn(
      { component: 'usage', err: error instanceof Error ? error.message : String(error), pending: this.queue.length },
      'usage store unavailable: records wait in the spool',
    );
  }

  private recovered(): void {
    this.backoffMs = 0;
    this.retryAt = 0;
    if (!this.down) return;
    this.down = false;
    this.logger.info({ component: 'usage' }, 'usage store available again: writing the spool');
  }

  private enforceBound(): void {
    const excess = this.queue.length - this.maxSpool;
    if (excess <= 0) return;
    const dropped = this.queue.splice(0, excess);
    this.observer?.lost(dropped);
    this.settle(dropped);
    if (this.dropped === 0 || this.dropped % 10_000 < excess) {
      this.logger.error({ component: 'usage', dropped: this.dropped + excess, maxSpool: this.maxSpool }, 'usage spool full: oldest records dropped');
    }
    this.dropped += excess;
  }

  /**
   * Replays every spool this process may take: its own, one left by a worker slot that no longer
   * runs (a smaller --workers), and one a crashed replay left half-claimed. Each is claimed by a
   * rename first, so two processes never load the same file; record ids keep a replay single.
   */
  private loadSpool(): void {
    const file = this.spoolFile;
    if (file === undefined) return;
    for (const source of spoolsToReplay(file)) this.loadSpoolFile(source);
  }

  /** Records that left the queue for good (written, rejected, dropped): a claimed spool with none left goes. */
  private settle(records: readonly IdentifiedUsageRecord[]): void {
    if (this.claims.length === 0) return;
    for (const claim of this.claims) for (const record of records) claim.remaining.delete(record);
    this.removeClaims((claim) => claim.remaining.size === 0);
  }

  private removeClaims(done: (claim: { remaining: Set<IdentifiedUsageRecord> }) => boolean): void {
    this.claims = this.claims.filter((claim) => {
      if (!done(claim)) return true;
      try {
        rmSync(claim.file, { force: true });
      } catch (error) {
        // Left behind, it is replayed once more: record ids make that insert nothing twice.
        this.logger.warn({ component: 'usage', file: claim.file, err: (error as Error).message }, 'replayed usage spool could not be removed');
      }
      return false;
    });
  }

  private loadSpoolFile(source: string): void {
    // A name of its own per claim: claims stay on disk until written, so two must never meet.
    const claimed = `${source.replace(LOADING_SUFFIX, '')}.${process.pid}-${++claimCount}.loading`;
    try {
      renameSync(source, claimed);
    } catch {
      return; // another process claimed it first
    }
    try {
      const lines = readFileSync(claimed, 'utf8').split('\n');
      const adopted: IdentifiedUsageRecord[] = [];
      let loaded = 0;
      for (const line of lines) {
        if (line.trim() === '') continue;
        try {
          const parsed = JSON.parse(line) as IdentifiedUsageRecord;
          if (typeof parsed.id === 'string' && typeof parsed.requestId === 'string') {
            this.queue.push(parsed);
            adopted.push(parsed);
            loaded++;
          }
        } catch {
          this.rejected++;
        }
      }
      this.claims.push({ file: claimed, remaining: new Set(adopted) });
      this.removeClaims((claim) => claim.remaining.size === 0);
      this.observer?.adopted(adopted);
      this.enforceBound();
      this.logger.info({ component: 'usage', loaded, file: basename(source) }, 'usage spool from the last run loaded; writing it now');
    } catch (error) {
      this.logger.error({ component: 'usage', err: (error as Error).message }, 'usage spool file could not be read');
    }
  }

  private saveSpool(): void {
    const file = this.spoolFile;
    if (file === undefined) {
      // Nowhere to keep them: logged once each, not again with every later record.
      this.logger.error({ component: 'usage', lost: this.queue.length }, 'usage records could not be written before exit');
      this.queue = [];
      return;
    }
    try {
      makeDirectory(dirname(file));
      // Appended: the records already there are never written again (each record a call cut at the
      // drain deadline brings after close read and rewrote the whole file: 200 of them took 20 s
      // beside a 60,000-record spool), and a process killed mid-write cannot lose them. The leading
      // newline keeps the first record off a line such a kill left half-written (blank lines are skipped).
      appendFileSync(file, `\n${this.queue.map((record) => JSON.stringify(record)).join('\n')}\n`, { mode: 0o600 });
      this.logger.warn({ component: 'usage', saved: this.queue.length, file }, 'database away at exit: usage spool saved for the next start');
      this.queue = [];
      // What the claimed spools still held is in the file just written.
      this.removeClaims(() => true);
    } catch (error) {
      this.logger.error({ component: 'usage', lost: this.queue.length, err: (error as Error).message }, 'usage spool could not be saved');
    }
  }
}

/** Sends every record to each recorder (the database writer, plus an in-memory one in tests). */
export function fanOutUsage(recorders: readonly UsageRecorder[]): UsageRecorder {
  if (recorders.length === 1 && recorders[0] !== undefined) return recorders[0];
  return {
    record(record) {
      for (const recorder of recorders) recorder.record(record);
    },
    async flush() {
      await Promise.all(recorders.map((recorder) => recorder.flush()));
    },
  };
}
