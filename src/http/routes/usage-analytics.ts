// The admin dashboard's usage API (issue #10), master key only, every figure computed in SQL:
//   GET /admin/usage/summary     totals, and sums grouped by day/key/model/provider (paged, or CSV)
//   GET /admin/usage/timeseries  sums per hour or day, dense, optionally one series per key/model/provider
//   GET /admin/usage/records     the raw usage records, newest first, keyset-paged
// Ranges take `start`/`end` exactly as GET /admin/usage does.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { invalidValue, isGatewayError, serviceUnavailable } from '../../errors/gateway-error.js';
import type { Services } from '../../services.js';
import {
  GROUP_SORTS,
  USAGE_DIMENSIONS,
  type GroupSort,
  type RowCursor,
  type UsageDimension,
  type UsageFigures,
  type UsageFilter,
  type UsageRow,
} from '../../store/usage-analytics.js';
import { knownParams } from '../../json/known-fields.js';
import { parseRange, UsageRangeSchema } from './usage.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Past this many buckets a chart has more points than pixels: ask for days instead. */
export const MAX_BUCKETS = 2_000;
const MAX_PAGE = 1_000;
const MAX_SERIES = 50;
const DEFAULT_SERIES = 8;
/** A CSV export is every group at once; beyond this, narrow the range. */
const MAX_CSV_GROUPS = 200_000;
/** What a group's dimension is called on the wire. */
const FIELD: Record<UsageDimension, string> = { day: 'date', key: 'key_id', model: 'model', provider: 'provider' };

const MAX_OFFSET = 1_000_000_000;
/** A comma-separated list of dimensions, as parseDimensions reads it. */
const DIMENSION_LIST = `(?:${USAGE_DIMENSIONS.join('|')})`;

/** The range and the `key_id` and `model` filters every call here takes (parseFilter). */
const UsageFilterSchema = Type.Composite([
  UsageRangeSchema,
  Type.Object({
    key_id: Type.Optional(Type.String({ maxLength: 64, description: 'One key.' })),
    model: Type.Optional(Type.String({ maxLength: 256, description: 'One model, as asked for.' })),
  }),
]);
const pageSize = Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, description: 'Default 50.' }));

// The query strings of the three calls, as /openapi.json shows them; each handler accepts exactly these names.
export const UsageSummaryQuerySchema = Type.Composite([
  UsageFilterSchema,
  Type.Object({
    group_by: Type.Optional(
      Type.String({ pattern: `^\\s*${DIMENSION_LIST}\\s*(?:,\\s*${DIMENSION_LIST}\\s*)*$`, description: `Comma-separated: ${USAGE_DIMENSIONS.join(', ')} (default model).` }),
    ),
    sort: Type.Optional(Type.String({ enum: [...GROUP_SORTS], description: 'Default requests.' })),
    limit: pageSize,
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET })),
    format: Type.Optional(Type.String({ enum: ['json', 'csv'], description: `csv: every group (at most ${MAX_CSV_GROUPS}), not one page.` })),
  }),
]);
export const UsageTimeseriesQuerySchema = Type.Composite([
  UsageFilterSchema,
  Type.Object({
    bucket: Type.Optional(Type.String({ enum: ['hour', 'day'], description: `Default hour (at most ${MAX_BUCKETS} of them).` })),
    group_by: Type.Optional(Type.String({ enum: ['none', 'key', 'model', 'provider'], description: 'Default none.' })),
    top: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SERIES, description: `Series kept apart, the rest summed (default ${DEFAULT_SERIES}).` })),
  }),
]);
export const UsageRecordsQuerySchema = Type.Composite([
  UsageFilterSchema,
  Type.Object({ limit: pageSize, before: Type.Optional(Type.String({ description: 'The next_cursor of the page before.' })) }),
]);

type Query = Readonly<Record<string, unknown>>;

