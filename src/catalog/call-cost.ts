// What a call costs at catalog prices, and the most it could cost before it runs (a budget hold).
// Pure and allocation-free (an entry's announced price changes are read once, on its first call): it
// runs once per usage record and once per held request.
import type { CatalogEntry, PriceChange, RateMultipliers } from './catalog-types.js';

/**
 * How far a provider's own count of a prompt may run past the proxy's local one (gpt-tokenizer):
 * Anthropic's newest tokenizer counts about 30% more than its previous one, which already counted
 * more than OpenAI's. A hold takes a long-context band once the local count times this passes the
 * band's threshold, so a prompt the provider counts past it is never held at the base rate.
 */
export const PROVIDER_COUNT_SLACK = 1.5;

/**
 * A web search Claude runs (its `web_search` server tool): $10 per 1,000, whatever the model, billed
 * beside the tokens, which include the results it read. OpenAI-format hosts that report searches
 * (`server_tool_use.web_search_requests`, LiteLLM's field; OpenRouter's `server_tool_use_details`,
 * read as it in src/usage/reported-usage.ts) are billed the same.
 * @see https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool#usage-and-pricing
 */
export const WEB_SEARCH_COST = 0.01;

/**
 * The most searches one call is billed for (past this a count is a provider's bad figure, not
 * searches: Claude's `max_uses` is far lower), and so what a budget holds for a call whose request
 * does not bound its searches.
 */
export const MAX_BILLED_SEARCHES = 1_000;

/** The same for Gemini 3's search queries (Gemini runs a handful per prompt). */
export const MAX_BILLED_GEMINI_QUERIES = 100;

/**
 * Grounding with Google Search: Gemini 3 and later bill each search query ($14 per 1,000), Gemini 2.5
 * and before each grounded prompt however many queries it ran ($35 per 1,000). The free allowances
 * (per day or month, per project) are not the proxy's to know, so every search is billed at list price.
 * @see https://ai.google.dev/gemini-api/docs/pricing
 */
const GEMINI_SEARCH_QUERY_COST = 0.014;
const GEMINI_GROUNDED_PROMPT_COST = 0.035;
const GEMINI_GENERATION = /^(?:[a-z-]+\/)?gemini-(\d+)/;

/**
 * What a call's web searches cost (`server_tool_use.web_search_requests`), by the provider that ran
 * them. A count that is no positive number is nothing, one past the cap the cap: an OpenAI-format
 * host's report reaches here unchecked. A hold passes the request's bound, Infinity when it has none.
 */
export function webSearchCost(entry: CatalogEntry, searches: number): number {
  // typeof: a host's string "3" would pass `> 0` by coercion.
  if (typeof searches !== 'number' || !(searches > 0)) return 0;
  if (entry.provider !== 'gemini') return Math.min(searches, MAX_BILLED_SEARCHES) * WEB_SEARCH_COST;
  const generation = GEMINI_GENERATION.exec(entry.id);
  return generation !== null && Number(generation[1]) < 3 ? GEMINI_GROUNDED_PROMPT_COST : Math.min(searches, MAX_BILLED_GEMINI_QUERIES) * GEMINI_SEARCH_QUERY_COST;
}

/** Per-1K prices of one kind each: an entry's base rates or its long-context band. */
export interface Rates {
  input_cost: number | null;
  output_cost: number | null;
  cached_input_cost?: number | null;
  cache_write_cost?: number | null;
  cache_write_1h_cost?: number | null;
}

/** The start (ms) of a change's UTC day. */
export function changeStart(change: PriceChange): number {
  return Date.parse(`${change.from}T00:00:00Z`);
}

/** An entry's changes read once: each one's start (ms) and its rates merged over the entry's. */
interface Schedule {
  changes: readonly PriceChange[];
  starts: number[];
  rates: Rates[];
}

/** Per entry (entries are not changed once built): a call then parses no date and builds no object. */
const schedules = new WeakMap<CatalogEntry, Schedule>();

function scheduleOf(entry: CatalogEntry, changes: readonly PriceChange[]): Schedule {
  const known = schedules.get(entry);
  if (known !== undefined && known.changes === changes) return known;
  const schedule: Schedule = {
    changes,
    starts: changes.map(changeStart),
    rates: changes.map((change) => ({
      input_cost: change.input_cost,
      output_cost: change.output_cost,
      cached_input_cost: change.cached_input_cost === undefined ? entry.cached_input_cost : change.cached_input_cost,
      cache_write_cost: change.cache_write_cost === undefined ? entry.cache_write_cost : change.cache_write_cost,
      cache_write_1h_cost: change.cache_write_1h_cost === undefined ? entry.cache_write_1h_cost : change.cache_write_1h_cost,
    })),
  };
  schedules.set(entry, schedule);
  return schedule;
}

