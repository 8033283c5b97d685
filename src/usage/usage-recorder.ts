// Usage records: one per request, handed off the request path to a sink. The sink here keeps
// recent records in memory and logs them; the persistent store plugs in behind the same interface.

export type UsageStatus = 'ok' | 'error' | 'client_disconnected' | 'incomplete';

export interface UsageRecord {
  /** Unique, made by the server (the writer assigns one when absent); X-Request-Id may repeat. */
  id?: string;
  /** A budget hold in the database carries this record's id and is released when it is written. */
  budgetHeld?: boolean;
  requestId: string;
  keyId: string;
  endpoint: string;
  /** The model the client asked for. */
  model: string;
  /** The provider and upstream model that served it (undefined when nothing was called). */
  provider?: string;
  upstreamModel?: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  /** USD, from the catalog's prices; undefined when a price is unknown. */
  cost?: number;
  latencyMs: number;
  /** Time to the first streamed byte, for streams. */
  ttftMs?: number;
  status: UsageStatus;
  httpStatus: number;
  errorCode?: string;
  stream: boolean;
  cacheHit: boolean;
  /** True when the token counts are our estimate, not the provider's report. */
  estimated: boolean;
  createdAt: number;
}

export interface UsageRecorder {
  /**
   * The record is shared by every recorder and kept as it is: callers make a new one per call and do
   * not change it afterwards. The database writer sets its `id` in place when absent.
   */
  record(record: UsageRecord): void;
  /** Writes whatever is buffered; called on shutdown. */
  flush(): Promise<void>;
}

/** Keeps the last `capacity` records in a ring (for tests and the health view) and forwards each to a listener. */
export class MemoryUsageRecorder implements UsageRecorder {
  private readonly ring: UsageRecord[] = [];
  private next = 0;

  constructor(
    private readonly capacity = 10_000,
    private readonly listener?: (record: UsageRecord) => void,
  ) {}

  record(record: UsageRecord): void {
    if (this.ring.length < this.capacity) this.ring.push(record);
    else this.ring[this.next] = record;
    this.next = (this.next + 1) % this.capacity;
    this.listener?.(record);
  }

  /** Oldest first. */
  recent(): UsageRecord[] {
    return this.ring.length < this.capacity ? this.ring.slice() : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }

  async flush(): Promise<void> {}
}
