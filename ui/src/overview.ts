// Overview: traffic, tokens, spend, errors and latency over a range, with provider and cache health.
import { api, query } from './api.js';
import { chart, disposeCharts } from './charts.js';
import { button, card, field, fmtInt, fmtMs, fmtPercent, fmtUsd, h, replace, select, statusBadge, table } from './dom.js';
import type { CacheHealth, ProviderHealth, Timeseries } from './types.js';

export const RANGES = [
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['90d', 'Last 90 days'],
] as const;

const HOUR = 3_600_000;
/** Start and bucket for a named range: hours up to a week, days beyond. */
export function rangeOf(name: string, now = Date.now()): { start: string; bucket: 'hour' | 'day' } {
  const hours = name === '24h' ? 24 : name === '7d' ? 168 : name === '90d' ? 2160 : 720;
  return { start: new Date(now - hours * HOUR).toISOString(), bucket: hours <= 168 ? 'hour' : 'day' };
}

const REFRESH_MS = 30_000;

export function renderOverview(root: HTMLElement): () => void {
  const range = select(RANGES, '24h');
  const status = h('p', { class: 'muted', attrs: { 'aria-live': 'polite' } });
  const cards = h('div', { class: 'cards' });
  const charts = h('div', { class: 'grid' });
  const providers = h('section', { class: 'panel' });
  const cache = h('section', { class: 'panel' });
  replace(
    root,
    h('h1', {}, 'Overview'),
    h('div', { class: 'toolbar' }, field('Range', range), button('Refresh', () => void load(), 'quiet')),
    status,
    cards,
    charts,
    h('div', { class: 'grid' }, providers, cache),
  );

  let loading = false;
  async function load(): Promise<void> {
    if (loading) return;
    loading = true;
    status.textContent = 'Loading…';
    try {
      const { start, bucket } = rangeOf(range.value);
      const [series, health, cacheHealth] = await Promise.all([
        api<Timeseries>(`/admin/usage/timeseries${query({ start, bucket })}`),
        api<Record<string, ProviderHealth>>('/health/providers'),
        api<CacheHealth>('/health/cache'),
      ]);
      const totals = series.totals;
      replace(
        cards,
        card('Requests', fmtInt(totals.requests), 'requests'),
        card('Tokens', fmtInt(totals.total_tokens), 'tokens'),
        card('Spend', fmtUsd(totals.cost), 'spend'),
        card('Errors', `${fmtInt(totals.errors)} (${fmtPercent(totals.error_rate)})`, 'errors'),
        card('Avg latency', fmtMs(totals.avg_latency_ms), 'latency'),
        card('Cache hits', fmtInt(totals.cache_hits), 'cache-hits'),
      );
      const all = series.series[0];
      const timestamps = series.timestamps;
      const zeros = timestamps.map(() => 0);
      disposeCharts();
      replace(
        charts,
        chart({ id: 'requests', title: 'Requests and errors', timestamps, series: [{ label: 'Requests', values: all?.requests ?? zeros }, { label: 'Errors', values: all?.errors ?? zeros }], format: fmtInt, integer: true }),
        chart({ id: 'tokens', title: 'Tokens', timestamps, series: [{ label: 'Prompt', values: all?.prompt_tokens ?? zeros }, { label: 'Completion', values: all?.completion_tokens ?? zeros }], format: fmtInt, integer: true }),
        chart({ id: 'spend', title: 'Spend (USD)', timestamps, series: [{ label: 'Spend', values: all?.cost ?? zeros }], format: fmtUsd }),
        chart({ id: 'latency', title: 'Average latency', timestamps, series: [{ label: 'Latency', values: all?.avg_latency_ms ?? timestamps.map(() => null) }], format: fmtMs }),
      );
      const rows = Object.entries(health).filter(([, item]) => item.configured);
      const unconfigured = Object.entries(health).filter(([, item]) => !item.configured).map(([name]) => name);
      replace(
        providers,
        h('h2', {}, 'Providers'),
        table(
          'Provider health from live traffic',
          [
            { label: 'Provider', value: ([name]) => name },
            { label: 'Status', value: ([, item]) => statusBadge(item.status) },
            { label: 'Models', numeric: true, value: ([, item]) => fmtInt(item.models) },
            { label: 'Latency', numeric: true, value: ([, item]) => fmtMs(item.latency_ms) },
            { label: 'Error rate', numeric: true, value: ([, item]) => (item.error_rate === undefined ? '—' : fmtPercent(item.error_rate)) },
            { label: 'In flight', numeric: true, value: ([, item]) => fmtInt(item.in_flight) },
            { label: 'Reason', value: ([, item]) => item.reason ?? '' },
          ],
          rows,
          'No provider is configured.',
        ),
        unconfigured.length === 0 ? null : h('p', { class: 'muted' }, `Not configured: ${unconfigured.join(', ')}.`),
      );
      replace(
        cache,
        h('h2', {}, 'Response cache'),
        h(
          'dl',
          { class: 'cards' },
          ...(
            [
              ['Backend', cacheHealth.backend],
              ['Status', statusBadge(cacheHealth.status)],
              ['Entries', fmtInt(cacheHealth.entries)],
              ['Size', `${fmtInt(cacheHealth.size_bytes / 1024)} KB`],
              ['Hit rate', fmtPercent(cacheHealth.hit_rate)],
              ['Hits / misses', `${fmtInt(cacheHealth.hits)} / ${fmtInt(cacheHealth.misses)}`],
            ] as const
          ).map(([label, value]) => h('div', { class: 'card' }, h('dt', { class: 'label' }, label), h('dd', { class: 'value' }, value))),
        ),
      );
      status.textContent = `Updated ${new Date().toLocaleTimeString()} · ${series.bucket === 'hour' ? 'hourly' : 'daily'} buckets, UTC`;
    } catch (error) {
      status.textContent = `Could not load: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      loading = false;
    }
  }

  range.addEventListener('change', () => void load());
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') void load();
  }, REFRESH_MS);
  void load();
  return () => clearInterval(timer);
}
