// Token limits and budgets around one chat call (tensorzero's way: estimated up front, settled after).
// Before the call: prompt tokens counted locally plus the most the answer may hold (max_tokens, or
// the catalog's max output) × n are taken from the key's tokens-per-minute window, and the most the
// call can cost is held against its budget. After it, the usage record settles both with what the
// provider reported. A key with neither a token limit nor a budget skips all of this.
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CatalogEntry } from '../catalog/catalog-types.js';
import { heldCost, heldMultiplier, heldWrites, PROVIDER_COUNT_SLACK, webSearchCost, type HeldWrites } from '../catalog/call-cost.js';
import type { ModelCatalog } from '../catalog/model-catalog.js';
import { rateLimited } from '../errors/gateway-error.js';
import type { Logger } from '../logging/logger.js';
import { tokensBeside } from '../openai/billing-fields.js';
import { OPENROUTER_WEB_FETCH, OPENROUTER_WEB_SEARCH, type ChatCompletionRequest, type CompletionUsage } from '../openai/types.js';
import type { Route } from '../routing/model-router.js';
import { routeAnswering } from '../usage/openrouter-fallbacks.js';
import { countTokens } from '../usage/token-counts.js';
import { CHAT_BUDGET_REMEDY, type BudgetLedger, type HoldMode } from './budget-ledger.js';
import { cacheControlWrites } from './cache-control-marks.js';
import type { RateLimiter, Reservation } from './memory-rate-limiter.js';
import { formatOpenAiDuration } from './openai-duration.js';
import { shareNote } from './instance-registry.js';
import { compactionTrigger } from './compaction-bound.js';
import { claudeRuns, claudeRunsHold, SERVER_LOOP_ITERATIONS, TRANSLATED_SEARCH_RUNS } from './claude-runs-bound.js';
import { openRouterWebFee, searchBound } from './web-search-bound.js';

/** Output allowance when neither the request nor the catalog bounds it. */
const DEFAULT_MAX_OUTPUT = 4_096;
/** After the client's connection closes, how long a hold waits for its usage record before it is given back. */
const ORPHAN_GRACE_MS = 5_000;

interface Hold {
  /** Also the usage record's id, which is how the database settles the budget hold. */
  id: string;
  keyId: string;
  tpmKey: string;
  tokens: number;
  /** Where the tokens were counted (the limiter's decision): settlement corrects that counter and window. */
  tpmReservation: Reservation;
  budget: number;
  budgetMode: HoldMode | undefined;
  done: boolean;
}

/** What a refused request can change to need less, worded for its endpoint (an embeddings call has no max_tokens). */
export interface HoldRemedy {
  /** Ends the token-limit refusal, after "Retry after the time in Retry-After, or". */
  tokens: string;
  /** Ends the budget refusal, a sentence. */
  budget: string;
}

/** Chat's (and the summariser's): both bounded by max_tokens. */
const CHAT_REMEDY: HoldRemedy = { tokens: 'lower max_tokens', budget: CHAT_BUDGET_REMEDY };

/** A chat call that may search the web: its searches are held too, and Claude's can be bounded. */
const SEARCH_REMEDY: HoldRemedy = {
  tokens: CHAT_REMEDY.tokens,
  budget: "Lower max_tokens, shorten the prompt, or allow fewer web searches or fetches (max_uses on Claude's web_search tool and on OpenRouter's web_search and web_fetch tools, web_search_options.search_context_size for Claude on /v1/chat/completions).",
};

/** A model's output limit for a hold: the catalog's, else the default allowance. */
const outputLimitOf = (entry: CatalogEntry): number => entry.max_output_tokens ?? DEFAULT_MAX_OUTPUT;

/** A native Claude call with an advisor or server-side fallbacks: both can be bounded in the request. */
const RUNS_REMEDY: HoldRemedy = {
  tokens: CHAT_REMEDY.tokens,
  budget: 'Lower max_tokens, shorten the prompt, or bound what Claude may run beside the model: max_uses and max_tokens on the advisor tool, fewer or cheaper fallbacks.',
};

/** A native Claude call with MCP servers: the connector's loop holds the prompt once per iteration. */
const MCP_REMEDY: HoldRemedy = {
  tokens: CHAT_REMEDY.tokens,
  budget: `Lower max_tokens or shorten the prompt: Claude runs the tools of the request's mcp_servers in a loop of up to ${SERVER_LOOP_ITERATIONS} iterations, each reading the prompt again (tool_choice none, or no mcp_servers, runs none).`,
};

/** What a route may bill beside the call's tokens (web searches, a Claude compaction), in USD, for a priced `entry`. */
export type HeldExtra = (route: Route, entry: CatalogEntry, promptTokens: number) => number;

