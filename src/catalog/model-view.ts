// The public `Model` objects of /api/models: every name the router can route, merged with the
// catalog's figures and what the provider's list reported. Pure: no I/O; `now` only picks the
// announced price changes already in force.
import { Type, type TSchema } from '@sinclair/typebox';
import { baseRatesAt, changeStart } from './call-cost.js';
import type { CatalogEntry, LongContextBand, PriceChange, RateMultipliers } from './catalog-types.js';
import type { DiscoveredModel } from '../providers/provider.js';

/** One model as clients see it. Costs are USD per 1K tokens; null means not known. */
export interface ModelView {
  /** What a chat request's `model` takes. */
  id: string;
  name: string;
  /** The configured provider that serves it (its name in the config, e.g. "openai"). */
  provider: string;
  /** null when the catalog does not know the model (a provider reported it, nothing more). */
  supports_chat: boolean | null;
  supports_streaming: boolean | null;
  capabilities: string[];
  context_length: number | null;
  max_output_tokens: number | null;
  input_cost: number | null;
  output_cost: number | null;
  cached_input_cost: number | null;
  /** Prompt-cache writes, 5-minute and 1-hour (null: billed as input; the 1-hour one null: at the 5-minute rate). */
  cache_write_cost: number | null;
  cache_write_1h_cost: number | null;
  /** Base rates announced for later dates (UTC days), not yet in force: the costs above change to them then. */
  price_changes: PriceChange[];
  /**
   * The provider's rates for a call whose prompt has more than `above_input_tokens` tokens (all of its
   * tokens, input and output); null when one price covers every prompt. The fields above stay the base rates.
   */
  long_context: {
    above_input_tokens: number;
    input_cost: number;
    output_cost: number;
    cached_input_cost: number | null;
    cache_write_cost: number | null;
    cache_write_1h_cost: number | null;
  } | null;
  /**
   * What every rate of a call is multiplied by for how it ran (Claude's fast mode, and inference
   * geography by region: `{"us": 1.1}`; one not listed is 1), stacked; `fast` null when the model has
   * no fast-mode price. null when the model's rates take no multiplier.
   */
  rate_multipliers: { fast: number | null; inference_geo: Record<string, number> } | null;
  modalities: { input: string[]; output: string[] } | null;
  /** Other names that route to this model (the catalog's aliases). */
  aliases: string[];
  /** For a config alias (`aliases:` in the config): the name it points at. */
  alias_of: string | null;
  deprecated: boolean;
  owned_by: string;
  /** Unix seconds, when the provider's list reported it. */
  created: number | null;
  /** The provider's list endpoint reported it. */
  discovered: boolean;
  /** The provider's list could not be read on the last attempt: figures may be out of date. */
  stale: boolean;
  /** The `provider/model` names that always route to it. */
  routes: string[];
  /** Where the catalog's figures come from; null when only the provider reported the model. */
  source: { url: string; date: string } | null;
}

/** What the router knows of one routable name (`RoutableModel` fits). */
export interface ViewSource {
  id: string;
  provider: { readonly name: string };
  entry: CatalogEntry | undefined;
  discovered: DiscoveredModel | undefined;
  /** Set for config aliases: the name they point at. */
  aliasOf?: string;
  /** The name the upstream expects, when it is not `id` (a `provider/model` lookup). */
  upstreamModel?: string;
  /** For a configured model group (`models:` in the config): its deployments as `provider/model`. */
  routes?: readonly string[];
}

/** One view from one source. Catalog figures (config overrides included) first, then what the provider reported. */
export function createModelView(source: ViewSource, stale: boolean, now = Date.now()): ModelView {
  const { entry, discovered } = source;
  const provider = source.provider.name;
  // The base rates in force at `now`: a catalog price change announced for a date past shows as the price.
  const rates = entry === undefined ? undefined : baseRatesAt(entry, now);
  return {
    id: source.id,
    name: entry?.name ?? discovered?.name ?? source.id,
    provider,
    supports_chat: entry?.supports_chat ?? null,
    supports_streaming: entry?.supports_streaming ?? null,
    capabilities: entry === undefined ? [] : [...entry.capabilities],
    context_length: entry?.context_length ?? discovered?.contextLength ?? null,
    max_output_tokens: entry?.max_output_tokens ?? discovered?.maxOutputTokens ?? null,
    input_cost: rates?.input_cost ?? null,
    output_cost: rates?.output_cost ?? null,
    cached_input_cost: rates?.cached_input_cost ?? null,
    cache_write_cost: rates?.cache_write_cost ?? null,
    cache_write_1h_cost: rates?.cache_write_1h_cost ?? null,
    price_changes: (entry?.price_changes ?? []).filter((change) => changeStart(change) > now).map((change) => ({ ...change })),
    long_context: bandView(entry?.long_context),
    rate_multipliers: multipliersView(entry?.rate_multipliers),
    modalities: entry === undefined ? null : { input: [...entry.modalities.input], output: [...entry.modalities.output] },
    aliases: [],
    alias_of: null,
    deprecated: entry?.deprecated ?? false,
    owned_by: provider,
    created: discovered?.created ?? null,
    discovered: discovered !== undefined,
    stale,
    routes: source.routes === undefined ? [`${provider}/${source.upstreamModel ?? source.id}`] : [...source.routes],
    source: entry === undefined ? null : { url: entry.source.url, date: entry.source.date },
  };
}

