// Time-series charts with uPlot (loaded as a global from /ui/vendor/uplot.js). Each chart is also
// given as a table of its non-empty buckets, under a disclosure, for screen readers and copying.
import { h, table, type Column } from './dom.js';

export interface ChartSeries {
  label: string;
  values: ReadonlyArray<number | null>;
}

export interface ChartSpec {
  /** Names the chart for tests and for the table's caption. */
  id: string;
  title: string;
  /** Unix seconds of each bucket. */
  timestamps: readonly number[];
  series: readonly ChartSeries[];
  format: (value: number) => string;
  /** Counts: ticks at whole numbers only. */
  integer?: boolean;
}

/** Distinct in both schemes and for the common colour-vision deficiencies, in this order. */
const PALETTE = ['#2563eb', '#e11d48', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#64748b', '#ea580c'];
const HEIGHT = 220;
const TABLE_ROWS = 48;
const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9];

interface Live {
  plot: uPlot | undefined;
  observer: ResizeObserver;
}
const live = new Set<Live>();

/** Destroys every chart (on leaving a view), so observers and canvases do not pile up. */
export function disposeCharts(): void {
  for (const entry of live) {
    entry.observer.disconnect();
    entry.plot?.destroy();
  }
  live.clear();
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value === '' ? fallback : value;
}

function options(spec: ChartSpec, width: number): uPlot.Options {
  const axisColor = cssVar('--muted', '#666');
  const grid = { stroke: cssVar('--grid', 'rgba(0,0,0,0.08)'), width: 1 };
  const axis = { stroke: axisColor, grid, ticks: grid };
  return {
    width,
    height: HEIGHT,
    legend: { show: true },
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true }, y: { range: (_self, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
    axes: [axis, { ...axis, size: 64, ...(spec.integer === true ? { incrs: INTEGER_STEPS } : {}), values: (_self, ticks) => ticks.map((tick) => spec.format(tick)) }],
    series: [
      { label: 'Time' },
      ...spec.series.map((series, index) => ({
        label: series.label,
        stroke: PALETTE[index % PALETTE.length] ?? '#888',
        width: 2,
        spanGaps: false,
        value: (_self: uPlot, value: number | null) => (value === null ? '—' : spec.format(value)),
        points: { show: spec.timestamps.length <= 60, size: 5 },
      })),
    ],
  };
}

function dataTable(spec: ChartSpec): HTMLElement {
  const rows: number[] = [];
  for (let index = spec.timestamps.length - 1; index >= 0 && rows.length < TABLE_ROWS; index--) {
    if (spec.series.some((series) => (series.values[index] ?? 0) !== 0)) rows.push(index);
  }
  const columns: Array<Column<number>> = [
    { label: 'Time', value: (index) => new Date((spec.timestamps[index] ?? 0) * 1000).toLocaleString() },
    ...spec.series.map((series) => ({ label: series.label, numeric: true, value: (index: number) => {
      const value = series.values[index];
      return value === null || value === undefined ? '—' : spec.format(value);
    } })),
  ];
  return h('details', {}, h('summary', {}, 'Data table'), table(`${spec.title}: buckets with data, newest first`, columns, rows, 'No data in this range.'));
}

/** A chart panel; the plot is drawn once the panel has a width, and follows it when it changes. */
export function chart(spec: ChartSpec): HTMLElement {
  const canvas = h('div', { class: 'plot', attrs: { role: 'img', 'aria-label': `${spec.title} over time` } });
  const total = spec.series.reduce((sum, series) => sum + series.values.reduce<number>((inner, value) => inner + (value ?? 0), 0), 0);
  const panel = h('figure', { class: 'panel chart', attrs: { 'data-chart': spec.id, 'data-total': total } }, h('h2', {}, spec.title), canvas, dataTable(spec));
  const data: uPlot.AlignedData = [Float64Array.from(spec.timestamps), ...spec.series.map((series) => series.values.map((value) => value))] as unknown as uPlot.AlignedData;
  const entry: Live = {
    plot: undefined,
    observer: new ResizeObserver(() => {
      const width = Math.floor(canvas.clientWidth);
      if (width <= 0) return;
      if (entry.plot === undefined) entry.plot = new uPlot(options(spec, width), data, canvas);
      else if (Math.abs(entry.plot.width - width) > 1) entry.plot.setSize({ width, height: HEIGHT });
    }),
  };
  entry.observer.observe(canvas);
  live.add(entry);
  return panel;
}
