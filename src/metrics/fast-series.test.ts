import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { CounterFamily, FastGauge, HistogramFamily } from './fast-series.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.1, 1, 2.5, 10];
// On bounds, between them, below the first, past the last, zero and negative: every bucket path.
const OBSERVATIONS: Array<[string, string, number]> = [
  ['/v1/chat/completions', 'POST', 0.0123],
  ['/v1/models', 'GET', 0.005],
  ['/v1/chat/completions', 'POST', 10],
  ['/v1/chat/completions', 'POST', 200],
  ['/v1/models', 'GET', 0],
  ['/weird "route"\\\n', 'GET', -1],
  ['/v1/chat/completions', 'POST', 0.1 + 0.2],
  ['/v1/models', 'GET', 2.5000001],
];

/** The same updates through prom-client's classes and ours, each on its own registry. */
function pair(contentType: RegistryContentType = Registry.PROMETHEUS_CONTENT_TYPE): { theirs: Registry<RegistryContentType>; ours: Registry<RegistryContentType>; drive(): void } {
  const theirs = new Registry<RegistryContentType>();
  const ours = new Registry<RegistryContentType>();
  theirs.setContentType(contentType);
  ours.setContentType(contentType);
  const counter = { name: 'test_requests_total', help: 'Requests "quoted" \\ and\nnewline.', labelNames: ['route', 'method'] };
  const histogram = { name: 'test_duration_seconds', help: 'Durations.', labelNames: ['route', 'method'], buckets: BUCKETS };
  const theirCounter = new Counter({ ...counter, registers: [theirs] });
  const theirHistogram = new Histogram({ ...histogram, registers: [theirs] });
  const theirGauge = new Gauge({ name: 'test_in_flight', help: 'In flight.', registers: [theirs] });
  const theirBare = new Counter({ name: 'test_bare_total', help: 'No labels.', registers: [theirs] });
  const theirBareHistogram = new Histogram({ name: 'test_bare_seconds', help: 'No labels.', buckets: BUCKETS, registers: [theirs] });
  const ourCounter = new CounterFamily({ ...counter, registers: [ours] });
  const ourHistogram = new HistogramFamily({ ...histogram, registers: [ours] });
  const ourGauge = new FastGauge({ name: 'test_in_flight', help: 'In flight.', registers: [ours] });
  const ourBare = new CounterFamily({ name: 'test_bare_total', help: 'No labels.', registers: [ours] });
  const ourBareHistogram = new HistogramFamily({ name: 'test_bare_seconds', help: 'No labels.', buckets: BUCKETS, registers: [ours] });
  const drive = () => {
    for (const [route, method, value] of OBSERVATIONS) {
      theirCounter.labels(route, method).inc(value >= 0 ? value : 1);
      ourCounter.series(route, method).inc(value >= 0 ? value : 1);
      theirHistogram.labels(route, method).observe(value);
      ourHistogram.series(route, method).observe(value);
      theirGauge.inc();
      ourGauge.inc();
    }
    theirGauge.dec(3);
    ourGauge.dec(3);
    theirBare.inc(0.5);
    ourBare.series().inc(0.5);
    theirBareHistogram.observe(0.02);
    ourBareHistogram.series().observe(0.02);
  };
  return { theirs, ours, drive };
}

describe('fast series render as prom-client does', () => {
  test('counter, histogram and gauge: the same /metrics text, before and after updates', async () => {
    const { theirs, ours, drive } = pair();
    assert.equal(await ours.metrics(), await theirs.metrics());
    drive();
    const text = await ours.metrics();
    assert.equal(text, await theirs.metrics());
    // Not a tautology: the figures are there.
    assert.match(text, /^test_requests_total\{route="\/v1\/chat\/completions",method="POST"\} 210\.31230000000002$/m);
    assert.match(text, /^test_duration_seconds_bucket\{le="0\.005",route="\/v1\/models",method="GET"\} 2$/m);
    assert.match(text, /^test_duration_seconds_bucket\{le="\+Inf",route="\/v1\/chat\/completions",method="POST"\} 4$/m);
    assert.match(text, /^test_in_flight 5$/m);
  });

  test('the same OpenMetrics text', async () => {
    const { theirs, ours, drive } = pair(Registry.OPENMETRICS_CONTENT_TYPE);
    drive();
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  test('reset empties every labelled series; updates after it show again, in their new order', async () => {
    const { theirs, ours, drive } = pair();
    drive();
    theirs.resetMetrics();
    ours.resetMetrics();
    assert.equal(await ours.metrics(), await theirs.metrics());
    drive();
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  test('getMetricsAsJSON gives what the cluster aggregation reads, and two registries sum', async () => {
    const one = pair();
    const two = pair();
    one.drive();
    two.drive();
    two.drive();
    const theirs = AggregatorRegistry.aggregate([await one.theirs.getMetricsAsJSON(), await two.theirs.getMetricsAsJSON()]);
    const ours = AggregatorRegistry.aggregate([await one.ours.getMetricsAsJSON(), await two.ours.getMetricsAsJSON()]);
    const text = await ours.metrics();
    assert.equal(text, await theirs.metrics());
    assert.match(text, /^test_duration_seconds_count\{route="\/v1\/models",method="GET"\} 9$/m);
    assert.match(text, /^test_duration_seconds_bucket\{le="0\.01",route="\/v1\/models",method="GET"\} 6$/m);
    assert.match(text, /^test_bare_total 1\.5$/m);
    assert.match(text, /^test_in_flight 15$/m);
  });
});

describe('fast series', () => {
  test('one series per label values, kept across lookups', () => {
    const family = new CounterFamily({ name: 'a_total', help: 'a', labelNames: ['x', 'y'] });
    assert.equal(family.series('1', '2'), family.series('1', '2'));
    assert.notEqual(family.series('1', '2'), family.series('12', ''));
    assert.throws(() => family.series('1'), /Invalid number of arguments/);
  });

  test('refuses what prom-client refuses: negative or infinite increments, non-finite observations, an le label', () => {
    const counter = new CounterFamily({ name: 'b_total', help: 'b', labelNames: ['x'] }).series('1');
    assert.throws(() => counter.inc(-1), TypeError);
    assert.throws(() => counter.inc(Infinity), TypeError);
    assert.throws(() => counter.inc(Number.NaN), TypeError);
    const histogram = new HistogramFamily({ name: 'c', help: 'c', labelNames: ['x'], buckets: [1] }).series('1');
    assert.throws(() => histogram.observe(Number.NaN), TypeError);
    assert.throws(() => histogram.observe(Infinity), TypeError);
    assert.throws(() => new HistogramFamily({ name: 'd', help: 'd', labelNames: ['le'], buckets: [1] }), /reserved/);
  });
});