/** A parameter given at most once, as a non-empty string (empty counts as not given, as forms send). */
function single(query: Query, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) throw invalidValue(name, 'give it once');
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return value;
}

function integer(query: Query, name: string, fallback: number, min: number, max: number): number {
  const raw = single(query, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) throw invalidValue(name, `expected a whole number from ${min} to ${max}`);
  return value;
}

function oneOf<T extends string>(query: Query, name: string, allowed: readonly T[], fallback: T): T {
  const raw = single(query, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw invalidValue(name, `expected one of ${allowed.join(', ')}`);
  return raw as T;
}

/** The range plus the optional `key_id` and `model` filters. */
function parseFilter(query: Query): UsageFilter {
  const range = parseRange(query);
  const filter: UsageFilter = { ...range };
  const keyId = single(query, 'key_id');
  if (keyId !== undefined) {
    if (keyId.length > 64) throw invalidValue('key_id', 'must be a key id');
    filter.keyId = keyId;
  }
  const model = single(query, 'model');
  if (model !== undefined) {
    if (model.length > 256) throw invalidValue('model', 'must be a model name of at most 256 characters');
    filter.model = model;
  }
  return filter;
}

function rounded(value: number, places: number): number {
  const scale = 10 ** places;
  return Math.round(value * scale) / scale;
}

/** The wire form of a set of figures. */
export function describeFigures(figures: UsageFigures): Record<string, number | null> {
  return {
    requests: figures.requests,
    prompt_tokens: figures.promptTokens,
    completion_tokens: figures.completionTokens,
    total_tokens: figures.promptTokens + figures.completionTokens,
    cached_tokens: figures.cachedTokens,
    cost: rounded(figures.cost, 8),
    errors: figures.errors,
    error_rate: figures.requests === 0 ? 0 : rounded(figures.errors / figures.requests, 4),
    cache_hits: figures.cacheHits,
    avg_latency_ms: figures.requests === 0 ? null : rounded(figures.latencyMsSum / figures.requests, 1),
    max_latency_ms: figures.requests === 0 ? null : figures.latencyMsMax,
  };
}

function describeRow(row: UsageRow): Record<string, unknown> {
  return {
    id: row.id,
    request_id: row.requestId,
    key_id: row.keyId,
    endpoint: row.endpoint,
    model: row.model,
    provider: row.provider,
    upstream_model: row.upstreamModel,
    prompt_tokens: row.promptTokens,
    completion_tokens: row.completionTokens,
    cached_tokens: row.cachedTokens,
    cost: row.cost,
    latency_ms: row.latencyMs,
    ttft_ms: row.ttftMs,
    status: row.status,
    http_status: row.httpStatus,
    error_code: row.errorCode,
    stream: row.stream,
    cache_hit: row.cacheHit,
    estimated: row.estimated,
    created_at: new Date(row.createdAt).toISOString(),
  };
}

function encodeCursor(cursor: RowCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.id])).toString('base64url');
}

function decodeCursor(raw: string): RowCursor {
  try {
    const parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(parsed) && parsed.length === 2 && Number.isSafeInteger(parsed[0]) && typeof parsed[1] === 'string' && parsed[1].length <= 64) {
      return { createdAt: parsed[0] as number, id: parsed[1] };
    }
  } catch {
    // Falls through to the error below.
  }
  throw invalidValue('before', 'must be a next_cursor from an earlier page');
}

/** `day`, `key,model`…: dimensions in the order given, each once. */
function parseDimensions(raw: string | undefined): UsageDimension[] {
  if (raw === undefined) return ['model'];
  const dimensions: UsageDimension[] = [];
  for (const part of raw.split(',')) {
    const name = part.trim();
    if (!(USAGE_DIMENSIONS as readonly string[]).includes(name)) throw invalidValue('group_by', `expected one or more of ${USAGE_DIMENSIONS.join(', ')}, comma-separated`);
    if (!dimensions.includes(name as UsageDimension)) dimensions.push(name as UsageDimension);
  }
  return dimensions;
}

