// The model catalog: built-in figures (builtin-models.json, shipped with the code, never fetched),
// looked up by id or alias. One source of context windows, limits and prices.
import builtin from './builtin-models.json' with { type: 'json' };
import { applyCatalogPatches, type CatalogEntryPatch } from './catalog-patch.js';
import type { CatalogEntry, CatalogFile } from './catalog-types.js';
import type { ProviderKind } from '../providers/provider.js';

export class ModelCatalog {
  private readonly byName = new Map<string, CatalogEntry>();
  private readonly byKind = new Map<ProviderKind, CatalogEntry[]>();

  /** `unrouted`: ids looked up by name but never routed by kind (config entries without a provider). */
  constructor(
    readonly entries: readonly CatalogEntry[],
    unrouted: ReadonlySet<string> = new Set(),
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

  /** Every entry served natively by one kind of provider. */
  forKind(kind: ProviderKind): readonly CatalogEntry[] {
    return this.byKind.get(kind) ?? [];
  }

  /** Cost in USD of one call, from the catalog's per-1K prices; undefined when a price is unknown. */
  cost(entry: CatalogEntry | undefined, promptTokens: number, completionTokens: number, cachedTokens = 0): number | undefined {
    if (entry === undefined || entry.input_cost === null || entry.output_cost === null) return undefined;
    const cachedPrice = entry.cached_input_cost ?? entry.input_cost;
    const uncached = Math.max(0, promptTokens - cachedTokens);
    return (uncached * entry.input_cost + cachedTokens * cachedPrice + completionTokens * entry.output_cost) / 1000;
  }
}
