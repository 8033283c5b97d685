// The model catalog: built-in figures (builtin-models.json, shipped with the code, never fetched),
// looked up by id or alias, and by the provider that serves a model. One source of context windows,
// limits and prices.
import builtin from './builtin-models.json' with { type: 'json' };
import { callCost, heldCost, type HeldWrites } from './call-cost.js';
import { applyCatalogPatches, type CatalogEntryPatch } from './catalog-patch.js';
import type { CatalogEntry, CatalogFile } from './catalog-types.js';
import type { DiscoveredModel, ProviderKind } from '../providers/provider.js';

/**
 * Provider kinds that sell another kind's models under the same names at its list prices: Azure
 * OpenAI deploys OpenAI's models (a deployment named `gpt-4o` is OpenAI's gpt-4o, priced alike).
 */
const RESOLD: Partial<Record<ProviderKind, ProviderKind>> = { azure: 'openai' };

/** OpenRouter's suffix for a model with its web plugin on. */
const ONLINE = ':online';

export class ModelCatalog {
  private readonly byName = new Map<string, CatalogEntry>();
  private readonly byKind = new Map<ProviderKind, CatalogEntry[]>();

  /** `unrouted`: ids looked up by name but never routed by kind (config entries without a provider). */
  constructor(
    readonly entries: readonly CatalogEntry[],
    private readonly unrouted: ReadonlySet<string> = new Set(),
  ) {
    for (const entry of entries) {
      this.byName.set(entry.id, entry);
      for (const alias of entry.aliases ?? []) if (!this.byName.has(alias)) this.byName.set(alias, entry);
      if (unrouted.has(entry.id)) continue;
      const list = this.byKind.get(entry.provider);
      if (list === undefined) this.byKind.set(entry.provider, [entry]);
      else list.push(entry);
    }
  }

  /** The shipped catalog, with the config's `model_catalog` patches merged over it. */
  static builtin(patches: Readonly<Record<string, CatalogEntryPatch>> = {}, today = new Date().toISOString().slice(0, 10)): ModelCatalog {
    const patched = applyCatalogPatches((builtin as CatalogFile).models, patches, today);
    return new ModelCatalog(patched.entries, patched.unrouted);
  }

  /** The entry for a model id or alias, if the catalog knows it. */
  get(name: string): CatalogEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * The entry whose figures apply to `model` on `provider`: the config's entry for `provider/model`,
   * else the entry named `model` when it is that provider kind's own or a config entry that names no
   * provider (or whose models that kind resells: Azure's are OpenAI's). Another provider's model of
   * the same name is not this one: its prices and limits are not this provider's (Groq's `gpt-4o` is
   * not billed at OpenAI's price).
   */
  entryFor(provider: { readonly name: string; readonly kind: ProviderKind }, model: string): CatalogEntry | undefined {
    const qualified = `${provider.name}/${model}`;
    if (this.unrouted.has(qualified)) return this.byName.get(qualified);
    // OpenRouter's `:online` variant is its model with the web plugin: the same token prices (the
    // plugin's fees are held apart, src/rate-limit/web-search-bound.ts, and billed only as far as
    // OpenRouter reports searches: it documents no count of the plugin's results).
    const entry = this.byName.get(model) ?? (provider.kind === 'openrouter' && model.endsWith(ONLINE) ? this.byName.get(model.slice(0, -ONLINE.length)) : undefined);
    if (entry === undefined) return undefined;
    return entry.provider === provider.kind || RESOLD[provider.kind] === entry.provider || this.unrouted.has(entry.id) ? entry : undefined;
  }

  /** Every entry served natively by one kind of provider. */
  forKind(kind: ProviderKind): readonly CatalogEntry[] {
    return this.byKind.get(kind) ?? [];
  }

  /** Cost in USD of one call, from the catalog's per-1K prices (its long-context band past the threshold); undefined when a price is unknown. */
  cost(entry: CatalogEntry | undefined, promptTokens: number, completionTokens: number, cachedTokens = 0, writtenTokens = 0, written1hTokens = 0, at = Date.now()): number | undefined {
    return callCost(entry, promptTokens, completionTokens, cachedTokens, writtenTokens, written1hTokens, at);
  }

  /** The most a call could cost, for a budget hold before it runs (src/catalog/call-cost.ts). */
  heldCost(entry: CatalogEntry | undefined, promptTokens: number, completionTokens: number, writes: HeldWrites = 'none'): number | undefined {
    return heldCost(entry, promptTokens, completionTokens, writes);
  }
}

/**
 * `entry` with the gaps its provider's list fills (context window, output limit), or an entry of
 * those figures alone when there is none. A list carries no prices: they stay unknown.
 */
export function withReported(entry: CatalogEntry | undefined, reported: DiscoveredModel | undefined, kind: ProviderKind): CatalogEntry | undefined {
  if (reported === undefined || (reported.contextLength === undefined && reported.maxOutputTokens === undefined)) return entry;
  const context = entry?.context_length ?? reported.contextLength ?? null;
  const output = entry?.max_output_tokens ?? reported.maxOutputTokens ?? null;
  if (entry !== undefined) return context === entry.context_length && output === entry.max_output_tokens ? entry : { ...entry, context_length: context, max_output_tokens: output };
  return {
    id: reported.id,
    name: reported.name ?? reported.id,
    provider: kind,
    context_length: context,
    max_output_tokens: output,
    input_cost: null,
    output_cost: null,
    cached_input_cost: null,
    cache_write_cost: null,
    cache_write_1h_cost: null,
    // What the list cannot say is left out: no capability is claimed.
    supports_chat: true,
    supports_streaming: true,
    capabilities: [],
    modalities: { input: ['text'], output: ['text'] },
    source: { url: 'provider:models', date: '' },
  };
}