/** One CSV cell: quoted when needed, and a leading = + - @ defused so a spreadsheet never runs it as a formula. */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function registerUsageAnalytics(app: FastifyInstance, services: Services): void {
  const analytics = services.store.analytics;

  /** Runs a read after flushing this instance's buffered records; a database away is a 503, not a 500. */
  async function read<T>(run: () => Promise<T>): Promise<T> {
    await services.usage.flush();
    try {
      return await run();
    } catch (error) {
      if (isGatewayError(error)) throw error;
      services.logger.warn({ component: 'usage', err: error instanceof Error ? error.message : String(error) }, 'usage query failed');
      throw serviceUnavailable('Usage cannot be read right now because the database is unavailable. Retry shortly.', 'usage_unavailable', 1_000);
    }
  }

  app.get('/admin/usage/summary', { config: { auth: 'master' } }, async (request, reply) => {
    const query = (request.query ?? {}) as Query;
    knownParams(query, UsageSummaryQuerySchema);
    const filter = parseFilter(query);
    const dimensions = parseDimensions(single(query, 'group_by'));
    const sort: GroupSort = oneOf(query, 'sort', GROUP_SORTS, 'requests');
    const format = oneOf(query, 'format', ['json', 'csv'] as const, 'json');
    if (format === 'csv') {
      const { rows, count } = await read(() => analytics.groups(filter, dimensions, { sort, limit: MAX_CSV_GROUPS, offset: 0 }));
      if (count > MAX_CSV_GROUPS) throw invalidValue('start', `the export would hold ${count} rows, more than ${MAX_CSV_GROUPS}: narrow the range`);
      const header = [...dimensions.map((dimension) => FIELD[dimension]), 'requests', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cached_tokens', 'cost', 'errors', 'avg_latency_ms'];
      const lines = [header.join(',')];
      for (const row of rows) {
        const figures = describeFigures(row);
        lines.push(
          [...row.keys, figures.requests, figures.prompt_tokens, figures.completion_tokens, figures.total_tokens, figures.cached_tokens, figures.cost, figures.errors, figures.avg_latency_ms]
            .map((cell) => csvCell(cell ?? null))
            .join(','),
        );
      }
      const name = `usage-${new Date(filter.start).toISOString().slice(0, 10)}-${new Date(filter.end - 1).toISOString().slice(0, 10)}.csv`;
      return reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).send(`${lines.join('\r\n')}\r\n`);
    }
    const limit = integer(query, 'limit', 50, 1, MAX_PAGE);
    const offset = integer(query, 'offset', 0, 0, MAX_OFFSET);
    const page = await read(() => analytics.groups(filter, dimensions, { sort, limit, offset }));
    return {
      object: 'usage.summary',
      start: new Date(filter.start).toISOString(),
      end: new Date(filter.end).toISOString(),
      key_id: filter.keyId ?? null,
      model: filter.model ?? null,
      totals: describeFigures(page.totals),
      group_by: dimensions,
      sort,
      limit,
      offset,
      count: page.count,
      groups: page.rows.map((row) => ({ ...Object.fromEntries(dimensions.map((dimension, index) => [FIELD[dimension], row.keys[index]])), ...describeFigures(row) })),
    };
  });

  app.get('/admin/usage/timeseries', { config: { auth: 'master' } }, async (request) => {
    const query = (request.query ?? {}) as Query;
    knownParams(query, UsageTimeseriesQuerySchema);
    const filter = parseFilter(query);
    const bucket = oneOf(query, 'bucket', ['hour', 'day'] as const, 'hour');
    const groupBy = oneOf(query, 'group_by', ['none', 'key', 'model', 'provider'] as const, 'none');
    const top = integer(query, 'top', DEFAULT_SERIES, 1, MAX_SERIES);
    const size = bucket === 'hour' ? HOUR_MS : DAY_MS;
    const first = filter.start - (filter.start % size);
    const buckets = Math.ceil((filter.end - first) / size);
    // Days are bounded by the range's own limit (the 3,660 days /admin/usage takes): only hours can outnumber a chart's pixels.
    if (bucket === 'hour' && buckets > MAX_BUCKETS) throw invalidValue('bucket', `the range holds ${buckets} hours, more than ${MAX_BUCKETS}: use bucket=day or a shorter range`);
    const rows = await read(() => analytics.timeseries(filter, bucket, groupBy === 'none' ? undefined : groupBy));

    // The `top` groups by requests keep their own series; the rest are summed into one.
    const byGroup = new Map<string, number>();
    for (const row of rows) byGroup.set(row.group, (byGroup.get(row.group) ?? 0) + row.requests);
    const ranked = [...byGroup.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([group]) => group);
    const kept = ranked.slice(0, top);
    const hasOther = ranked.length > kept.length;
    const names = hasOther ? [...kept, null] : kept;
    const series = names.map(() => Array.from({ length: buckets }, () => ({ requests: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, cost: 0, errors: 0, cacheHits: 0, latencyMsSum: 0, latencyMsMax: 0 })));
    const totals: UsageFigures = { requests: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, cost: 0, errors: 0, cacheHits: 0, latencyMsSum: 0, latencyMsMax: 0 };
    for (const row of rows) {
      const index = Math.floor((row.bucket - first) / size);
      const seriesIndex = kept.indexOf(row.group);
      const target = series[seriesIndex === -1 ? names.length - 1 : seriesIndex]?.[index];
      if (target === undefined) continue;
      for (const sum of [target, totals]) {
        sum.requests += row.requests;
        sum.promptTokens += row.promptTokens;
        sum.completionTokens += row.completionTokens;
        sum.cachedTokens += row.cachedTokens;
        sum.cost += row.cost;
        sum.errors += row.errors;
        sum.cacheHits += row.cacheHits;
        sum.latencyMsSum += row.latencyMsSum;
        sum.latencyMsMax = Math.max(sum.latencyMsMax, row.latencyMsMax);
      }
    }
    return {
      object: 'usage.timeseries',
      start: new Date(filter.start).toISOString(),
      end: new Date(filter.end).toISOString(),
      bucket,
      group_by: groupBy,
      // Unix seconds of each bucket's start, UTC: the x values of every series.
      timestamps: Array.from({ length: buckets }, (_, index) => (first + index * size) / 1000),
      totals: describeFigures(totals),
      series: names.map((group, index) => {
        const points = series[index] ?? [];
        return {
          // null is the sum of the groups beyond `top`; '' the records without one (no provider reached).
          group: groupBy === 'none' ? null : group,
          requests: points.map((point) => point.requests),
          prompt_tokens: points.map((point) => point.promptTokens),
          completion_tokens: points.map((point) => point.completionTokens),
          cost: points.map((point) => rounded(point.cost, 8)),
          errors: points.map((point) => point.errors),
          cache_hits: points.map((point) => point.cacheHits),
          avg_latency_ms: points.map((point) => (point.requests === 0 ? null : rounded(point.latencyMsSum / point.requests, 1))),
        };
      }),
    };
  });

  app.get('/admin/usage/records', { config: { auth: 'master' } }, async (request) => {
    const query = (request.query ?? {}) as Query;
    knownParams(query, UsageRecordsQuerySchema);
    const filter = parseFilter(query);
    const limit = integer(query, 'limit', 50, 1, MAX_PAGE);
    const rawBefore = single(query, 'before');
    const before = rawBefore === undefined ? undefined : decodeCursor(rawBefore);
    // One more than asked tells whether another page follows, without a count over the range.
    const rows = await read(() => analytics.rows(filter, limit + 1, before));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const hasMore = rows.length > limit && last !== undefined;
    return {
      object: 'list',
      data: page.map(describeRow),
      has_more: hasMore,
      next_cursor: hasMore ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
    };
  });
}
