// The shape of a model in the catalog: built-in figures merged with what providers report.
import type { ProviderKind } from '../providers/provider.js';

/** Every capability a model can have; filters, config overrides and the data file use this one list. */
export const CAPABILITIES = [
  'chat',
  'streaming',
  'vision',
  'function_calling',
  'json_mode',
  'structured_outputs',
  'reasoning',
  'embeddings',
  'audio',
  'prompt_caching',
  'completions',
] as const;

export type Capability = (typeof CAPABILITIES)[number];

export const MODALITIES = ['text', 'image', 'audio', 'video', 'file'] as const;

export type Modality = (typeof MODALITIES)[number];

/** What makes a provider write a prompt to its cache (CatalogEntry.cache_writes). */
export const CACHE_WRITE_TRIGGERS = ['cache_control', 'always'] as const;

export type CacheWriteTrigger = (typeof CACHE_WRITE_TRIGGERS)[number];

/**
 * The prices of a provider's long-prompt band: a call whose prompt (cached tokens included) has more
 * than `above_input_tokens` tokens is billed at these rates for all of its tokens, input and output,
 * as OpenAI (above 272K), Gemini Pro and xAI (200K) and Claude Haiku 5.5 (100K) bill. USD per 1K tokens.
 */
export interface LongContextBand {
  above_input_tokens: number;
  input_cost: number;
  output_cost: number;
  /** null or absent: cached tokens in the band are billed as its input, as for the base rates. */
  cached_input_cost?: number | null;
  /** Cache writes in the band (see CatalogEntry); null or absent: billed as the band's input. */
  cache_write_cost?: number | null;
  cache_write_1h_cost?: number | null;
}

/**
 * Base rates a provider has announced for a later date: from `from` (a UTC day, `YYYY-MM-DD`, from its
 * start) a call is billed at these. A rate a change leaves out stays the entry's; a long-context band
 * is not changed by it. USD per 1K tokens.
 */
export interface PriceChange {
  from: string;
  input_cost: number;
  output_cost: number;
  cached_input_cost?: number | null;
  cache_write_cost?: number | null;
  cache_write_1h_cost?: number | null;
}

/**
 * What a provider multiplies every rate of a call by (input, output, cache reads and writes), by how
 * the call ran as its answer's usage says. Claude: fast mode (`usage.speed: "fast"`) and US-only
 * inference (`usage.inference_geo: "us"`), which stack ("Data residency multipliers apply on top of
 * fast mode pricing"; prompt-caching multipliers apply on top of both).
 * @see https://platform.claude.com/docs/en/about-claude/pricing#fast-mode-pricing
 * @see https://platform.claude.com/docs/en/about-claude/pricing#data-residency-pricing
 */
export interface RateMultipliers {
  /** A call that ran in fast mode. Absent: the model has no fast-mode price (billed at its rates). */
  fast?: number;
  /** By the geography inference ran in (e.g. `{"us": 1.1}`); one not listed (`global`): 1. */
  inference_geo?: Readonly<Record<string, number>>;
}

/** One entry of builtin-models.json. Costs are USD per 1K tokens; null means not known. */
export interface CatalogEntry {
  /** What a chat request's `model` takes, e.g. "gpt-4o", "claude-3-5-sonnet-20241022". */
  id: string;
  /** Display name, e.g. "GPT-4o". */
  name: string;
  /** The provider kind that serves it natively. */
  provider: ProviderKind;
  context_length: number | null;
  max_output_tokens: number | null;
  input_cost: number | null;
  output_cost: number | null;
  cached_input_cost?: number | null;
  /**
   * Prompt tokens written to the provider's cache, where the provider bills them above input
   * (Anthropic: 1.25x input for the 5-minute cache, 2x for the 1-hour one). null or absent: billed
   * as input. `cache_write_1h_cost` absent: 1-hour writes at `cache_write_cost`.
   */
  cache_write_cost?: number | null;
  cache_write_1h_cost?: number | null;
  /**
   * When the provider writes a prompt to its cache: `cache_control`, only for a request that marks
   * what to cache (Anthropic's Messages API, Claude on OpenRouter); `always`, every uncached prompt
   * by itself (OpenAI). Absent: `always`, the dearer reading, for budget holds (src/catalog/call-cost.ts).
   */
  cache_writes?: CacheWriteTrigger;
  /** Announced changes of the base rates, in date order; the fields above are the rates before the first. */
  price_changes?: PriceChange[];
  /** The rates past a prompt-length threshold; absent or null when one price covers every prompt. */
  long_context?: LongContextBand | null;
  /** Multipliers of every rate by how the call ran (fast mode, inference geography); absent: none. */
  rate_multipliers?: RateMultipliers;
  supports_chat: boolean;
  supports_streaming: boolean;
  capabilities: Capability[];
  modalities: { input: Modality[]; output: Modality[] };
  /** Other names the provider accepts for the same model (e.g. "claude-3-5-sonnet-latest"). */
  aliases?: string[];
  deprecated?: boolean;
  /** Where the figures come from, and when they were read. */
  source: { url: string; date: string };
}

export interface CatalogFile {
  version: number;
  updated: string;
  models: CatalogEntry[];
}
