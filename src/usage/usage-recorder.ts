// Usage records: one per request, handed off the request path to a sink. The sink here keeps
// recent records in memory and logs them; the persistent store plugs in behind the same interface.

export type UsageStatus = 'ok' | 'error' | 'client_disconnected' | 'incomplete';

export interface UsageRecord {
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
  record(record: UsageRecord): void;
  /** Writes whatever is buffered; called on shutdown. */
  flush(): Promise<void>;
}

/** Keeps the last `capacity` records (for tests and the health view) and forwards to a listener. */
export class MemoryUsageRecorder implements UsageRecorder {
  private readonly records: UsageRecord[] = [];

  constructor(
    private readonly capacity = 10_000,
    private readonly listener?: (record: UsageRecord) => void,
  ) {}

  record(record: UsageRecord): void {
    this.records.push(record);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
    this.listener?.(record);
  }

  recent(): readonly UsageRecord[] {
    return this.records;
  }

  async flush(): Promise<void> {}
}
