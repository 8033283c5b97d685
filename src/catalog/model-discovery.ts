// Reads each configured provider's model list at start and then in the background, never on the
// request path. A provider that cannot be reached keeps its last list and is marked stale.
import type { Logger } from '../logging/logger.js';
import type { Redactor } from '../logging/redactor.js';
import type { DiscoveredModel, ProviderInstance } from '../providers/provider.js';
import { isSafeModelName, type ModelRouter } from '../routing/model-router.js';
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

/** Models kept per provider list: bounds the memory, the router rebuild and the index build a list can cost. */
export const MAX_DISCOVERED_MODELS = 10_000;

export interface CheckedModelList {
  models: DiscoveredModel[];
  /** Entries dropped for an unsafe id or a repeated one. */
  dropped: number;
  /** Entries left out past the limit. */
  cut: number;
}

function positiveInteger(value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value) && value > 0;
}

/** Longest display text (a name, an owner) kept from a provider's list, in UTF-16 units. */
export const MAX_DISPLAY_LENGTH = 256;

/**
 * Display text as a list reported it, made fit to store and serve: control characters dropped,
 * ends trimmed, cut at MAX_DISPLAY_LENGTH (never inside a surrogate pair); undefined when empty.
 */
function displayText(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let text = value.replace(/\p{Cc}+/gu, '').trim();
  if (text.length > MAX_DISPLAY_LENGTH) {
    text = text.slice(0, MAX_DISPLAY_LENGTH);
    if (/[\uD800-\uDBFF]$/.test(text)) text = text.slice(0, -1);
    text = text.trimEnd();
  }
  return text.length === 0 ? undefined : text;
}

/** Keeps secrets out of what is listed: the redactor's `redact`, or nothing changed. */
type Redact = (text: string) => string;
const asIs: Redact = (text) => text;

/**
 * What a provider reported, made safe to list and route: ids that are not safe model names (they
 * would list as routes that 404), ids that hold a secret (a list that echoes the key it was asked
 * with would otherwise serve it on /v1/models) and repeats are dropped, figures kept only when they
 * are positive integers, display text bounded (displayText) and redacted, and the list cut at `limit`.
 */
export function checkDiscoveredModels(reported: readonly DiscoveredModel[], limit = MAX_DISCOVERED_MODELS, redact: Redact = asIs): CheckedModelList {
  const models: DiscoveredModel[] = [];
  const seen = new Set<string>();
  let dropped = 0;
  let cut = 0;
  for (const item of reported) {
    if (!isSafeModelName(item.id) || seen.has(item.id) || redact(item.id) !== item.id) {
      dropped++;
      continue;
    }
    if (models.length >= limit) {
      cut++;
      continue;
    }
    seen.add(item.id);
    const model: DiscoveredModel = { id: item.id };
    const name = displayText(item.name);
    if (name !== undefined) model.name = redact(name);
    const ownedBy = displayText(item.ownedBy);
    if (ownedBy !== undefined) model.ownedBy = redact(ownedBy);
    if (positiveInteger(item.created)) model.created = item.created;
    if (positiveInteger(item.contextLength)) model.contextLength = item.contextLength;
    if (positiveInteger(item.maxOutputTokens)) model.maxOutputTokens = item.maxOutputTokens;
    models.push(model);
  }
  return { models, dropped, cut };
}

export class ModelDiscovery {
  private readonly status = new Map<string, DiscoveryStatus>();
  /** Whether each provider's last list was cut or had entries dropped: logged when that changes, not per refresh. */
  private readonly trimmed = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** Aborted by stop(): a list read in flight (up to 15 s) would hold a shutdown or a retired generation's close. */
  private stopped = new AbortController();
  /**
   * The read of each provider's list in flight: a tick (or a caller) that comes while one still waits
   * joins it. Two reads at once piled up connections to a slow provider and could finish out of order,
   * an older list (or an older failure, marking the list stale) applied over a newer one.
   */
  private readonly reading = new Map<string, Promise<void>>();

  constructor(
    private readonly router: ModelRouter,
    private readonly client: UpstreamClient,
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly redactor?: Redactor,
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
    this.stopped.abort();
    this.stopped = new AbortController();
  }

  statusOf(provider: string): DiscoveryStatus | undefined {
    return this.status.get(provider);
  }

  async refreshAll(): Promise<void> {
    await Promise.all(this.router.providers.map((provider) => this.refresh(provider)));
  }

  refresh(provider: ProviderInstance): Promise<void> {
    const running = this.reading.get(provider.name);
    if (running !== undefined) return running;
    const read = this.read(provider).finally(() => this.reading.delete(provider.name));
    this.reading.set(provider.name, read);
    return read;
  }

  private async read(provider: ProviderInstance): Promise<void> {
    const list = provider.codec.listModels;
    if (list === undefined) return;
    const status = this.status.get(provider.name) ?? { models: 0, lastSuccessAt: undefined, lastAttemptAt: undefined, lastError: undefined, stale: false };
    this.status.set(provider.name, status);
    status.lastAttemptAt = Date.now();
    const stopped = this.stopped.signal;
    try {
      const response = await this.client.send(provider, list.request(), AbortSignal.any([stopped, AbortSignal.timeout(15_000)]));
      if (response.status !== 200) {
        const error = await this.client.errorFrom(provider, response);
        throw new Error(`HTTP ${response.status} (${error.code ?? 'error'})`);
      }
      const body: unknown = JSON.parse((await this.client.readBody(provider.name, response.body)).toString('utf8'));
      const reported = list.parse(body);
      // A 200 whose JSON is not a list (`{"error": ...}`) is a failed read, like a body that is not JSON.
      if (reported === undefined) throw new Error('an answer that is not a model list');
      const { models, dropped, cut } = checkDiscoveredModels(reported, MAX_DISCOVERED_MODELS, this.redactor === undefined ? asIs : (text) => (this.redactor as Redactor).redact(text));
      this.noteTrimmed(provider.name, dropped, cut);
      const changed = this.router.setDiscovered(provider.name, models);
      status.models = models.length;
      status.lastSuccessAt = Date.now();
      status.lastError = undefined;
      status.stale = false;
      this.logger.debug({ provider: provider.name, models: models.length, changed }, 'model list refreshed');
    } catch (error) {
      // Stopped (shutdown, or a reload retired this generation): not a fault of the provider.
      if (stopped.aborted) return;
      const reason = error instanceof Error ? error.message : 'unknown error';
      const changed = status.lastError !== reason;
      status.lastError = reason;
      status.stale = status.lastSuccessAt !== undefined;
      // One line per change of state, not one per refresh.
      if (changed) this.logger.warn({ provider: provider.name, reason }, 'could not read the provider model list; keeping the last known list');
    }
  }

  private noteTrimmed(provider: string, dropped: number, cut: number): void {
    const state = `${dropped > 0 ? 'dropped' : ''}${cut > 0 ? 'cut' : ''}`;
    if ((this.trimmed.get(provider) ?? '') === state) return;
    this.trimmed.set(provider, state);
    if (state === '') return;
    this.logger.warn(
      { provider, dropped, cut, limit: MAX_DISCOVERED_MODELS },
      cut > 0 ? `the provider model list is longer than ${MAX_DISCOVERED_MODELS} models; the rest are left out` : 'the provider model list has unusable entries; they are left out',
    );
  }
}
