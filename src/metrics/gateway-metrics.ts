// Prometheus metrics on a registry of our own (never prom-client's global one): HTTP requests
// from one `close` listener per request, chat figures from the usage records, and breaker,
// stream and cache state read at scrape time, so the request path only bumps counters.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { CounterFamily, type CounterSeries, FastGauge, HistogramFamily, type HistogramSeries } from './fast-series.js';
import type { UsageRecord, UsageRecorder } from '../usage/usage-recorder.js';

/** Deployments' circuit states, read at scrape time. */
export interface CircuitSource {
  circuits(): Iterable<{ deployment: string; provider: string; state: 'closed' | 'open' | 'half-open' }>;
}

export interface MetricsSources {
  circuits?: CircuitSource['circuits'];
  /** Hits and misses of the response cache (undefined when the cache is off). */
  cache?: () => Promise<{ hits: number; misses: number } | undefined>;
  /** Streams being written now. */
  activeStreams?: () => number;
  /** The usage writer's figures: records waiting to be written, and those it gave up on. */
  usageWriter?: () => { pending: number; dropped: number; rejected: number };
}

/** A label value we may publish: plain identifiers only, never free text. */
const SAFE_LABEL = /^[A-Za-z0-9._:/@+-]{1,128}$/;
/** Most distinct model labels; later ones are counted as "other", so a client cannot blow up the series count. */
const MAX_MODEL_LABELS = 200;
/** The endpoints that record usage (`condense`: the summariser calls of a condensation); anything else is labelled "other". */
const ENDPOINTS = new Set(['chat.completions', 'messages', 'completions', 'embeddings', 'condense']);
const CIRCUIT_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

type Child = CounterSeries;
type Timer = HistogramSeries;
interface UsageSeries {
  endpoint: string;
  requests: Map<string, Child>;
  latency: Timer;
  latencyStream: Timer;
  ttft: Timer;
  tokensIn: Child;
  tokensOut: Child;
  cost: Child;
}

export class GatewayMetrics implements UsageRecorder {
  readonly registry = new Registry();
  // The per-request series are our own (fast-series.ts): prom-client hashes labels on every update.
  private readonly requests: CounterFamily;
  private readonly duration: HistogramFamily;
  private readonly inFlight: FastGauge;
  private readonly rateLimited: Counter<'route'>;
  private readonly chatRequests: CounterFamily;
  private readonly chatLatency: HistogramFamily;
  private readonly ttft: HistogramFamily;
  private readonly tokens: CounterFamily;
  private readonly cost: CounterFamily;
  private readonly upstreamErrors: Counter<'code'>;
  private readonly upstreamRetries: Counter<'cause'>;
  private readonly estimatedUsage: Counter<'provider' | 'endpoint'>;
  private readonly modelLabels = new Set<string>();
  /** Series by route → method → status: no key strings built per request. */
  private readonly requestChildren = new Map<string, Map<string, Map<number, Child>>>();
  private readonly durationChildren = new Map<string, Map<string, Timer>>();
  /** By provider → endpoint → model, bounded like the model labels (at most MAX_MODEL_LABELS + 1 models per provider). */
  private readonly seriesByModel = new Map<string, Map<string, Map<string, UsageSeries>>>();
  private sources: MetricsSources = {};

