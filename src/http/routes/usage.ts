// GET /api/usage (the calling key's own usage) and GET /admin/usage (every key; master key only):
// totals and breakdowns by model and by UTC day over [start, end], from the usage records.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { invalidValue, isGatewayError, serviceUnavailable } from '../../errors/gateway-error.js';
import type { Services } from '../../services.js';
import type { UsageGroup } from '../../store/usage-analytics.js';
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

function emptyTotals(): Totals {
  return { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost: 0 };
}

function add(totals: Totals, group: UsageGroup): void {
  totals.requests += group.requests;
  totals.prompt_tokens += group.promptTokens;
  totals.completion_tokens += group.completionTokens;
  totals.total_tokens += group.promptTokens + group.completionTokens;
  totals.cost += group.cost;
}

function rounded(totals: Totals): Totals {
  return { ...totals, cost: Math.round(totals.cost * 1e8) / 1e8 };
}

function breakdown<K extends string>(groups: readonly UsageGroup[], name: K, pick: (group: UsageGroup) => string): Array<Record<K, string> & Totals> {
  const byValue = new Map<string, Totals>();
  for (const group of groups) {
    const value = pick(group);
    let totals = byValue.get(value);
    if (totals === undefined) byValue.set(value, (totals = emptyTotals()));
    add(totals, group);
  }
  return [...byValue.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([value, totals]) => ({ [name]: value, ...rounded(totals) }) as Record<K, string> & Totals);
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
  async function summarize(keyId: string | undefined, query: unknown) {
    const range = parseRange(query);
    // Read-your-writes: what this instance has buffered goes first (it never throws; a database away shows below).
    await services.usage.flush();
    let groups: UsageGroup[];
    try {
      groups = await services.store.analytics.summarize({ ...range, ...(keyId === undefined ? {} : { keyId }) });
    } catch (error) {
      if (isGatewayError(error)) throw error;
      services.logger.warn({ component: 'usage', err: error instanceof Error ? error.message : String(error) }, 'usage query failed');
      throw serviceUnavailable('Usage cannot be read right now because the database is unavailable. Retry shortly.', 'usage_unavailable', 1_000);
    }
    const totals = emptyTotals();
    for (const group of groups) add(totals, group);
    const summary = {
      object: 'usage',
      start: new Date(range.start).toISOString(),
      end: new Date(range.end).toISOString(),
      totals: rounded(totals),
      by_model: breakdown(groups, 'model', (group) => group.model),
      by_day: breakdown(groups, 'date', (group) => group.day),
    };
    return { summary, groups };
  }

  app.get('/api/usage', { config: { auth: 'client' } }, async (request) => {
    knownParams(request.query, UsageRangeSchema);
    const keyId = request.principal?.keyId ?? 'anonymous';
    const { summary } = await summarize(keyId, request.query);
    return { key_id: keyId, ...summary };
  });

  app.get('/admin/usage', { config: { auth: 'master' } }, async (request) => {
    knownParams(request.query, AdminUsageQuerySchema);
    const rawKey = (request.query as { key_id?: unknown } | undefined)?.key_id;
    if (rawKey !== undefined && (typeof rawKey !== 'string' || rawKey.length === 0 || rawKey.length > 64)) throw invalidValue('key_id', 'must be a key id');
    const keyId = typeof rawKey === 'string' ? rawKey : undefined;
    const { summary, groups } = await summarize(keyId, request.query);
    return { key_id: keyId ?? null, ...summary, by_key: breakdown(groups, 'key_id', (group) => group.keyId) };
  });
}
