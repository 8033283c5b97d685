// Counters, histograms and a gauge for the per-request path. prom-client's bound children hash the
// label object to a string and allocate on every inc/observe; these keep one object per label
// combination, so an update is plain arithmetic. They sit in the same prom-client Registry by
// giving it what it reads (name, type, get(), getForPromString(), reset()), in the shapes
// prom-client's own Counter/Histogram/Gauge return, so /metrics and the cluster aggregation
// (getMetricsAsJSON, AggregatorRegistry.aggregate) see no difference.
import type { Metric, Registry, RegistryContentType } from 'prom-client';

type Labels = Record<string, string | number>;

/** One sample: what prom-client's Registry renders and AggregatorRegistry sums. */
export interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
  /** The series' labels, rendered after `labels` (getForPromString only: prom-client caches their text). */
  sharedLabels?: Labels;
}

export interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Sample[];
  aggregator: 'sum';
}

interface FamilyConfig {
  name: string;
  help: string;
  labelNames?: readonly string[];
  registers?: readonly Registry<RegistryContentType>[];
}

/** The Registry only reads the fields above; its typings name prom-client's own classes. */
function register(metric: object, registers: readonly Registry<RegistryContentType>[] | undefined): void {
  for (const registry of registers ?? []) registry.registerMetric(metric as Metric);
}

/** Label values by name, in labelNames order (the order prom-client renders them in). */
function labelObject(labelNames: readonly string[], values: readonly string[]): Labels {
  if (values.length !== labelNames.length) {
    throw new Error(`Invalid number of arguments (${values.length}): "${values.join(', ')}" for label names (${labelNames.length}): "${labelNames.join(', ')}".`);
  }
  const labels: Labels = {};
  for (let index = 0; index < labelNames.length; index++) labels[labelNames[index]!] = values[index]!;
  return labels;
}

/**
 * The series of one metric, by label values. A series is exported from its first update on (and
 * again after a reset), in first-update order: as prom-client does, so the output is the same.
 */
abstract class Family<S extends { labels: Labels; live: boolean }> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly aggregator = 'sum' as const;
  private readonly byValues = new Map<string, S>();
  /** Series updated since creation or the last reset, in first-update order. */
  protected exported: S[] = [];

  constructor(config: FamilyConfig) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
  }

  /** The series for these label values, made on first use; keep it: this lookup builds a key. */
  series(...labelValues: string[]): S {
    const key = JSON.stringify(labelValues);
    let series = this.byValues.get(key);
    if (series === undefined) this.byValues.set(key, (series = this.create(labelObject(this.labelNames, labelValues))));
    return series;
  }

  /** Called by a series on its first update since creation or reset. */
  attach(series: S): void {
    series.live = true;
    this.exported.push(series);
  }

  reset(): void {
    for (const series of this.exported) this.clear(series);
    this.exported = [];
  }

  /** A metric without labels shows its one series before any update (at 0), as prom-client's does. */
  protected showBare(): void {
    if (this.labelNames.length === 0 && this.exported.length === 0) this.attach(this.series());
  }

  protected abstract create(labels: Labels): S;
  protected abstract clear(series: S): void;
}

export class CounterSeries {
  value = 0;
  live = false;

  constructor(
    private readonly family: CounterFamily,
    readonly labels: Labels,
  ) {}

  inc(amount = 1): void {
    if (!(amount >= 0 && amount !== Infinity)) throw new TypeError(`Counter increment is not a finite non-negative number: ${amount}`);
    if (!this.live) this.family.attach(this);
    this.value += amount;
  }
}

export class CounterFamily extends Family<CounterSeries> {
  readonly type = 'counter' as const;

  constructor(config: FamilyConfig) {
    super(config);
    this.showBare();
    register(this, config.registers);
  }

  /** prom-client's Counter shows its bare series again after a reset (its Histogram does not). */
  override reset(): void {
    super.reset();
    this.showBare();
  }

  async get(): Promise<MetricSnapshot> {
    return { name: this.name, help: this.help, type: this.type, values: this.exported.map((series) => ({ value: series.value, labels: series.labels })), aggregator: this.aggregator };
  }

  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(this, labels);
  }

  protected clear(series: CounterSeries): void {
    series.value = 0;
    series.live = false;
  }
}

export class HistogramSeries {
  /** Observations per bucket, not cumulative (summed at export); above the last bound only `count` grows. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  live = false;

  constructor(
    private readonly family: HistogramFamily,
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    if (!this.live) this.family.attach(this);
    const bounds = this.bounds;
    for (let index = 0; index < bounds.length; index++) {
      if (value <= bounds[index]!) {
        this.counts[index]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];

  constructor(config: FamilyConfig & { buckets: readonly number[] }) {
    super(config);
    if (this.labelNames.includes('le')) throw new Error('le is a reserved label keyword');
    // A copy, not frozen: V8 reads frozen arrays' elements several times slower.
    this.buckets = [...config.buckets];
    this.showBare();
    register(this, config.registers);
  }

  /** For getMetricsAsJSON and the cluster aggregation: `le` first, then the series' labels (prom-client's order). */
  async get(): Promise<MetricSnapshot> {
    return this.snapshot(true);
  }

  /** For the text output: the series' labels shared by its lines, as prom-client's Histogram gives them. */
  async getForPromString(): Promise<MetricSnapshot> {
    return this.snapshot(false);
  }

  private snapshot(splay: boolean): MetricSnapshot {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.exported) {
      const { labels } = series;
      const sample = (value: number, metricName: string, le?: number | '+Inf'): Sample => {
        if (splay) return { value, labels: le === undefined ? { ...labels } : { le, ...labels }, metricName };
        return { value, labels: le === undefined ? {} : { le }, metricName, sharedLabels: labels };
      };
      let cumulative = 0;
      for (let index = 0; index < this.buckets.length; index++) {
        cumulative += series.counts[index]!;
        values.push(sample(cumulative, bucket, this.buckets[index]!));
      }
      values.push(sample(series.count, bucket, '+Inf'), sample(series.sum, `${this.name}_sum`), sample(series.count, `${this.name}_count`));
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(this, labels, this.buckets);
  }

  protected clear(series: HistogramSeries): void {
    series.counts.fill(0);
    series.sum = 0;
    series.count = 0;
    series.live = false;
  }
}

/** A gauge without labels (requests in flight): prom-client's Gauge hashes an empty label set per inc/dec. */
export class FastGauge {
  readonly name: string;
  readonly help: string;
  readonly type = 'gauge' as const;
  readonly aggregator = 'sum' as const;
  value = 0;

  constructor(config: Omit<FamilyConfig, 'labelNames'>) {
    this.name = config.name;
    this.help = config.help;
    register(this, config.registers);
  }

  inc(amount = 1): void {
    this.value += amount;
  }

  dec(amount = 1): void {
    this.value -= amount;
  }

  reset(): void {
    this.value = 0;
  }

  async get(): Promise<MetricSnapshot> {
    return { name: this.name, help: this.help, type: this.type, values: [{ value: this.value, labels: {} }], aggregator: this.aggregator };
  }
}
