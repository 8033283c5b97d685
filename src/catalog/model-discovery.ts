// Reads each configured provider's model list at start and then in the background, never on the
// request path. A provider that cannot be reached keeps its last list and is marked stale.
import type { Logger } from '../logging/logger.js';
import type { ProviderInstance } from '../providers/provider.js';
import type { ModelRouter } from '../routing/model-router.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';

export interface DiscoveryStatus {
  /** Models the last successful read reported. */
  models: number;
  lastSuccessAt: number | undefined;
  lastAttemptAt: number | undefined;
  /** A short, safe reason for the last failure. */
  lastError: string | undefined;
  stale: boolean;
}

export class ModelDiscovery {
  private readonly status = new Map<string, DiscoveryStatus>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly router: ModelRouter,
    private readonly client: UpstreamClient,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  /** Starts the first read of every list and the background refresh. Never throws. */
  start(): Promise<void> {
    if (this.intervalMs > 0 && this.timer === undefined) {
      this.timer = setInterval(() => void this.refreshAll(), this.intervalMs);
      this.timer.unref();
    }
    return this.refreshAll();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  statusOf(provider: string): DiscoveryStatus | undefined {
    return this.status.get(provider);
  }

  async refreshAll(): Promise<void> {
    await Promise.all(this.router.providers.map((provider) => this.refresh(provider)));
  }

  async refresh(provider: ProviderInstance): Promise<void> {
    const list = provider.codec.listModels;
    if (list === undefined) return;
    const status = this.status.get(provider.name) ?? { models: 0, lastSuccessAt: undefined, lastAttemptAt: undefined, lastError: undefined, stale: false };
    this.status.set(provider.name, status);
    status.lastAttemptAt = Date.now();
    try {
      const response = await this.client.send(provider, list.request(), AbortSignal.timeout(15_000));
      if (response.status !== 200) {
        const error = await this.client.errorFrom(provider, response);
        throw new Error(`HTTP ${response.status} (${error.code ?? 'error'})`);
      }
      const body: unknown = JSON.parse((await this.client.readBody(provider.name, response.body)).toString('utf8'));
      const models = list.parse(body);
      // A 200 whose JSON is not a list (`{"error": ...}`) is a failed read, like a body that is not JSON.
      if (models === undefined) throw new Error('an answer that is not a model list');
      this.router.setDiscovered(provider.name, models);
      status.models = models.length;
      status.lastSuccessAt = Date.now();
      status.lastError = undefined;
      status.stale = false;
      this.logger.debug({ provider: provider.name, models: models.length }, 'model list refreshed');
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'unknown error';
      const changed = status.lastError !== reason;
      status.lastError = reason;
      status.stale = status.lastSuccessAt !== undefined;
      // One line per change of state, not one per refresh.
      if (changed) this.logger.warn({ provider: provider.name, reason }, 'could not read the provider model list; keeping the last known list');
    }
  }
}
