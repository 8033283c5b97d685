// GET /api/usage (the calling key's own usage) and GET /admin/usage (every key; master key only):
// totals and breakdowns by model and by UTC day over [start, end], from the usage records.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { invalidValue, isGatewayError, serviceUnavailable } from '../../errors/gateway-error.js';
import type { Services } from '../../services.js';
import type { BreakdownDimension, BreakdownRow } from '../../store/usage-analytics.js';
import { knownParams } from '../../json/known-fields.js';
import { isoDateSchema, parseIsoDate } from './admin-keys.js';

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
const MAX_DAYS = 3_660;

interface Totals {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost: number;
}

/** The rows' figures added up as the API answers them, cost rounded to 8 decimals. */
function totalsOf(rows: readonly BreakdownRow[]): Totals {
  const totals: Totals = { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost: 0 };
  for (const row of rows) {
    totals.requests += row.requests;
    totals.prompt_tokens += row.promptTokens;
    totals.completion_tokens += row.completionTokens;
    totals.total_tokens += row.promptTokens + row.completionTokens;
    totals.cost += row.cost;
  }
  return { ...totals, cost: Math.round(totals.cost * 1e8) / 1e8 };
}

function breakdown<K extends string>(rows: readonly BreakdownRow[], name: K): Array<Record<K, string> & Totals> {
  return rows.map((row) => ({ [name]: row.value, ...totalsOf([row]) }) as Record<K, string> & Totals);
}

/** What parseRange reads, as /openapi.json shows it for every usage endpoint. */
export const UsageRangeSchema = Type.Object({
  start: Type.Optional(isoDateSchema(`Default: ${DEFAULT_DAYS} days before end; at most ${MAX_DAYS} days before it.`)),
  end: Type.Optional(isoDateSchema('A date alone includes that whole day. Default: now.')),
});
/** GET /admin/usage's query string. */
export const AdminUsageQuerySchema = Type.Composite([UsageRangeSchema, Type.Object({ key_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'One key; default every key.' })) })]);

/** `start`/`end` as ISO dates or date-times; a date alone for `end` includes that whole day. */
export function parseRange(query: unknown, now = Date.now()): { start: number; end: number } {
  const { start: rawStart, end: rawEnd } = (query ?? {}) as { start?: unknown; end?: unknown };
  let end = now;
  if (rawEnd !== undefined && rawEnd !== '') {
    end = parseIsoDate(rawEnd, 'end');
    if (typeof rawEnd === 'string' && rawEnd.length === 10) end += DAY_MS;
  }
  const start = rawStart !== undefined && rawStart !== '' ? parseIsoDate(rawStart, 'start') : end - DEFAULT_DAYS * DAY_MS;
  if (start >= end) throw invalidValue('start', 'must be before end');
  if (end - start > MAX_DAYS * DAY_MS) throw invalidValue('start', `the range may span at most ${MAX_DAYS} days`);
  return { start, end };
}

export function registerUsage(app: FastifyInstance, services: Services): void {
  async function summarize(keyId: string | undefined, query: unknown, dimensions: readonly BreakdownDimension[]) {
    const range = parseRange(query);
    // Read-your-writes: what this instance has buffered goes first (it never throws; a database away shows below).
    await services.usage.flush();
    let breakdowns: Record<BreakdownDimension, BreakdownRow[]>;
    try {
      breakdowns = await services.store.analytics.breakdowns({ ...range, ...(keyId === undefined ? {} : { keyId }) }, dimensions);
    } catch (error) {
      if (isGatewayError(error)) throw error;
      services.logger.warn({ component: 'usage', err: error instanceof Error ? error.message : String(error) }, 'usage query failed');
      throw serviceUnavailable('Usage cannot be read right now because the database is unavailable. Retry shortly.', 'usage_unavailable', 1_000);
    }
    const summary = {
      object: 'usage',
      start: new Date(range.start).toISOString(),
      end: new Date(range.end).toISOString(),
      // Every record is in exactly one day of the range: the days' sums add up to the totals.
      totals: totalsOf(breakdowns.day),
      by_model: breakdown(breakdowns.model, 'model'),
      by_day: breakdown(breakdowns.day, 'date'),
    };
    return { summary, breakdowns };
  }

  app.get('/api/usage', { config: { auth: 'client' } }, async (request) => {
    knownParams(request.query, UsageRangeSchema);
    const keyId = request.principal?.keyId ?? 'anonymous';
    const { summary } = await summarize(keyId, request.query, ['day', 'model']);
    return { key_id: keyId, ...summary };
  });

  app.get('/admin/usage', { config: { auth: 'master' } }, async (request) => {
    knownParams(request.query, AdminUsageQuerySchema);
    const rawKey = (request.query as { key_id?: unknown } | undefined)?.key_id;
    if (rawKey !== undefined && (typeof rawKey !== 'string' || rawKey.length === 0 || rawKey.length > 64)) throw invalidValue('key_id', 'must be a key id');
    const keyId = typeof rawKey === 'string' ? rawKey : undefined;
    const { summary, breakdowns } = await summarize(keyId, request.query, ['day', 'model', 'key']);
    return { key_id: keyId ?? null, ...summary, by_key: breakdown(breakdowns.key, 'key_id') };
  });
}
