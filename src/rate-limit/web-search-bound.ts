// The web searches a request may be billed for, for its budget hold (src/catalog/call-cost.ts
// webSearchCost): the route's provider decides how its request searches. Pure; a request that asks
// for no search costs one property read (chat) or a walk of its tools (a native Messages body).
// @see https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool
// @see https://openrouter.ai/docs/guides/features/plugins/web-search
// @see https://openrouter.ai/docs/guides/features/server-tools/web-fetch (OpenRouter's fetches, held beside the searches)
import { isWebSearchTool } from '../anthropic-api/web-search.js';
import { isRecord } from '../json/guards.js';
import { MAX_BILLED_SEARCHES, WEB_SEARCH_COST } from '../catalog/call-cost.js';
import { OPENROUTER_WEB_FETCH, OPENROUTER_WEB_SEARCH, type ChatCompletionRequest, type OpenRouterFetchEngine } from '../openai/types.js';
import { SEARCH_USES } from '../providers/anthropic/convert-tools.js';
import type { Route } from '../routing/model-router.js';

/** The most searches a request may run on a route: 0 for none, Infinity when nothing bounds them (webSearchCost caps it). */
export type SearchBound = (route: Route) => number;

/**
 * Claude's web search tools in a Messages body as it reaches Anthropic: their `max_uses` added up,
 * Infinity when one has none. `tool_choice: none` runs no tool.
 */
function nativeSearches(body: unknown): number {
  if (!isRecord(body) || !Array.isArray(body.tools)) return 0;
  if (isRecord(body.tool_choice) && body.tool_choice.type === 'none') return 0;
  let searches = 0;
  for (const tool of body.tools) {
    if (!isWebSearchTool(tool)) continue;
    const uses = (tool as Record<string, unknown>).max_uses;
    searches += typeof uses === 'number' && uses >= 0 ? uses : Infinity;
  }
  return searches;
}

/**
 * What bounds the searches of a request, or undefined when it can run none. `web_search_options`
 * reaches Claude (translated) as its tool with `max_uses` from `search_context_size`, Gemini as
 * Google Search (Gemini decides how much), and an OpenAI-format host as it came (OpenAI's own
 * search models run one search per call; another host decides);
 * `nativeBody`, when given, is what an Anthropic deployment gets in its place.
 */
export function searchBound(chat: ChatCompletionRequest, nativeBody: unknown): SearchBound | undefined {
  const options = chat.web_search_options;
  const asked = options !== undefined && options !== null;
  const native = nativeBody === undefined ? 0 : nativeSearches(nativeBody);
  if (!asked && native === 0) return undefined;
  const size = asked && isRecord(options) ? options.search_context_size : undefined;
  const translated = !asked ? 0 : size === 'low' || size === 'medium' || size === 'high' ? SEARCH_USES[size] : Infinity;
  return (route) => {
    const kind = route.provider.kind;
    if (kind === 'anthropic') return nativeBody !== undefined ? native : translated;
    if (!asked) return 0;
    // OpenAI's search models run one search per chat call (billed per call) and report no count:
    // holding the billing cap there would keep every key with less than $10 left from searching.
    return kind === 'openai' || kind === 'azure' ? 1 : Infinity;
  };
}

/** OpenRouter's web plugin: Exa's results are $4 per 1,000, at most `max_results` (5 unless set) a call. */
export const OPENROUTER_RESULT_COST = 0.004;
export const OPENROUTER_DEFAULT_RESULTS = 5;
/** The model vendors whose own search OpenRouter's plugin uses when no `engine` is named. */
const NATIVE_SEARCH = /^(?:anthropic|openai|perplexity|x-ai)\//;

/** OpenRouter's web search server tool: at most this many results across a request's searches unless `max_total_results` says. */
export const OPENROUTER_DEFAULT_TOTAL_RESULTS = 50;

/** Whether OpenRouter runs the model vendor's own search for `engine` (`auto` or none: the vendors of NATIVE_SEARCH). */
function nativeEngine(engine: unknown, upstreamModel: string): boolean {
  return engine === 'native' || ((engine === undefined || engine === 'auto') && NATIVE_SEARCH.test(upstreamModel));
}

/**
 * The most one `openrouter:web_search` tool may add to a call, in USD: the larger of its searches at
 * $0.01 (what the key is billed, from `server_tool_use_details.web_search_requests`) and its results
 * at the plugin's prices (what OpenRouter bills the proxy). `max_uses` bounds the searches, except a
 * native search other than Claude's (OpenRouter forwards it to Anthropic only): unbounded, they are
 * held at MAX_BILLED_SEARCHES. Results: `max_results` a search (5 unless set; native search ignores
 * it, and is priced per search), at most `max_total_results` (50 unless set).
 * @see https://openrouter.ai/docs/guides/features/server-tools/web-search
 */