/**
 * The most a Claude compaction can add when the prompt may reach `trigger` (Anthropic's count, which
 * may run PROVIDER_COUNT_SLACK past the local one): the summarising iteration reads the whole context
 * (the prompt) and writes a summary no longer than the model's output limit (no documented lower bound).
 * One compaction: a call can compact again only after server tools (web search, code execution)
 * grow the context back to the trigger, which nothing in the request bounds.
 */
function compactionHold(entry: CatalogEntry, promptTokens: number, trigger: number): number {
  if (promptTokens * PROVIDER_COUNT_SLACK < trigger) return 0;
  return heldCost(entry, promptTokens, entry.max_output_tokens ?? DEFAULT_MAX_OUTPUT) ?? 0;
}

/** The output allowance of a call that writes none (embeddings). */
export const NO_OUTPUT = (): number => 0;

/** The cache_control markers of the request that reach a route's provider (src/rate-limit/cache-control-marks.ts). */
export type CacheMarks = (route: Route) => HeldWrites;

/** A request the proxy wrote itself (a summariser's, embeddings): no markers. */
const NO_MARKS: CacheMarks = () => 'none';

/**
 * Each OpenRouter route once more per model its `models` list names: OpenRouter answers with the
 * first that serves, and bills that one's rates, so a hold covers the dearest. A model the catalog
 * does not price adds nothing: the call is billed at the requested model's rates (src/usage/openrouter-fallbacks.ts).
 * @see https://openrouter.ai/docs/guides/routing/model-fallbacks
 */
function withOpenRouterFallbacks(routes: readonly Route[], models: unknown, catalog: ModelCatalog): readonly Route[] {
  if (!Array.isArray(models) || models.length === 0) return routes;
  // Each name once: a list may repeat a name any number of times, and the hold spreads its routes
  // into Math.max (past ~100,000 arguments a RangeError). Distinct priced names are the catalog's.
  const names = new Set<string>();
  for (const model of models as unknown[]) if (typeof model === 'string') names.add(model);
  const reached = [...routes];
  for (const route of routes) {
    if (route.provider.kind !== 'openrouter') continue;
    for (const model of names) {
      const answering = routeAnswering(route, model, catalog);
      if (answering !== undefined) reached.push(answering);
    }
  }
  return reached;
}

export interface ChatAdmissionOptions {
  rateLimiter: RateLimiter;
  ledger: BudgetLedger;
  catalog: ModelCatalog;
  defaultTpm: number;
  logger: Logger;
}

export class ChatAdmission {
  private readonly holds = new WeakMap<FastifyRequest, Hold>();

  constructor(private readonly options: ChatAdmissionOptions) {}

  /** Whether the request's key has a token limit or a budget: without either there is nothing to hold (no count, no promise). */
  needsHold(request: FastifyRequest): boolean {
    const principal = request.principal;
    if (principal === null) return false;
    return (principal.tpmLimit ?? this.options.defaultTpm) > 0 || principal.maxBudget !== undefined;
  }