function bandView(band: LongContextBand | null | undefined): ModelView['long_context'] {
  if (band === undefined || band === null) return null;
  return {
    above_input_tokens: band.above_input_tokens,
    input_cost: band.input_cost,
    output_cost: band.output_cost,
    cached_input_cost: band.cached_input_cost ?? null,
    cache_write_cost: band.cache_write_cost ?? null,
    cache_write_1h_cost: band.cache_write_1h_cost ?? null,
  };
}

function multipliersView(multipliers: RateMultipliers | undefined): ModelView['rate_multipliers'] {
  if (multipliers === undefined) return null;
  return { fast: multipliers.fast ?? null, inference_geo: { ...multipliers.inference_geo } };
}

/** Folds what a provider reported under an alias into the model's view, where the catalog left gaps. */
function absorbDiscovered(view: ModelView, discovered: DiscoveredModel | undefined): void {
  if (discovered === undefined) return;
  view.discovered = true;
  view.context_length ??= discovered.contextLength ?? null;
  view.max_output_tokens ??= discovered.maxOutputTokens ?? null;
  view.created ??= discovered.created ?? null;
}

/**
 * Each model once, in the router's order: a catalog alias is listed on its model's `aliases`, not
 * as a model of its own; a config alias is a model of its own, marked `alias_of`, with the figures
 * of what it points at; a configured model group is one model whose `routes` are its deployments.
 */
export function buildModelViews(sources: readonly ViewSource[], isStale: (provider: string) => boolean = () => false, now = Date.now()): ModelView[] {
  const views: ModelView[] = [];
  /** Names a client sends as `model` (ids and catalog aliases) → view. */
  const byName = new Map<string, ModelView>();
  /** `provider/model` forms → view. */
  const byRoute = new Map<string, ModelView>();
  /** Provider + catalog entry id → the view listing that entry. */
  const byEntry = new Map<string, ModelView>();
  const catalogAliases: ViewSource[] = [];
  const configAliases: ViewSource[] = [];
  const add = (view: ModelView, group = false) => {
    views.push(view);
    byName.set(view.id, view);
    // A group's routes name its deployments: a config alias to one of them reaches that one alone.
    if (!group) for (const route of view.routes) if (!byRoute.has(route)) byRoute.set(route, view);
  };

  for (const source of sources) {
    // A model listed as `provider/model` is the catalog's model (or alias) by its upstream name.
    const name = source.upstreamModel ?? source.id;
    if (source.aliasOf !== undefined) configAliases.push(source);
    else if (source.routes === undefined && source.entry?.id !== name && source.entry?.aliases?.includes(name)) catalogAliases.push(source);
    else if (!byName.has(source.id)) {
      // A model group named after a catalog model (or anything else) is a model of its own.
      const view = createModelView(source, isStale(source.provider.name), now);
      add(view, source.routes !== undefined);
      if (source.entry?.id === name) byEntry.set(`${source.provider.name}\n${source.entry.id}`, view);
    }
  }

  for (const source of catalogAliases) {
    if (byName.has(source.id)) continue;
    const entry = source.entry as CatalogEntry;
    const key = `${source.provider.name}\n${entry.id}`;
    const view = byEntry.get(key);
    if (view !== undefined) {
      view.aliases.push(source.id);
      byName.set(source.id, view);
      absorbDiscovered(view, source.discovered);
      continue;
    }
    // The model's own id routes elsewhere (or not at all): the alias is the name that reaches it here.
    const own = createModelView(source, isStale(source.provider.name), now);
    add(own);
    byEntry.set(key, own);
  }

  for (const source of configAliases) {
    if (byName.has(source.id)) continue;
    const target = resolveTarget(source, byName, byRoute, configAliases);
    const view: ModelView =
      target === undefined
        ? createModelView({ ...source, upstreamModel: upstreamOf(source) }, isStale(source.provider.name), now)
        : { ...target, id: source.id, capabilities: [...target.capabilities], routes: [...target.routes] };
    view.alias_of = source.aliasOf ?? null;
    view.aliases = [];
    views.push(view);
    byName.set(source.id, view);
  }
  return views;
}