function searchToolFee(parameters: unknown, upstreamModel: string): number {
  const config = isRecord(parameters) ? parameters : {};
  const count = (value: unknown): number | undefined => (typeof value === 'number' && value >= 0 ? value : undefined);
  const native = nativeEngine(config.engine, upstreamModel);
  const uses = native && !upstreamModel.startsWith('anthropic/') ? undefined : count(config.max_uses);
  const searches = Math.min(uses ?? Infinity, MAX_BILLED_SEARCHES);
  if (native) return searches * WEB_SEARCH_COST;
  const perSearch = count(config.max_results) ?? OPENROUTER_DEFAULT_RESULTS;
  const results = Math.min(count(config.max_total_results) ?? OPENROUTER_DEFAULT_TOTAL_RESULTS, searches * perSearch, MAX_BILLED_SEARCHES);
  return Math.max(searches * WEB_SEARCH_COST, results * (config.engine === 'exa' || config.engine === undefined || config.engine === 'auto' ? OPENROUTER_RESULT_COST : WEB_SEARCH_COST));
}

/**
 * OpenRouter's web fetch, a page, by engine (OpenRouter's tool page, "Providers and pricing"): Exa and
 * Parallel $0.001, Firecrawl $0.0025, OpenRouter's own fetcher free. `auto` uses the provider's own
 * fetch where the endpoint has one (no fee beside the tokens for Claude's) and Exa otherwise: Exa's
 * price. `native` falls back to "another workspace-allowed executor" that OpenRouter does not name:
 * the dearest page.
 * @see https://openrouter.ai/tool/web-fetch
 */
const FETCH_PAGE_COST: Readonly<Record<OpenRouterFetchEngine, number>> = { auto: 0.001, exa: 0.001, parallel: 0.001, firecrawl: 0.0025, native: 0.0025, openrouter: 0 };
/** OpenRouter's own cap on the fetches of one request for its `openrouter` and `native` engines (Exa and Firecrawl have none). */
const FETCH_HARD_LIMIT = 50;

/**
 * The most one `openrouter:web_fetch` tool may add to a call, in USD: `max_uses` pages at its engine's
 * price (`auto` unless set). Without `max_uses`, OpenRouter's cap of 50 for the engines it caps, else
 * MAX_BILLED_SEARCHES pages, as for unbounded searches.
 */
function fetchToolFee(parameters: unknown): number {
  const config = isRecord(parameters) ? parameters : {};
  // The request schema takes only the documented engines; the dearest page stands for any other.
  const engine: OpenRouterFetchEngine = config.engine === undefined ? 'auto' : typeof config.engine === 'string' && Object.hasOwn(FETCH_PAGE_COST, config.engine) ? (config.engine as OpenRouterFetchEngine) : 'firecrawl';
  const uses = typeof config.max_uses === 'number' && config.max_uses >= 0 ? config.max_uses : Infinity;
  const limit = engine === 'native' || engine === 'openrouter' ? FETCH_HARD_LIMIT : MAX_BILLED_SEARCHES;
  return Math.min(uses, limit) * FETCH_PAGE_COST[engine];
}

/**
 * The most OpenRouter's web search and fetch may add to a call on `route`, in USD: 0 off OpenRouter
 * or when the request does not ask for them. Its `openrouter:web_search` tools (searchToolFee) and
 * `openrouter:web_fetch` tools (fetchToolFee), added up, none run with `tool_choice: none`; its web
 * plugin (`plugins: [{ id: "web" }]`, deprecated, or a model slug ending `:online`, the client's or
 * the deployment's). The plugin's Exa results are billed per result; a provider's native search (and
 * the other engines) is passed through at the provider's price, which the proxy holds at $0.01 a
 * result: Claude's $10 per 1,000 searches, at most one search per result. Held only: OpenRouter's
 * answer documents no count of the plugin's results, nor of the fetches, nor their fees (`usage.cost`
 * is the whole call's, `server_tool_use_details.web_search_requests` counts searches and
 * `tool_calls_requested` every server tool's calls), so the call is billed what it reports.
 */
export function openRouterWebFee(chat: ChatCompletionRequest, route: Route): number {
  if (route.provider.kind !== 'openrouter') return 0;
  let tools = 0;
  if (Array.isArray(chat.tools) && chat.tool_choice !== 'none') {
    for (const tool of chat.tools) {
      if (!isRecord(tool)) continue;
      if (tool.type === OPENROUTER_WEB_SEARCH) tools += searchToolFee(tool.parameters, route.upstreamModel);
      else if (tool.type === OPENROUTER_WEB_FETCH) tools += fetchToolFee(tool.parameters);
    }
  }
  const plugin = Array.isArray(chat.plugins) ? chat.plugins.find((entry): entry is Record<string, unknown> => isRecord(entry) && entry.id === 'web') : undefined;
  if (plugin === undefined && !chat.model.endsWith(':online') && !route.upstreamModel.endsWith(':online')) return tools;
  const asked = plugin?.max_results;
  const results = typeof asked === 'number' && asked >= 0 ? Math.min(asked, MAX_BILLED_SEARCHES) : OPENROUTER_DEFAULT_RESULTS;
  const engine = plugin?.engine;
  const exa = engine === 'exa' || (engine === undefined && !NATIVE_SEARCH.test(route.upstreamModel));
  return tools + results * (exa ? OPENROUTER_RESULT_COST : WEB_SEARCH_COST);
}
