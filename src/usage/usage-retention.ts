// Usage retention (storage.usage_retention_days, LLM_PROXY_USAGE_RETENTION_DAYS): usage rows older
// than the retention are deleted in the background, oldest first, in small batches with a pause
// between them, so a SQLite writer never holds the lock for long and requests go on meanwhile.
// Budgets never read usage rows (spend and total_spend are kept on the key as rows land), so
// pruning changes no key's spend; it only shortens how far back the usage reports reach. The
// schema's least retention (7 days) outlasts a spooled batch's replay: one replayed after its rows
// were pruned would insert them, and count their spend, again. Each pass also deletes the daily sums
// of the days left without records (UsageStore.pruneBefore), so the reports read the same either way.
// With `--workers N` one worker runs it (slot 0, and its replacement): N of them deleted the same
// rows at once on SQLite, each waiting for the others' write lock.
import type { Logger } from '../logging/logger.js';

const DAY_MS = 86_400_000;

export interface UsagePruner {
  pruneBefore(cutoff: number, limit: number): Promise<number>;
}

export interface RetentionOptions {
  days: number;
  /** Rows per delete (default 500: 7 ms on average on SQLite over 1,000,000 rows, a WAL checkpoint now and then longer). */
  batch?: number;
  /** Pause between batches, ms (default 50): the event loop and other writers get their turn. */
  pauseMs?: number;
  /** Time between passes, ms (default an hour); the first pass starts after `firstDelayMs` (default a minute, after the start's own work). */
  intervalMs?: number;
  firstDelayMs?: number;
  now?: () => number;
}

export class UsageRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly batch: number;
  private readonly pauseMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: UsagePruner,
    private readonly logger: Logger,
    private readonly options: RetentionOptions,
  ) {
    this.batch = options.batch ?? 500;
    this.pauseMs = options.pauseMs ?? 50;
    this.intervalMs = options.intervalMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.logger.info({ component: 'usage', days: this.options.days }, 'usage retention: on in this process; records older than the retention are deleted every hour');
    this.schedule(this.options.firstDelayMs ?? 60_000);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().then(() => {
        this.running = undefined;
        this.schedule(this.intervalMs);
      });
    }, delayMs);
    // Never what keeps a process alive.
    this.timer.unref();
  }

  /** One pass: batches until none is full (or stop()). Returns the rows deleted; errors are logged and left to the next pass. */
  async pass(): Promise<number> {
    const cutoff = this.now() - this.options.days * DAY_MS;
    let deleted = 0;
    try {
      for (;;) {
        const count = await this.store.pruneBefore(cutoff, this.batch);
        deleted += count;
        if (count < this.batch || this.stopped) break;
        await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
      }
    } catch (error) {
      this.logger.warn({ component: 'usage', err: error instanceof Error ? error.message : String(error) }, 'usage retention: pruning failed; retried on the next pass');
    }
    if (deleted > 0) this.logger.info({ component: 'usage', deleted, before: new Date(cutoff).toISOString() }, 'usage retention: old usage records deleted');
    return deleted;
  }

  /** Stops the timer and waits for a pass under way to end its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