/**
 * The base rates in force at `at` (ms): the entry's own, or those of the latest announced change
 * that has begun, over the entry's for what the change leaves out. Entries without changes (nearly
 * all) cost one property read; those with changes a map look-up and a loop over numbers.
 */
export function baseRatesAt(entry: CatalogEntry, at: number): Rates {
  const changes = entry.price_changes;
  if (changes === undefined || changes.length === 0) return entry;
  const { starts, rates } = scheduleOf(entry, changes);
  // The latest change begun by `at`, whatever the list's order.
  let current: Rates = entry;
  let currentStart = -Infinity;
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i] as number;
    if (start <= at && start > currentStart) {
      current = rates[i] as Rates;
      currentStart = start;
    }
  }
  return current;
}

/**
 * Of `promptTokens`, `cachedTokens` were read from the provider's cache and `writtenTokens` written
 * to it (`written1hTokens` of those to a 1-hour cache); the rest is plain input.
 */
function priced(rates: Rates, promptTokens: number, completionTokens: number, cachedTokens: number, writtenTokens: number, written1hTokens: number): number | undefined {
  if (rates.input_cost === null || rates.output_cost === null) return undefined;
  const cachedPrice = rates.cached_input_cost ?? rates.input_cost;
  const uncached = Math.max(0, promptTokens - cachedTokens - writtenTokens);
  let cost = uncached * rates.input_cost + cachedTokens * cachedPrice + completionTokens * rates.output_cost;
  if (writtenTokens > 0) {
    const writePrice = rates.cache_write_cost ?? rates.input_cost;
    cost += (writtenTokens - written1hTokens) * writePrice + written1hTokens * (rates.cache_write_1h_cost ?? writePrice);
  }
  return cost / 1000;
}

/**
 * Cost in USD of one call from its reported tokens; undefined when a price is unknown. A prompt past
 * the entry's long-context threshold bills the whole call at the band's rates, as the providers do.
 * The token counts are the checked ones (src/usage/usage-check.ts): cached plus written within the prompt.
 * `at` (ms) picks the base rates of an announced price change (the call's start).
 */
export function callCost(
  entry: CatalogEntry | undefined,
  promptTokens: number,
  completionTokens: number,
  cachedTokens = 0,
  writtenTokens = 0,
  written1hTokens = 0,
  at = Date.now(),
): number | undefined {
  if (entry === undefined) return undefined;
  const band = entry.long_context;
  const rates = band !== undefined && band !== null && promptTokens > band.above_input_tokens ? band : baseRatesAt(entry, at);
  return priced(rates, promptTokens, completionTokens, cachedTokens, writtenTokens, written1hTokens);
}

/**
 * The prompt-cache writes a call can make, for its hold: none, at the write rate (`cache_write_cost`,
 * Anthropic's 5-minute cache), or at the 1-hour rate too (a `cache_control` marker with `ttl: "1h"`).
 */
export type HeldWrites = 'none' | 'default' | '1h';

/** Whether one set of rates prices a cache write. */
function pricesWrites(rates: Rates): boolean {
  return typeof rates.cache_write_cost === 'number' || typeof rates.cache_write_1h_cost === 'number';
}

/** Whether any of an entry's rates (base, band, announced change) prices a cache write: a few property reads. */
function entryPricesWrites(entry: CatalogEntry): boolean {
  if (pricesWrites(entry)) return true;
  const band = entry.long_context;
  if (band !== undefined && band !== null && pricesWrites(band)) return true;
  return entry.price_changes !== undefined && entry.price_changes.some(pricesWrites);
}

/**
 * The writes a call on `entry` can be billed for. A model whose provider writes only what the request
 * marks (`cache_writes: "cache_control"`) writes what `marks` finds in the request as it reaches the
 * provider; one that writes every prompt by itself (or says nothing) may write the whole prompt.
 * `marks` (a walk of the request) runs only for the first kind, and only when a write has a price.
 */
