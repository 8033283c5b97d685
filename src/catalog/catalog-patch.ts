// Operator overrides of the built-in catalog (the config's `model_catalog:`): each patch is merged
// over the built-in entry with the same id, or creates one. Pure; the config schema validates input.
import type { CacheWriteTrigger, Capability, CatalogEntry, LongContextBand, Modality, PriceChange, RateMultipliers } from './catalog-types.js';
import type { ProviderKind } from '../providers/provider.js';

/** What the config may say about one model. Every field is optional; null means "not known". */
export interface CatalogEntryPatch {
  name?: string;
  /** The provider kind that serves it natively; the model then routes on providers of that kind. */
  provider?: ProviderKind;
  context_length?: number | null;
  max_output_tokens?: number | null;
  input_cost?: number | null;
  output_cost?: number | null;
  cached_input_cost?: number | null;
  cache_write_cost?: number | null;
  cache_write_1h_cost?: number | null;
  cache_writes?: CacheWriteTrigger;
  /** Replaces the entry's announced price changes whole; [] removes them. */
  price_changes?: PriceChange[];
  /** Replaces the entry's long-context band whole; null removes it. */
  long_context?: LongContextBand | null;
  /**
   * Merged field by field over the entry's: `fast` replaces its fast-mode multiplier, `inference_geo`
   * its geography map whole; null removes the field, and `rate_multipliers: null` all of them.
   */
  rate_multipliers?: RateMultipliersPatch | null;
  supports_chat?: boolean;
  supports_streaming?: boolean;
  capabilities?: Capability[];
  modalities?: { input?: Modality[]; output?: Modality[] };
  aliases?: string[];
  deprecated?: boolean;
  source?: { url: string; date: string };
}

/** What the config may say about a model's rate multipliers; null removes a field. */
export interface RateMultipliersPatch {
  fast?: number | null;
  inference_geo?: Readonly<Record<string, number>> | null;
}

export interface PatchedCatalog {
  entries: CatalogEntry[];
  /**
   * Ids of entries the config created without a `provider`: they describe models that discovery, a
   * provider's `models:` list or an alias routes, and route nothing by themselves.
   */
  unrouted: Set<string>;
}

/** Where figures come from when the config set them and named no source of its own. */
export const CONFIG_SOURCE_URL = 'config:model_catalog';

/**
 * Why a price-change list cannot stand, or undefined: a day the calendar lacks (Date.parse reads
 * 2026-02-30 as March 2nd), or two changes on one day (which would win is not said).
 */
export function priceChangesProblem(changes: readonly PriceChange[]): string | undefined {
  const days = new Set<string>();
  for (const change of changes) {
    const start = Date.parse(`${change.from}T00:00:00Z`);
    if (Number.isNaN(start) || new Date(start).toISOString().slice(0, 10) !== change.from) return `${change.from} is not a day of the calendar`;
    if (days.has(change.from)) return `two changes from ${change.from}`;
    days.add(change.from);
  }
  return undefined;
}

/** Merges `patches` over `entries` (keeping their order; new entries last). `today` is `YYYY-MM-DD`. */
export function applyCatalogPatches(
  entries: readonly CatalogEntry[],
  patches: Readonly<Record<string, CatalogEntryPatch>>,
  today: string,
): PatchedCatalog {
  const out = [...entries];
  const unrouted = new Set<string>();
  const position = new Map(out.map((entry, index) => [entry.id, index]));
  // A patch may name a model by one of its aliases; it then changes that model's entry.
  const aliasPosition = new Map<string, number>();
  out.forEach((entry, index) => {
    for (const alias of entry.aliases ?? []) if (!aliasPosition.has(alias)) aliasPosition.set(alias, index);
  });
  for (const [id, patch] of Object.entries(patches)) {
    const source = patch.source ?? { url: CONFIG_SOURCE_URL, date: today };
    const index = position.get(id) ?? aliasPosition.get(id);
    const base = index === undefined ? undefined : out[index];
    if (base !== undefined && index !== undefined) {
      const { rate_multipliers: builtIn, ...kept } = base;
      out[index] = {
        ...kept,
        ...definedFields(patch),
        ...withMultipliers(mergedMultipliers(builtIn, patch.rate_multipliers)),
        id: base.id,
        modalities: {
          input: patch.modalities?.input ?? base.modalities.input,
          output: patch.modalities?.output ?? base.modalities.output,
        },
        source,
      };
      continue;
    }
    const supportsChat = patch.supports_chat ?? true;
    const supportsStreaming = patch.supports_streaming ?? supportsChat;
    const capabilities: Capability[] = patch.capabilities ?? [
      ...(supportsChat ? (['chat'] as const) : []),
      ...(supportsStreaming ? (['streaming'] as const) : []),
    ];
    const created: CatalogEntry = {
      id,
      name: patch.name ?? id,
      // Never used for routing when unrouted; the view shows the configured provider's name instead.
      provider: patch.provider ?? 'openai-compatible',
      context_length: patch.context_length ?? null,
      max_output_tokens: patch.max_output_tokens ?? null,
      input_cost: patch.input_cost ?? null,
      output_cost: patch.output_cost ?? null,
      cached_input_cost: patch.cached_input_cost ?? null,
      cache_write_cost: patch.cache_write_cost ?? null,
      cache_write_1h_cost: patch.cache_write_1h_cost ?? null,
      ...(patch.cache_writes === undefined ? {} : { cache_writes: patch.cache_writes }),
      ...(patch.long_context === undefined || patch.long_context === null ? {} : { long_context: patch.long_context }),
      ...(patch.price_changes === undefined ? {} : { price_changes: patch.price_changes }),
      ...withMultipliers(mergedMultipliers(undefined, patch.rate_multipliers)),
      supports_chat: supportsChat,
      supports_streaming: supportsStreaming,
      capabilities,
      modalities: { input: patch.modalities?.input ?? ['text'], output: patch.modalities?.output ?? ['text'] },
      ...(patch.aliases === undefined ? {} : { aliases: patch.aliases }),
      ...(patch.deprecated === undefined ? {} : { deprecated: patch.deprecated }),
      source,
    };
    if (patch.provider === undefined) unrouted.add(id);
    position.set(id, out.length);
    out.push(created);
  }
  return { entries: out, unrouted };
}

/**
 * `patch` over an entry's multipliers: a field given replaces that field (null removes it), one left
 * out stays. undefined when none is left, as for an entry without any (billing reads one property).
 */
function mergedMultipliers(base: RateMultipliers | undefined, patch: RateMultipliersPatch | null | undefined): RateMultipliers | undefined {
  if (patch === undefined) return base;
  if (patch === null) return undefined;
  const fast = patch.fast === undefined ? base?.fast : (patch.fast ?? undefined);
  const geo = patch.inference_geo === undefined ? base?.inference_geo : (patch.inference_geo ?? undefined);
  const hasGeo = geo !== undefined && Object.keys(geo).length > 0;
  if (fast === undefined && !hasGeo) return undefined;
  return { ...(fast === undefined ? {} : { fast }), ...(hasGeo ? { inference_geo: { ...geo } } : {}) };
}

function withMultipliers(multipliers: RateMultipliers | undefined): { rate_multipliers?: RateMultipliers } {
  return multipliers === undefined ? {} : { rate_multipliers: multipliers };
}

/** The patch without `undefined` values, so an absent field never erases a built-in figure. */
function definedFields(patch: CatalogEntryPatch): Partial<CatalogEntry> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) if (value !== undefined && key !== 'modalities' && key !== 'source' && key !== 'rate_multipliers') out[key] = value;
  return out as Partial<CatalogEntry>;
}