  /**
   * Takes the request's tokens and budget, or throws 429/403 with what was exceeded. `planned` are the
   * deployments that may serve it: the hold covers the dearest, since a retry may land on any.
   * `nativeBody`: the client's own body, when a native call (src/anthropic-api/native-messages.ts)
   * sends it as it came to the routes that do not take OpenAI's format.
   */
  async reserve(request: FastifyRequest, reply: FastifyReply, chat: ChatCompletionRequest, planned: readonly Route[], nativeBody?: unknown): Promise<void> {
    // OpenRouter's fallbacks (`models`) are models the call may reach too: one property read without them.
    const routes = chat.models === undefined ? planned : withOpenRouterFallbacks(planned, chat.models, this.options.catalog);
    const choices = Math.max(1, chat.n ?? 1);
    const asked = chat.max_completion_tokens ?? chat.max_tokens ?? undefined;
    const outputOf = (route: Route | undefined) => (asked ?? route?.entry?.max_output_tokens ?? DEFAULT_MAX_OUTPUT) * choices;
    // Markers reach a provider in the body it gets: an OpenAI-format one gets the chat request as it
    // came (it passes through); a native call's translated routes get `nativeBody`; a translated chat
    // call keeps them where its codec carries them (Anthropic's conversion does, Gemini's does not).
    // Each body is walked once at most, and only for a model that writes what is marked at a price (heldWrites).
    let chatMarks: HeldWrites | undefined;
    let nativeMarks: HeldWrites | undefined;
    const marksOf: CacheMarks = (route) => {
      const codec = route.provider.codec;
      if (codec.passthrough) return (chatMarks ??= cacheControlWrites(chat));
      if (nativeBody !== undefined) return (nativeMarks ??= cacheControlWrites(nativeBody));
      return codec.keepsCacheControl === true ? (chatMarks ??= cacheControlWrites(chat)) : 'none';
    };
    // Claude's fast mode and inference geography multiply its rates (src/catalog/call-cost.ts heldMultiplier).
    const scaleOf = (route: Route): number => heldMultiplier(route.entry, nativeBody);
    if (request.principal?.maxBudget === undefined) return this.reserveTokens(request, reply, () => countTokens({ kind: 'request', chat }), routes, outputOf, CHAT_REMEDY, marksOf, undefined, scaleOf);
    // What a call may be billed beside its tokens: web searches (usually none asked: a few property
    // reads) and a compaction Claude may run first (src/rate-limit/compaction-bound.ts).
    const searches = searchBound(chat, nativeBody);
    const trigger = nativeBody === undefined ? undefined : compactionTrigger(nativeBody);
    // What Claude may run beside one sampling of the model: a server-tool or MCP loop, an advisor, fallback
    // models (src/rate-limit/claude-runs-bound.ts); a translated chat request, its web search's loop.
    const runs = nativeBody !== undefined ? claudeRuns(nativeBody) : chat.web_search_options !== undefined && chat.web_search_options !== null ? TRANSLATED_SEARCH_RUNS : undefined;
    const extraOf: HeldExtra = (route, entry, promptTokens) => {
      let extra = openRouterWebFee(chat, route);
      if (searches !== undefined) extra += webSearchCost(entry, searches(route));
      if (route.provider.kind !== 'anthropic') return extra;
      if (trigger !== undefined) extra += compactionHold(entry, promptTokens, trigger) * scaleOf(route);
      if (runs !== undefined) {
        const { provider } = route;
        extra += claudeRunsHold(runs, {
          entry,
          entryOf: (model) => this.options.catalog.entryFor(provider, model),
          promptTokens,
          output: outputOf(route),
          asked,
          limit: outputLimitOf,
          writesOf: (model) => heldWrites(model, () => marksOf(route)),
          scale: scaleOf(route),
          body: nativeBody,
        });
      }
      return extra;
    };
    const searching = searches !== undefined || chat.plugins !== undefined || chat.tools?.some((tool) => tool.type === OPENROUTER_WEB_SEARCH || tool.type === OPENROUTER_WEB_FETCH) === true || chat.model.endsWith(':online') || routes.some((route) => route.upstreamModel.endsWith(':online'));
    const remedy = runs !== undefined && (runs.advisors.length > 0 || runs.fallbacks === 'default' || runs.fallbacks.length > 0) ? RUNS_REMEDY : searching ? SEARCH_REMEDY : runs?.mcp === true ? MCP_REMEDY : CHAT_REMEDY;
    return this.reserveTokens(request, reply, () => countTokens({ kind: 'request', chat }), routes, outputOf, remedy, marksOf, extraOf, scaleOf);
  }