export function heldWrites(entry: CatalogEntry | undefined, marks: () => HeldWrites): HeldWrites {
  if (entry === undefined || !entryPricesWrites(entry)) return 'none';
  return entry.cache_writes === 'cache_control' ? marks() : 'default';
}

/** The dearest rate one prompt token of the call can be billed at: input, or a write rate above it. */
function promptRate(input: number, rates: Rates, writes: HeldWrites): number {
  if (writes === 'none') return input;
  const write = rates.cache_write_cost ?? input;
  // A request with a 1-hour marker may write at both rates: the dearer counts.
  const dearest = writes === '1h' ? Math.max(write, rates.cache_write_1h_cost ?? write) : write;
  return dearest > input ? dearest : input;
}

/** A call's cost with every prompt token at its dearest rate (none read from the cache). */
function heldAt(rates: Rates, promptTokens: number, completionTokens: number, writes: HeldWrites): number | undefined {
  if (rates.input_cost === null || rates.output_cost === null) return undefined;
  return (promptTokens * promptRate(rates.input_cost, rates, writes) + completionTokens * rates.output_cost) / 1000;
}

/**
 * The most a call could cost before it runs, from the local prompt count (every token uncached, and
 * written at the dearest write rate `writes` allows, see heldWrites): at the band's rates when the
 * provider's count could pass its threshold, else at the rates callCost would use.
 */
export function heldCost(entry: CatalogEntry | undefined, promptTokens: number, completionTokens: number, writes: HeldWrites = 'none', at = Date.now()): number | undefined {
  if (entry === undefined) return undefined;
  const band = entry.long_context;
  const hasBand = band !== undefined && band !== null;
  const cost = heldAt(hasBand && promptTokens > band.above_input_tokens ? band : baseRatesAt(entry, at), promptTokens, completionTokens, writes);
  if (!hasBand || promptTokens * PROVIDER_COUNT_SLACK <= band.above_input_tokens) return cost;
  // The dearer of the two: a band an operator set below the base rates must not shrink the hold.
  const long = heldAt(band, promptTokens, completionTokens, writes) ?? 0;
  return cost === undefined || long > cost ? long : cost;
}

/** A geography's multiplier, 1 when the entry lists none for it (an own key only: `constructor` is no geography). */
function geoMultiplier(multipliers: RateMultipliers, geo: string): number {
  const byGeo = multipliers.inference_geo;
  if (byGeo === undefined || !Object.hasOwn(byGeo, geo)) return 1;
  const value = byGeo[geo];
  return typeof value === 'number' && value > 0 ? value : 1;
}

/**
 * What a call's token cost is multiplied by for how it ran, as its usage reports it: Claude's fast mode
 * (`speed` "fast") and inference geography (`inference_geo`), stacked. 1 for an entry without
 * `rate_multipliers` (nearly all): one property read.
 */
export function rateMultiplier(entry: CatalogEntry | undefined, speed: string | undefined, geo: string | undefined): number {
  const multipliers = entry?.rate_multipliers;
  if (multipliers === undefined) return 1;
  let factor = 1;
  if (speed === 'fast' && typeof multipliers.fast === 'number' && multipliers.fast > 0) factor *= multipliers.fast;
  if (geo !== undefined) factor *= geoMultiplier(multipliers, geo);
  return factor;
}

/**
 * The multiplier a hold takes before the call, from the request as it reaches the provider (a native
 * call's own body; undefined for one the proxy translated, which carries neither field): fast mode when
 * it asks for `speed: "fast"`; the geography it names in `inference_geo`, else the dearest listed, since
 * the provider then runs it where the workspace's `default_inference_geo` says, which the proxy cannot see.
 */
export function heldMultiplier(entry: CatalogEntry | undefined, body: unknown): number {
  const multipliers = entry?.rate_multipliers;
  if (multipliers === undefined) return 1;
  const request = typeof body === 'object' && body !== null ? (body as { speed?: unknown; inference_geo?: unknown }) : undefined;
  const fast = request?.speed === 'fast' && typeof multipliers.fast === 'number' && multipliers.fast > 0 ? multipliers.fast : 1;
  const geo = request?.inference_geo;
  if (typeof geo === 'string') return fast * geoMultiplier(multipliers, geo);
  let dearest = 1;
  if (multipliers.inference_geo !== undefined) for (const value of Object.values(multipliers.inference_geo)) if (typeof value === 'number' && value > dearest) dearest = value;
  return fast * dearest;
}
