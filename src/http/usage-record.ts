// The one usage record of a model call (chat, messages, completions, embeddings): tokens and cost
// from the provider's usage and the catalog's prices, and the settlement of the call's token and
// budget holds. Positional arguments: it runs once per request on the hot path.
import type { FastifyRequest } from 'fastify';
import { isGatewayError } from '../errors/gateway-error.js';
import type { CatalogEntry } from '../catalog/catalog-types.js';
import { rateMultiplier, webSearchCost } from '../catalog/call-cost.js';
import type { ModelCatalog } from '../catalog/model-catalog.js';
import { tokensBeside } from '../openai/billing-fields.js';
import type { CompletionUsage } from '../openai/types.js';
import type { Route } from '../routing/model-router.js';
import type { Services } from '../services.js';
import type { UsageRecord, UsageStatus } from '../usage/usage-recorder.js';

/** The default `extra`: shared, so a call without one allocates nothing for it. */
export const NO_EXTRA: Partial<UsageRecord> = Object.freeze({});
/** The `extra` of a call billed from the local estimate (src/usage/usage-check.ts). */
export const ESTIMATED: Partial<UsageRecord> = Object.freeze({ estimated: true });

/**
 * The record of a call that failed before its answer: `client_disconnected` with 499 (as the
 * access line says, after nginx) when the client left first, else `error` with the error's status.
 */
export function failedCall(error: unknown, disconnected: boolean): { status: UsageStatus; httpStatus: number } {
  if (disconnected) return { status: 'client_disconnected', httpStatus: isGatewayError(error) ? error.status : 499 };
  return { status: 'error', httpStatus: isGatewayError(error) ? error.status : 500 };
}

/** `entry` when it has token prices. */
function priced(entry: CatalogEntry | undefined): CatalogEntry | undefined {
  return entry !== undefined && entry.input_cost !== null && entry.output_cost !== null ? entry : undefined;
}

/** The catalog entry a model named in a Claude answer's iterations is billed by, on the call's provider. */
export type EntryOf = (model: string) => CatalogEntry | undefined;

/**
 * A call's cost at catalog prices from its (checked) usage: cache reads and writes at their own rates,
 * at the prices in force when the call started (`at`, ms). `entryOf` finds the entry of a model a
 * Claude iteration names (an advisor, a fallback model); without it they are billed at `entry`'s rates.
 */
export function usageCost(catalog: ModelCatalog, entry: CatalogEntry | undefined, usage: CompletionUsage, at: number, entryOf?: EntryOf): number | undefined {
  const details = usage.prompt_tokens_details;
  let prompt = usage.prompt_tokens;
  let completion = usage.completion_tokens;
  let cached = details?.cached_tokens ?? 0;
  let written = details?.cache_write_tokens ?? 0;
  let written1h = details?.cache_write_1h_tokens ?? 0;
  // Claude's iterations on other models (an advisor's; a fallback model's, which the top-level counts
  // include): each at its model's rates, with the multipliers that model lists.
  let others = 0;
  const models = usage.model_iterations;
  if (models !== undefined && entry !== undefined) {
    for (const part of models) {
      // A model the catalog does not price is billed at the request model's rates: an advisor is at
      // least as dear as its executor, so this bills too little rather than nothing.
      const own: CatalogEntry = priced(entryOf?.(part.model)) ?? entry;
      if (part.counted && own === entry) continue;
      const cost = catalog.cost(own, part.prompt_tokens, part.completion_tokens, part.cached_tokens, part.cache_write_tokens, part.cache_write_1h_tokens, at);
      if (cost === undefined) return undefined;
      others += cost * rateMultiplier(own, part.counted ? usage.speed : undefined, usage.inference_geo);
      if (!part.counted) continue;
      prompt = Math.max(0, prompt - part.prompt_tokens);
      completion = Math.max(0, completion - part.completion_tokens);
      cached = Math.max(0, cached - part.cached_tokens);
      written = Math.max(0, written - part.cache_write_tokens);
      written1h = Math.max(0, written1h - part.cache_write_1h_tokens);
    }
  }
  const tokens = catalog.cost(entry, prompt, completion, cached, written, written1h, at);
  if (tokens === undefined) return undefined;
  // Claude's compaction iterations, billed beside the top-level counts that leave them out (src/providers/anthropic/convert-response.ts).
  const compaction = usage.compaction;
  const all =
    compaction === undefined
      ? tokens
      : tokens + (catalog.cost(entry, compaction.prompt_tokens, compaction.completion_tokens, compaction.cached_tokens, compaction.cache_write_tokens, compaction.cache_write_1h_tokens, at) ?? 0);
  // Claude's fast mode and US-only inference multiply every token rate (not the per-search fee).
  const scaled = (usage.speed === undefined && usage.inference_geo === undefined ? all : all * rateMultiplier(entry, usage.speed, usage.inference_geo)) + others;
  const searches = usage.server_tool_use?.web_search_requests;
  // Claude's web searches and Gemini's Google Search grounding, when the model is priced (an unpriced model's cost stays unknown).
  return searches === undefined || entry === undefined ? scaled : scaled + webSearchCost(entry, searches);
}

export function recordCall(
  services: Services,
  request: FastifyRequest,
  endpoint: string,
  route: Route | undefined,
  model: string,
  stream: boolean,
  started: number,
  status: UsageStatus,
  httpStatus: number,
  tokens: CompletionUsage | undefined,
  extra: Partial<UsageRecord> = NO_EXTRA,
): void {
  // Claude's compaction and advisor iterations are tokens the call used (and Anthropic billed), beside the top-level counts.
  const beside = tokensBeside(tokens);
  const prompt = (tokens?.prompt_tokens ?? 0) + beside.prompt;
  const completion = (tokens?.completion_tokens ?? 0) + beside.completion;
  const cached = tokens?.prompt_tokens_details?.cached_tokens ?? 0;
  const provider = route?.provider;
  const entryOf: EntryOf | undefined = provider === undefined ? undefined : (name) => services.catalog.entryFor(provider, name);
  const cost = tokens === undefined ? undefined : usageCost(services.catalog, route?.entry, tokens, started, entryOf);
  // One object of one shape for every call (every field present, in UsageRecord's order; undefined
  // when absent): the recorders' property reads stay monomorphic and nothing is copied on the way.
  const record: UsageRecord = {
    id: undefined,
    budgetHeld: undefined,
    requestId: request.id,
    keyId: request.principal?.keyId ?? 'anonymous',
    endpoint,
    model,
    provider: route?.provider.name,
    upstreamModel: route?.upstreamModel,
    promptTokens: prompt,
    completionTokens: completion,
    cachedTokens: cached,
    cost,
    latencyMs: Date.now() - started,
    ttftMs: undefined,
    status,
    httpStatus,
    errorCode: undefined,
    stream,
    cacheHit: false,
    estimated: false,
    createdAt: started,
  };
  // The caller's fields win over the defaults, as a spread would (the shape is unchanged: they all exist).
  if (extra !== NO_EXTRA) Object.assign(record, extra);
  // Settles the token and budget holds taken before the call; its id lets the store settle the budget.
  const settled = services.admission.settle(request, extra.cacheHit === true ? undefined : tokens, extra.cost ?? cost);
  if (settled.id !== undefined) record.id = settled.id;
  if (settled.budgetHeld !== undefined) record.budgetHeld = settled.budgetHeld;
  services.usage.record(record);
}