/**
 * The view a config alias points at, following alias chains a few steps as the router does. Only a
 * view on the provider the router chose counts (`openai/x` names a provider before it names an id).
 */
function resolveTarget(
  source: ViewSource,
  byName: ReadonlyMap<string, ModelView>,
  byRoute: ReadonlyMap<string, ModelView>,
  aliases: readonly ViewSource[],
): ModelView | undefined {
  let name = source.aliasOf;
  for (let depth = 0; name !== undefined && depth < 4; depth++) {
    for (const found of [byRoute.get(name), byName.get(name)]) {
      if (found !== undefined && found.provider === source.provider.name && found.alias_of === null) return found;
    }
    const next: string = name;
    name = aliases.find((alias) => alias.id === next)?.aliasOf;
  }
  return undefined;
}

/** The upstream name a config alias reaches, as far as its target says. */
function upstreamOf(source: ViewSource): string {
  const target = source.aliasOf ?? source.id;
  const prefix = `${source.provider.name}/`;
  return target.startsWith(prefix) ? target.slice(prefix.length) : target;
}

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Price = (description: string) => nullable(Type.Number({ minimum: 0, description: `${description} USD per 1K tokens; null: not known.` }));

/** The `Model` object as /openapi.json documents it; model-view.test.ts holds createModelView to it. */
export const ModelViewSchema = Type.Object(
  {
    id: Type.String({ description: 'What a chat request\'s `model` takes.' }),
    name: Type.String(),
    provider: Type.String({ description: 'The configured provider that serves it.' }),
    supports_chat: nullable(Type.Boolean()),
    supports_streaming: nullable(Type.Boolean()),
    capabilities: Type.Array(Type.String()),
    context_length: nullable(Type.Integer()),
    max_output_tokens: nullable(Type.Integer()),
    input_cost: Price('Base input rate (prompts up to `long_context.above_input_tokens`),'),
    output_cost: Price('Base output rate,'),
    cached_input_cost: Price('Base cached-input rate (null: billed as input),'),
    cache_write_cost: Price('Base prompt-cache write rate, 5-minute cache (null: billed as input),'),
    cache_write_1h_cost: Price('Base prompt-cache write rate, 1-hour cache (null: at the 5-minute rate),'),
    price_changes: Type.Array(
      Type.Object({
        from: Type.String({ description: 'The UTC day (YYYY-MM-DD) from whose start these base rates apply.' }),
        input_cost: Type.Number({ minimum: 0 }),
        output_cost: Type.Number({ minimum: 0 }),
        cached_input_cost: Type.Optional(nullable(Type.Number({ minimum: 0 }))),
        cache_write_cost: Type.Optional(nullable(Type.Number({ minimum: 0 }))),
        cache_write_1h_cost: Type.Optional(nullable(Type.Number({ minimum: 0 }))),
      }),
      { description: "Announced base-rate changes not yet in force, USD per 1K tokens; a rate a change leaves out stays as it is." },
    ),
    long_context: nullable(
      Type.Object(
        {
          above_input_tokens: Type.Integer({ description: 'A call whose prompt (cached tokens included) has more tokens than this is billed at these rates for all of its tokens.' }),
          input_cost: Type.Number({ minimum: 0 }),
          output_cost: Type.Number({ minimum: 0 }),
          cached_input_cost: nullable(Type.Number({ minimum: 0 })),
          cache_write_cost: nullable(Type.Number({ minimum: 0 })),
          cache_write_1h_cost: nullable(Type.Number({ minimum: 0 })),
        },
        { description: 'The long-prompt band, USD per 1K tokens; null when one price covers every prompt.' },
      ),
    ),
    rate_multipliers: nullable(
      Type.Object(
        {
          fast: nullable(Type.Number({ exclusiveMinimum: 0, description: 'A call run in fast mode (`speed: "fast"`); null: the model has no fast-mode price.' })),
          inference_geo: Type.Record(Type.String(), Type.Number({ exclusiveMinimum: 0 }), { description: 'By the geography inference ran in (`inference_geo`); one not listed: 1.' }),
        },
        { description: 'What every rate of a call (input, output, cache reads and writes) is multiplied by for how it ran, stacked; null: none.' },
      ),
    ),
    modalities: nullable(Type.Object({ input: Type.Array(Type.String()), output: Type.Array(Type.String()) })),
    aliases: Type.Array(Type.String()),
    alias_of: nullable(Type.String()),
    deprecated: Type.Boolean(),
    owned_by: Type.String(),
    created: nullable(Type.Integer()),
    discovered: Type.Boolean(),
    stale: Type.Boolean(),
    routes: Type.Array(Type.String()),
    source: nullable(Type.Object({ url: Type.String(), date: Type.String() })),
  },
  { title: 'Model', description: 'One model of the catalog. Costs are USD per 1K tokens.' },
);
