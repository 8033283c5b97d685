// Usage by key, model, provider and day: a chart per group, the grouped sums (paged by the server),
// the newest requests (keyset-paged), and a CSV export of sums by day, key and model.
import { api, query, request } from './api.js';
import { chart, disposeCharts } from './charts.js';
import { button, field, fmtInt, fmtMs, fmtTime, fmtUsd, h, input, replace, select, statusBadge, table, type Column } from './dom.js';
import type { RecordPage, Timeseries, UsageGroup, UsageRecord, UsageSummary, VirtualKey } from './types.js';

const DAY = 86_400_000;
const PAGE = 25;
const GROUPS = [
  ['model', 'Model'],
  ['key', 'Key'],
  ['provider', 'Provider'],
  ['day', 'Day'],
  ['day,key,model', 'Day, key and model'],
] as const;
const SORTS = [
  ['requests', 'Most requests'],
  ['cost', 'Highest spend'],
  ['tokens', 'Most tokens'],
  ['errors', 'Most errors'],
  ['name', 'Name'],
] as const;

function isoDay(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

export function renderUsage(root: HTMLElement): () => void {
  const now = Date.now();
  const from = input({ type: 'date', value: isoDay(now - 6 * DAY) });
  const to = input({ type: 'date', value: isoDay(now) });
  const groupBy = select(GROUPS, 'model');
  const sort = select(SORTS, 'requests');
  const keyFilter = select([['', 'All keys']]);
  const modelFilter = input({ type: 'search', placeholder: 'any model', autocomplete: 'off' });
  const status = h('p', { class: 'muted', attrs: { 'aria-live': 'polite' } });
  const exportStatus = h('span', { class: 'muted', attrs: { 'aria-live': 'polite' } });
  const charts = h('div', { class: 'grid' });
  const groups = h('div');
  const groupPager = h('div', { class: 'pager' });
  const records = h('div');
  const recordPager = h('div', { class: 'pager' });
  const keyNames = new Map<string, string>();

  const form = h(
    'form',
    { class: 'inline', on: { submit: (event) => (event.preventDefault(), void loadAll()) } },
    field('From (UTC day)', from),
    field('To (UTC day)', to),
    field('Group by', groupBy),
    field('Sort', sort),
    field('Key', keyFilter),
    field('Model', modelFilter),
    h('div', { class: 'actions' }, h('button', { attrs: { type: 'submit' } }, 'Apply'), button('Export CSV', () => void exportCsv(), 'quiet')),
    exportStatus,
  );
  replace(
    root,
    h('h1', {}, 'Usage'),
    h('section', { class: 'panel' }, form, status),
    charts,
    h('section', { class: 'panel' }, h('h2', {}, 'Totals by group'), groups, groupPager),
    h('section', { class: 'panel' }, h('h2', {}, 'Requests, newest first'), records, recordPager),
  );

  /** The filters as the form holds them now, applied or not. */
  const readForm = () => ({ start: from.value, end: to.value, key_id: keyFilter.value, model: modelFilter.value.trim(), group_by: groupBy.value, sort: sort.value });
  /** The filters of the results shown: the pagers page through these, not through what was typed since. */
  let applied = readForm();
  const range = ({ start, end, key_id, model }: ReturnType<typeof readForm>) => ({ start, end, key_id, model });
  const keyLabel = (id: string | undefined) => (id === undefined ? '' : (keyNames.get(id) ?? id));

  /**
   * Each section's request in flight. A newer one aborts it, so only the latest answer renders: an
   * Apply (or a pager click) while a page was loading could show the older answer over the newer.
   */
  type Section = 'charts' | 'groups' | 'records';
  const inFlight = new Map<Section, AbortController>();
  /** The answer to `path` for `section`, or undefined once a newer request of that section (or leaving the page) superseded it. */
  async function latest<T>(section: Section, path: string): Promise<T | undefined> {
    inFlight.get(section)?.abort();
    const controller = new AbortController();
    inFlight.set(section, controller);
    try {
      const answer = await api<T>(path, { signal: controller.signal });
      return controller.signal.aborted ? undefined : answer;
    } catch (error) {
      if (controller.signal.aborted) return undefined;
      throw error;
    }
  }

  /** The status line's words when nothing failed: the totals of the results shown. */
  let totals = '';
  /** The status line's words for the last page that failed to load, until a page loads. */
  let pageFailure: string | undefined;
  /**
   * A pager's click: a page that fails to load leaves the results and the pager as they were (they
   * are replaced only by an answer) and says why in the status line, as Apply does.
   */
  const turnPage = (load: () => Promise<void>) => () =>
    void load().then(
      () => {
        if (status.textContent === pageFailure) status.textContent = totals;
      },
      (error: unknown) => {
        pageFailure = `Could not load the page: ${error instanceof Error ? error.message : String(error)}`;
        status.textContent = pageFailure;
      },
    );

  async function loadCharts(): Promise<void> {
    const dimension = applied.group_by.split(',')[0];
    const seriesGroup = dimension === 'key' || dimension === 'model' || dimension === 'provider' ? dimension : 'none';
    const days = (Date.parse(applied.end) - Date.parse(applied.start)) / DAY + 1;
    const series = await latest<Timeseries>('charts', `/admin/usage/timeseries${query({ ...range(applied), bucket: days <= 3 ? 'hour' : 'day', group_by: seriesGroup })}`);
    if (series === undefined) return;
    const label = (group: string | null) => (group === null ? 'other' : seriesGroup === 'key' ? keyLabel(group) : group === '' ? '(none)' : group);
    disposeCharts();
    replace(
      charts,
      chart({ id: 'usage-requests', title: 'Requests', timestamps: series.timestamps, series: series.series.map((item) => ({ label: label(item.group), values: item.requests })), format: fmtInt, integer: true }),
      chart({ id: 'usage-spend', title: 'Spend (USD)', timestamps: series.timestamps, series: series.series.map((item) => ({ label: label(item.group), values: item.cost })), format: fmtUsd }),
    );
  }

  async function loadGroups(offset: number): Promise<void> {
    const summary = await latest<UsageSummary>('groups', `/admin/usage/summary${query({ ...range(applied), group_by: applied.group_by, sort: applied.sort, limit: PAGE, offset })}`);
    if (summary === undefined) return;
    const dims = summary.group_by;
    const columns: Array<Column<UsageGroup>> = [];
    if (dims.includes('day')) columns.push({ label: 'Day', value: (row) => row.date ?? '' });
    if (dims.includes('key')) columns.push({ label: 'Key', value: (row) => keyLabel(row.key_id) });
    if (dims.includes('model')) columns.push({ label: 'Model', value: (row) => h('span', { class: 'mono' }, row.model ?? '') });
    if (dims.includes('provider')) columns.push({ label: 'Provider', value: (row) => row.provider || '(none)' });
    columns.push(
      { label: 'Requests', numeric: true, value: (row) => fmtInt(row.requests) },
      { label: 'Prompt tokens', numeric: true, value: (row) => fmtInt(row.prompt_tokens) },
      { label: 'Completion tokens', numeric: true, value: (row) => fmtInt(row.completion_tokens) },
      { label: 'Spend', numeric: true, value: (row) => fmtUsd(row.cost) },
      { label: 'Errors', numeric: true, value: (row) => fmtInt(row.errors) },
      { label: 'Avg latency', numeric: true, value: (row) => fmtMs(row.avg_latency_ms) },
    );
    replace(groups, table(`Usage by ${dims.join(', ')} (${fmtInt(summary.count)} groups)`, columns, summary.groups, 'No usage in this range.'));
    const last = summary.offset + summary.groups.length;
    const previous = button('Previous', turnPage(() => loadGroups(Math.max(0, offset - PAGE))), 'quiet');
    const next = button('Next', turnPage(() => loadGroups(offset + PAGE)), 'quiet');
    previous.disabled = offset === 0;
    next.disabled = last >= summary.count;
    replace(groupPager, previous, next, h('span', { class: 'muted' }, summary.count === 0 ? '' : `${fmtInt(offset + 1)}–${fmtInt(last)} of ${fmtInt(summary.count)}`));
    totals = `${fmtInt(summary.totals.requests)} requests · ${fmtInt(summary.totals.total_tokens)} tokens · ${fmtUsd(summary.totals.cost)} · ${fmtInt(summary.totals.errors)} errors`;
    status.textContent = totals;
  }

  /** `cursors[i]` opens page i; page 0 has none. */
  const cursors: Array<string | undefined> = [undefined];
  async function loadRecords(page: number): Promise<void> {
    const answer = await latest<RecordPage>('records', `/admin/usage/records${query({ ...range(applied), limit: PAGE, before: cursors[page] })}`);
    if (answer === undefined) return;
    if (answer.next_cursor !== null) cursors[page + 1] = answer.next_cursor;
    replace(
      records,
      table<UsageRecord>(
        'Usage records',
        [
          { label: 'Time', value: (row) => fmtTime(row.created_at) },
          { label: 'Key', value: (row) => keyLabel(row.key_id) },
          { label: 'Model', value: (row) => h('span', { class: 'mono' }, row.model) },
          { label: 'Provider', value: (row) => row.provider ?? '—' },
          { label: 'Status', value: (row) => h('span', {}, statusBadge(row.status), ` ${row.http_status}`, row.error_code === null ? '' : ` ${row.error_code}`) },
          { label: 'Tokens in/out', numeric: true, value: (row) => `${fmtInt(row.prompt_tokens)} / ${fmtInt(row.completion_tokens)}` },
          { label: 'Cost', numeric: true, value: (row) => fmtUsd(row.cost) },
          { label: 'Latency', numeric: true, value: (row) => fmtMs(row.latency_ms) },
          { label: 'Mode', value: (row) => [row.stream ? 'stream' : 'json', row.cache_hit ? 'cache hit' : ''].filter((part) => part !== '').join(', ') },
        ],
        answer.data,
        'No request in this range.',
      ),
    );
    const newer = button('Newer', turnPage(() => loadRecords(page - 1)), 'quiet');
    const older = button('Older', turnPage(() => loadRecords(page + 1)), 'quiet');
    newer.disabled = page === 0;
    older.disabled = !answer.has_more;
    replace(recordPager, newer, older, h('span', { class: 'muted' }, `Page ${page + 1}`));
  }

  async function loadAll(): Promise<void> {
    status.textContent = 'Loading…';
    applied = readForm();
    cursors.length = 1;
    try {
      await Promise.all([loadCharts(), loadGroups(0), loadRecords(0)]);
    } catch (error) {
      status.textContent = `Could not load usage: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  /**
   * The CSV of the filters applied (those of the results shown, as the pagers use), comes through
   * fetch (it needs the CSRF header), then is saved from a blob.
   */
  async function exportCsv(): Promise<void> {
    exportStatus.textContent = 'Preparing…';
    const filters = range(applied);
    try {
      const response = await request(`/admin/usage/summary${query({ ...filters, group_by: 'day,key,model', sort: 'name', format: 'csv' })}`);
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h('a', { attrs: { href: url, download: `llm-proxy-usage-${filters.start}-${filters.end}.csv` } });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      exportStatus.textContent = `Exported ${fmtInt(Math.max(0, (await blob.text()).split('\r\n').length - 2))} rows.`;
    } catch (error) {
      exportStatus.textContent = `Export failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  for (const control of [groupBy, sort, keyFilter]) control.addEventListener('change', () => void loadAll());
  void api<{ keys: VirtualKey[] }>('/admin/keys')
    .then(({ keys }) => {
      for (const key of keys) {
        keyNames.set(key.id, key.name ?? key.id);
        keyFilter.appendChild(new Option(key.name === null ? key.id : `${key.name} (${key.id})`, key.id));
      }
      keyNames.set('master', 'master key');
    })
    .catch(() => undefined)
    .finally(() => void loadAll());
  return () => {
    for (const controller of inFlight.values()) controller.abort();
    disposeCharts();
  };
}