  constructor(private readonly isSecret: (value: string) => boolean = () => false) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'llm_proxy_' });
    this.requests = new CounterFamily({ name: 'llm_proxy_http_requests_total', help: 'HTTP requests by route, method and status.', labelNames: ['route', 'method', 'status'], registers });
    this.duration = new HistogramFamily({
      name: 'llm_proxy_http_request_duration_seconds',
      help: 'Time from request to the end of the answer (whole stream included).',
      labelNames: ['route', 'method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.inFlight = new FastGauge({ name: 'llm_proxy_http_in_flight_requests', help: 'Requests being handled now.', registers });
    this.rateLimited = new Counter({ name: 'llm_proxy_rate_limited_total', help: 'Requests refused with 429 (key limits and upstream rate limits), by route.', labelNames: ['route'], registers });
    this.chatRequests = new CounterFamily({
      name: 'llm_proxy_chat_requests_total',
      help: 'Model calls (chat, messages, completions, embeddings, condense) by requested model (routed names only, else "other"), provider, outcome and endpoint.',
      labelNames: ['model', 'provider', 'status', 'endpoint'],
      registers,
    });
    this.chatLatency = new HistogramFamily({
      name: 'llm_proxy_chat_latency_seconds',
      help: 'Model call latency by provider, streaming or not, and endpoint.',
      labelNames: ['provider', 'stream', 'endpoint'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160],
      registers,
    });
    this.ttft = new HistogramFamily({
      name: 'llm_proxy_chat_time_to_first_token_seconds',
      help: 'Time to the first streamed chunk, by provider.',
      labelNames: ['provider'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40],
      registers,
    });
    this.tokens = new CounterFamily({ name: 'llm_proxy_tokens_total', help: 'Tokens by provider, model, direction (in|out) and endpoint.', labelNames: ['provider', 'model', 'direction', 'endpoint'], registers });
    this.cost = new CounterFamily({ name: 'llm_proxy_cost_usd_total', help: 'Cost in USD from catalog prices, by provider, model and endpoint.', labelNames: ['provider', 'model', 'endpoint'], registers });
    this.upstreamErrors = new Counter({ name: 'llm_proxy_upstream_errors_total', help: 'Chat requests that ended in an error, by error code.', labelNames: ['code'], registers });
    // Calls billed from the local estimate: a provider whose usage reports go missing or wrong (alert on its rate).
    this.estimatedUsage = new Counter({
      name: 'llm_proxy_usage_estimated_total',
      help: 'Usage records billed from the local estimate (no usable provider report: missing, invalid or out of bounds, or a stream cut short), by provider and endpoint.',
      labelNames: ['provider', 'endpoint'],
      registers,
    });
    this.upstreamRetries = new Counter({
      name: 'llm_proxy_upstream_retries_total',
      help: 'Failed attempts before a served answer (retries and fallbacks), by cause (status or error code).',
      labelNames: ['cause'],
      registers,
    });
    const sources = () => this.sources;
    new Gauge({
      name: 'llm_proxy_active_streams',
      help: 'SSE streams being written now.',
      registers,
      collect() {
        this.set(sources().activeStreams?.() ?? 0);
      },
    });
    new Gauge({
      name: 'llm_proxy_circuit_state',
      help: 'Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.',
      labelNames: ['deployment', 'provider'],
      registers,
      // Each worker has its own breakers: the cluster shows the worst state, as a sum would leave 0–2.
      aggregator: 'max',
      collect() {
        this.reset();
        for (const circuit of sources().circuits?.() ?? []) this.set({ deployment: circuit.deployment, provider: circuit.provider }, CIRCUIT_VALUE[circuit.state]);
      },
    });
    // RELIABILITY 18: the usage spool is bounded; what it holds and what it dropped are for alerting.
    new Gauge({
      name: 'llm_proxy_usage_pending_records',
      help: 'Usage records waiting to be written (the spool, while the database is away).',
      registers,
      collect() {
        this.set(sources().usageWriter?.().pending ?? 0);
      },
    });
    new Counter({
      name: 'llm_proxy_usage_dropped_total',
      help: 'Usage records never written: reason spool_full (the oldest, past the bound) or rejected (the database refused the record).',
      labelNames: ['reason'],
      registers,
      collect() {
        const stats = sources().usageWriter?.();
        this.reset();
        this.inc({ reason: 'spool_full' }, stats?.dropped ?? 0);
        this.inc({ reason: 'rejected' }, stats?.rejected ?? 0);
      },
    });
    // Both read from the cache at scrape time; one call serves the pair.
    let pendingCache: Promise<{ hits: number; misses: number } | undefined> | undefined;
    const readCache = () => {
      pendingCache ??= (sources().cache?.() ?? Promise.resolve(undefined)).catch(() => undefined).finally(() => {
        pendingCache = undefined;
      });
      return pendingCache;
    };
    for (const field of ['hits', 'misses'] as const) {
      new Counter({
        name: `llm_proxy_cache_${field}_total`,
        help: `Response cache ${field}.`,
        registers,
        async collect() {
          const stats = await readCache();
          this.reset();
          if (stats !== undefined && stats[field] > 0) this.inc(stats[field]);
        },
      });
    }
  }

  /** Where scrape-time figures come from; set once the app and services exist. */
  bind(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  requestStarted(): void {
    this.inFlight.inc();
  }

  /**
   * One finished (or abandoned: 499) request. `route` is the route-table pattern, never the URL.
   * `attempts` is the X-LLM-Proxy-Route header, when the answer has one.
   */
  requestFinished(route: string, method: string, status: number, seconds: number, attempts: unknown): void {
    this.inFlight.dec();
    let byMethod = this.requestChildren.get(route);
    if (byMethod === undefined) this.requestChildren.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
    let child = byStatus.get(status);
    if (child === undefined) byStatus.set(status, (child = this.requests.series(route, method, String(status))));
    child.inc();
    let timers = this.durationChildren.get(route);
    if (timers === undefined) this.durationChildren.set(route, (timers = new Map()));
    let timer = timers.get(method);
    if (timer === undefined) timers.set(method, (timer = this.duration.series(route, method)));
    timer.observe(seconds);
    if (status === 429) this.rateLimited.labels(route).inc();
    // "a/x=503, b/y=200": every entry before the served one failed.
    if (typeof attempts === 'string' && attempts.includes(',')) {
      for (const entry of attempts.split(', ')) {
        const cause = entry.slice(entry.lastIndexOf('=') + 1);
        if (cause !== '200' && SAFE_LABEL.test(cause)) this.upstreamRetries.labels(cause).inc();
      }
    }
  }

  /** A usage record: the fan-out in services.ts calls this for every chat request. */
  record(record: UsageRecord): void {
    const provider = record.provider ?? 'none';
    const model = this.modelLabel(record);
    const status = record.cacheHit ? 'cache_hit' : record.status;
    const series = this.usageSeries(provider, model, ENDPOINTS.has(record.endpoint) ? record.endpoint : 'other');
    let requests = series.requests.get(status);
    if (requests === undefined) series.requests.set(status, (requests = this.chatRequests.series(model, provider, status, series.endpoint)));
    requests.inc();
    (record.stream ? series.latencyStream : series.latency).observe(record.latencyMs / 1000);
    if (record.ttftMs !== undefined) series.ttft.observe(record.ttftMs / 1000);
    if (record.promptTokens > 0) series.tokensIn.inc(record.promptTokens);
    if (record.completionTokens > 0) series.tokensOut.inc(record.completionTokens);
    if (record.cost !== undefined && record.cost > 0 && Number.isFinite(record.cost)) series.cost.inc(record.cost);
    if (record.estimated) this.estimatedUsage.labels(provider, series.endpoint).inc();
    if (record.errorCode !== undefined && record.status !== 'client_disconnected') {
      this.upstreamErrors.labels(SAFE_LABEL.test(record.errorCode) ? record.errorCode : 'other').inc();
    }
  }

  async flush(): Promise<void> {}

  /** The series of one provider, endpoint and model, made once (a family's own lookup builds a key string). */
  private usageSeries(provider: string, model: string, endpoint: string): UsageSeries {
    let byEndpoint = this.seriesByModel.get(provider);
    if (byEndpoint === undefined) this.seriesByModel.set(provider, (byEndpoint = new Map()));
    let byModel = byEndpoint.get(endpoint);
    if (byModel === undefined) byEndpoint.set(endpoint, (byModel = new Map()));
    let series = byModel.get(model);
    if (series === undefined) {
      series = {
        endpoint,
        requests: new Map(),
        latency: this.chatLatency.series(provider, 'false', endpoint),
        latencyStream: this.chatLatency.series(provider, 'true', endpoint),
        ttft: this.ttft.series(provider),
        tokensIn: this.tokens.series(provider, model, 'in', endpoint),
        tokensOut: this.tokens.series(provider, model, 'out', endpoint),
        cost: this.cost.series(provider, model, endpoint),
      };
      byModel.set(model, series);
    }
    return series;
  }

  /** The requested model name when it routed and is a plain identifier; "other" past the cap. */
  private modelLabel(record: UsageRecord): string {
    const model = record.model;
    if (this.modelLabels.has(model)) return model;
    if (record.provider === undefined || this.modelLabels.size >= MAX_MODEL_LABELS || !SAFE_LABEL.test(model) || this.isSecret(model)) return 'other';
    this.modelLabels.add(model);
    return model;
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.renderer === undefined ? this.registry.metrics() : this.renderer();
  }

  private renderer: (() => Promise<string>) | undefined;

  /** A cluster worker: /metrics shows every worker's figures, aggregated by the primary. */
  renderFrom(renderer: () => Promise<string>): void {
    this.renderer = renderer;
  }
}