  /**
   * The same holds for a call sized another way (embeddings: its input tokens, no output).
   * `countPrompt` runs only when the key has a token limit or a budget; `remedy` words a refusal;
   * `marksOf` says what the request asks providers to write to their prompt caches; `extraOf`, when
   * given, what a route may bill beside the tokens (web searches, a compaction); `scaleOf`, what a
   * route's token rates are multiplied by (Claude's fast mode and inference geography).
   */
  async reserveTokens(
    request: FastifyRequest,
    reply: FastifyReply,
    countPrompt: () => Promise<number>,
    routes: readonly Route[],
    outputOf: (route: Route | undefined) => number = NO_OUTPUT,
    remedy: HoldRemedy = CHAT_REMEDY,
    marksOf: CacheMarks = NO_MARKS,
    extraOf?: HeldExtra,
    scaleOf?: (route: Route) => number,
  ): Promise<void> {
    const principal = request.principal;
    if (principal === null) return;
    const tpm = principal.tpmLimit ?? this.options.defaultTpm;
    const budget = principal.maxBudget;
    if (tpm <= 0 && budget === undefined) return;

    const promptTokens = await countPrompt();
    const candidates: ReadonlyArray<Route | undefined> = routes.length === 0 ? [undefined] : routes;
    const maxOutput = Math.max(...candidates.map(outputOf));
    const hold: Hold = { id: randomUUID(), keyId: principal.keyId, tpmKey: `tpm:${principal.stableId ?? principal.keyId}`, tokens: 0, tpmReservation: { windowStart: 0 }, budget: 0, budgetMode: undefined, done: false };

    if (tpm > 0) {
      // A request larger than the whole limit is let through on an empty window rather than never.
      const tokens = Math.min(tpm, promptTokens + maxOutput);
      const decision = await this.options.rateLimiter.consume(hold.tpmKey, tpm, tokens, Date.now());
      reply.header('x-ratelimit-limit-tokens', decision.limit);
      reply.header('x-ratelimit-remaining-tokens', decision.remaining);
      reply.header('x-ratelimit-reset-tokens', formatOpenAiDuration(decision.resetMs));
      if (!decision.allowed) {
        throw rateLimited(
          `Token rate limit reached: this key may use ${decision.limit} tokens per minute${shareNote(decision.limit, tpm)} and this request may need up to ${tokens}. Retry after the time in Retry-After, or ${remedy.tokens}.`,
          decision.resetMs,
        );
      }
      hold.tokens = tokens;
      hold.tpmReservation = decision;
    }

    if (budget !== undefined) {
      // A model without a price in the catalog holds nothing: set its price under model_catalog to bill it.
      // A prompt the provider may count past a long-context threshold is held at the band's rates, and
      // one the provider may write to its cache at the write rate (src/catalog/call-cost.ts heldWrites).
      const amount = Math.max(
        ...candidates.map((route) => {
          if (route === undefined) return 0;
          const writes = heldWrites(route.entry, () => marksOf(route));
          const base = this.options.catalog.heldCost(route.entry, promptTokens, outputOf(route), writes);
          const tokens = base === undefined || scaleOf === undefined ? base : base * scaleOf(route);
          // As billed (src/http/usage-record.ts usageCost): the rest only beside a known token price.
          if (tokens === undefined || route.entry === undefined || extraOf === undefined) return tokens ?? 0;
          return tokens + extraOf(route, route.entry, promptTokens);
        }),
      );
      try {
        hold.budgetMode = await this.options.ledger.hold(principal.keyId, hold.id, amount, remedy.budget);
        hold.budget = amount;
      } catch (error) {
        this.giveBackTokens(hold);
        throw error;
      }
    }

    this.holds.set(request, hold);
    // A path that ends without a usage record must not keep the hold until the sweeper finds it.
    reply.raw.once('close', () => {
      if (!hold.done) setTimeout(() => this.release(hold), ORPHAN_GRACE_MS).unref();
    });
  }

  /**
   * Settles the request's holds from its real usage; returns the fields the usage record needs
   * (its id, which settles the budget hold when the record reaches the database). The budget hold
   * stops counting here, at once: the call is over, and the ledger counts its real cost instead
   * until the record lands. The caller records the usage right after (the ledger expects it).
   */
  settle(request: FastifyRequest, usage: CompletionUsage | undefined, cost: number | undefined): { id?: string; budgetHeld?: boolean } {
    const hold = this.holds.get(request);
    if (hold === undefined || hold.done) return {};
    hold.done = true;
    this.holds.delete(request);
    if (hold.tokens > 0) {
      // Claude's compaction and advisor iterations count against rate limits too, beside the top-level counts.
      const beside = tokensBeside(usage);
      const used = usage === undefined ? 0 : Math.max(0, usage.prompt_tokens) + Math.max(0, usage.completion_tokens) + beside.prompt + beside.completion;
      this.adjustTokens(hold, used - hold.tokens);
    }
    if (hold.budgetMode !== undefined) this.options.ledger.settle(hold.keyId, hold.id, hold.budgetMode, hold.budget, cost ?? 0);
    return hold.budgetMode === 'store' ? { id: hold.id, budgetHeld: true } : { id: hold.id };
  }

  /** Gives the request's holds back unspent: the call they were taken for was never made (no usage record will settle them). */
  cancel(request: FastifyRequest): void {
    const hold = this.holds.get(request);
    if (hold === undefined) return;
    this.holds.delete(request);
    this.release(hold);
  }

  private release(hold: Hold): void {
    if (hold.done) return;
    hold.done = true;
    this.giveBackTokens(hold);
    if (hold.budgetMode === 'store') void this.options.ledger.release(hold.id, hold.keyId, hold.budget);
    else if (hold.budgetMode === 'local') this.options.ledger.settle(hold.keyId, hold.id, 'local', hold.budget, 0);
  }

  private giveBackTokens(hold: Hold): void {
    if (hold.tokens > 0) this.adjustTokens(hold, -hold.tokens);
  }

  private adjustTokens(hold: Hold, delta: number): void {
    if (delta === 0 || !Number.isFinite(delta)) return;
    try {
      const pending = this.options.rateLimiter.adjust(hold.tpmKey, delta, hold.tpmReservation);
      if (pending instanceof Promise) pending.catch(() => undefined);
    } catch (error) {
      this.options.logger.warn({ component: 'rate-limit', err: error instanceof Error ? error.message : String(error) }, 'token settlement failed');
    }
  }
}
