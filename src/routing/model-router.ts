// Model name → the provider that serves it. `provider/model` always routes to that provider;
// a bare name routes through config aliases, configured model lists, the built-in catalog and
// what each provider's list endpoint reported (refreshed in the background, never per request).
import type { CatalogEntry } from '../catalog/catalog-types.js';
import { withReported, type ModelCatalog } from '../catalog/model-catalog.js';
import { defaultConfig } from '../config/config-loader.js';
import type { Config, ModelGroupConfig } from '../config/config-schema.js';
import type { DiscoveredModel, ProviderInstance } from '../providers/provider.js';
import type { Strategy } from './load-balance.js';

export interface Route {
  provider: ProviderInstance;
  /** The name the upstream expects. */
  upstreamModel: string;
  /** What the client asked for, after aliases: the name usage and answers report. */
  model: string;
  entry: CatalogEntry | undefined;
}

export interface Deployment {
  /** `provider/upstream-model`: the key its health is kept under, shared by every group using it. */
  id: string;
  route: Route;
  weight: number;
}

/** What a requested name resolves to: the deployments to balance over and what to do when they fail. */
export interface ModelGroup {
  name: string;
  deployments: Deployment[];
  strategy: Strategy;
  fallbacks: readonly string[];
  retries: number;
  /** The group's own limits; an absent one is the routing default. */
  timeouts: { connectMs?: number; ttfbMs?: number; idleMs?: number; totalMs?: number };
  /** True when the config declared this group; false for a plain name routed to one provider. */
  configured: boolean;
}

export interface RoutingDefaults {
  strategy: Strategy;
  retries: number;
  fallbacks: readonly string[];
}

export interface RoutableModel {
  id: string;
  provider: ProviderInstance;
  entry: CatalogEntry | undefined;
  discovered: DiscoveredModel | undefined;
  aliasOf?: string;
  /** The name the upstream expects, when it is not `id` (a model listed as `provider/model`, see `rebuild`). */
  upstreamModel?: string;
}

/**
 * Names that can be sent upstream: letters, digits and `._:+-`, with `/` only between
 * non-empty segments that are not `.` or `..`. Anything else (`#?@%\`, spaces, control
 * characters, traversal) never routes, so it can never reach an upstream URL.
 */
const SAFE_MODEL = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._:+-]+(?:\/[A-Za-z0-9._:+-]+)*$/;
export const MAX_MODEL_LENGTH = 256;

export function isSafeModelName(model: string): boolean {
  return model.length > 0 && model.length <= MAX_MODEL_LENGTH && SAFE_MODEL.test(model);
}

/** Same ids with the same fields; the order of the list does not change what routes. */
function sameDiscovered(previous: ReadonlyMap<string, DiscoveredModel> | undefined, next: ReadonlyMap<string, DiscoveredModel>): boolean {
  if ((previous?.size ?? 0) !== next.size) return false;
  if (previous === undefined) return true;
  for (const [id, model] of next) {
    const before = previous.get(id);
    if (before === undefined) return false;
    const keys = Object.keys(model) as (keyof DiscoveredModel)[];
    if (keys.length !== Object.keys(before).length) return false;
    for (const key of keys) if (model[key] !== before[key]) return false;
  }
  return true;
}

/** The router a config describes (aliases, groups, routing defaults), before any provider's list is discovered. */
export function routerFor(config: Config, providers: readonly ProviderInstance[], catalog: ModelCatalog, holdsSecret?: (name: string) => boolean): ModelRouter {
  return new ModelRouter(
    providers,
    catalog,
    config.aliases,
    config.models ?? [],
    {
      strategy: config.routing.strategy ?? 'weighted-random',
      retries: config.routing.retries,
      fallbacks: config.routing.fallbacks ?? [],
    },
    holdsSecret,
  );
}

export class ModelRouter {
  private readonly byName = new Map<string, ProviderInstance>();
  /** Served names a request cannot reach as they are, keyed by the `provider/model` form that does. */
  private readonly qualified = new Map<string, { provider: ProviderInstance; upstreamModel: string }>();
  private readonly providersByName = new Map<string, ProviderInstance>();
  private readonly discovered = new Map<string, Map<string, DiscoveredModel>>();
  private readonly resolved = new Map<string, Route | null>();
  private generation = 0;

  /** Configured groups by name; rebuilt with the names (see buildGroups). */
  private readonly groups = new Map<string, ModelGroup>();
  private readonly implicit = new Map<string, ModelGroup>();
  private readonly defaults: RoutingDefaults;

  constructor(
    readonly providers: readonly ProviderInstance[],
    private readonly catalog: ModelCatalog,
    private readonly aliases: Readonly<Record<string, string>>,
    private readonly groupConfigs: readonly ModelGroupConfig[] = [],
    defaults: Partial<RoutingDefaults> = {},
    /**
     * True for a name holding a secret (the redactor's test). Such a name never routes: as a
     * `provider/model` it would carry the key upstream and into usage rows, breaker state and /metrics.
     */
    private readonly holdsSecret: (name: string) => boolean = () => false,
  ) {
    // Unset, the config's own defaults (one retry: RELIABILITY 4b#1), never a second copy of them.
    this.defaults = { strategy: defaults.strategy ?? 'weighted-random', retries: defaults.retries ?? defaultConfig().routing.retries, fallbacks: defaults.fallbacks ?? [] };
    for (const provider of providers) this.providersByName.set(provider.name, provider);
    this.rebuild();
  }

  /**
   * The configured groups, built again whenever a provider's list changes: a deployment's figures
   * include what its provider reported (new objects, so caches keyed on a group start afresh).
   */
  private buildGroups(): void {
    this.groups.clear();
    for (const group of this.groupConfigs) {
      const deployments: Deployment[] = [];
      for (const deployment of group.deployments) {
        const provider = this.providersByName.get(deployment.provider);
        // A deployment on a provider without a key is left out; start-up logs say why.
        if (provider === undefined || !isSafeModelName(deployment.model)) continue;
        // A group named after a catalog model says what its deployments serve (Azure's `prod-gpt4o` in `gpt-4o`).
        const known = this.known(provider, deployment.model, group.name);
        deployments.push({
          id: `${provider.name}/${deployment.model}`,
          route: { provider, upstreamModel: deployment.model, model: group.name, entry: withReported(known.entry, known.discovered, provider.kind) },
          weight: deployment.weight ?? 1,
        });
      }
      if (deployments.length === 0) continue;
      const timeouts: ModelGroup['timeouts'] = {};
      if (group.timeouts?.connect_s !== undefined) timeouts.connectMs = group.timeouts.connect_s * 1000;
      if (group.timeouts?.ttfb_s !== undefined) timeouts.ttfbMs = group.timeouts.ttfb_s * 1000;
      if (group.timeouts?.idle_s !== undefined) timeouts.idleMs = group.timeouts.idle_s * 1000;
      if (group.timeouts?.total_s !== undefined) timeouts.totalMs = group.timeouts.total_s * 1000;
      this.groups.set(group.name, {
        name: group.name,
        deployments,
        strategy: group.strategy ?? this.defaults.strategy,
        fallbacks: group.fallbacks ?? this.defaults.fallbacks,
        retries: group.retries ?? this.defaults.retries,
        timeouts,
        configured: true,
      });
    }
  }

  /**
   * What is known of `model` on `provider`: the catalog entry that belongs to it (catalog/model-catalog.ts
   * `entryFor`; else `named`'s, a group's name) and what the provider's list reported.
   */
  private known(provider: ProviderInstance, model: string, named?: string): Pick<RoutableModel, 'entry' | 'discovered'> {
    const entry = this.catalog.entryFor(provider, model) ?? (named === undefined ? undefined : this.catalog.get(named));
    return { entry, discovered: this.discovered.get(provider.name)?.get(model) };
  }

  /** A route's figures: its catalog entry, with the gaps its provider's list fills. */
  private route(provider: ProviderInstance, upstreamModel: string, model: string): Route {
    const { entry, discovered } = this.known(provider, upstreamModel);
    return { provider, upstreamModel, model, entry: withReported(entry, discovered, provider.kind) };
  }

  /** The deployments and policy for a requested name; undefined when nothing serves it. */
  plan(requested: string): ModelGroup | undefined {
    const group = this.groups.get(requested);
    if (group !== undefined) return group;
    const alias = Object.hasOwn(this.aliases, requested) ? this.aliases[requested] : undefined;
    if (alias !== undefined && this.groups.has(alias)) return this.groups.get(alias);
    const known = this.implicit.get(requested);
    if (known !== undefined) return known;
    const route = this.resolve(requested);
    if (route === undefined) return undefined;
    const plan: ModelGroup = {
      name: requested,
      deployments: [{ id: `${route.provider.name}/${route.upstreamModel}`, route, weight: 1 }],
      strategy: this.defaults.strategy,
      fallbacks: this.defaults.fallbacks.filter((name) => name !== requested),
      retries: this.defaults.retries,
      timeouts: {},
      configured: false,
    };
    // Built once per name, not per request; bounded like the resolve memo.
    if (this.implicit.size < 10_000) this.implicit.set(requested, plan);
    return plan;
  }

  /** Every configured model group. */
  modelGroups(): readonly ModelGroup[] {
    return [...this.groups.values()];
  }

  provider(name: string): ProviderInstance | undefined {
    return this.providersByName.get(name);
  }

  /**
   * Replaces what one provider's list endpoint reported; false when it is what the router already
   * has. An unchanged list keeps the version, so the model index is not rebuilt on every refresh.
   */
  setDiscovered(providerName: string, models: readonly DiscoveredModel[]): boolean {
    const next = new Map(models.map((model) => [model.id, model]));
    if (sameDiscovered(this.discovered.get(providerName), next)) return false;
    this.discovered.set(providerName, next);
    this.rebuild();
    return true;
  }

  discoveredFor(providerName: string): ReadonlyMap<string, DiscoveredModel> | undefined {
    return this.discovered.get(providerName);
  }

  /** Changes whenever the set of routable names does: views built from `list()` key their caches on it. */
  get version(): number {
    return this.generation;
  }

  private rebuild(): void {
    this.generation++;
    this.byName.clear();
    this.resolved.clear();
    this.implicit?.clear();
    this.qualified.clear();
    this.buildGroups();
    const add = (name: string, provider: ProviderInstance) => {
      // Groq's `openai/gpt-oss-120b`: a request naming it goes to the provider `openai` (the
      // `provider/model` rule), so only `groq/openai/gpt-oss-120b` reaches this model.
      if (this.namesProvider(name)) {
        const id = `${provider.name}/${name}`;
        if (!this.qualified.has(id)) this.qualified.set(id, { provider, upstreamModel: name });
      } else if (!this.byName.has(name)) this.byName.set(name, provider);
    };
    // Configured names first, then each provider's native catalog models, then discovered ones.
    for (const provider of this.providers) for (const name of provider.staticModels) add(name, provider);
    for (const provider of this.providers) {
      for (const entry of this.catalog.forKind(provider.kind)) {
        add(entry.id, provider);
        for (const alias of entry.aliases ?? []) add(alias, provider);
      }
    }
    for (const provider of this.providers) for (const name of this.discovered.get(provider.name)?.keys() ?? []) add(name, provider);
  }

  /** Whether a name starts with a configured provider's name and a slash, so it routes to that provider. */
  private namesProvider(name: string): boolean {
    const slash = name.indexOf('/');
    return slash > 0 && this.providersByName.has(name.slice(0, slash));
  }

  /** Resolves a requested model name; undefined when nothing configured serves it. */
  resolve(requested: string): Route | undefined {
    const cached = this.resolved.get(requested);
    if (cached !== undefined) return cached ?? undefined;
    const route = this.resolveUncached(requested, 0);
    // The memo is bounded: names clients make up must not grow it without limit.
    if (this.resolved.size < 10_000) this.resolved.set(requested, route ?? null);
    return route;
  }

  private resolveUncached(requested: string, depth: number): Route | undefined {
    if (!isSafeModelName(requested) || (depth === 0 && this.holdsSecret(requested))) return undefined;
    const alias = this.aliases[requested];
    if (alias !== undefined && depth < 4 && Object.hasOwn(this.aliases, requested)) {
      const route = this.resolveUncached(alias, depth + 1);
      return route === undefined ? undefined : { ...route, model: requested };
    }
    const slash = requested.indexOf('/');
    if (slash > 0) {
      const provider = this.providersByName.get(requested.slice(0, slash));
      if (provider !== undefined) {
        return this.route(provider, requested.slice(slash + 1), requested);
      }
    }
    const group = this.groups.get(requested);
    if (group !== undefined) return group.deployments[0]?.route;
    const provider = this.byName.get(requested);
    if (provider === undefined) return undefined;
    return this.route(provider, requested, requested);
  }

  /** The configured group a chain of config aliases ends at, as resolve follows it. */
  private groupOfAlias(target: string): string | undefined {
    let name = target;
    for (let depth = 1; depth < 4 && Object.hasOwn(this.aliases, name) && !this.groups.has(name); depth++) name = this.aliases[name] ?? name;
    return this.groups.has(name) ? name : undefined;
  }

  /** Every name a client can use right now, with what is known of it. */
  list(): RoutableModel[] {
    const out: RoutableModel[] = [];
    const seen = new Set<string>();
    for (const group of this.groups.values()) {
      const first = group.deployments[0];
      if (first === undefined) continue;
      seen.add(group.name);
      out.push({ id: group.name, provider: first.route.provider, ...this.known(first.route.provider, first.route.upstreamModel, group.name) });
    }
    const add = (id: string, provider: ProviderInstance, name: string) => {
      // A config alias named like the `provider/model` form takes it first.
      if (seen.has(id) || (id !== name && Object.hasOwn(this.aliases, id))) return;
      seen.add(id);
      const model: RoutableModel = { id, provider, ...this.known(provider, name) };
      if (id !== name) model.upstreamModel = name;
      out.push(model);
    };
    for (const [name, provider] of this.byName) {
      if (seen.has(name)) continue;
      // A config alias of the same name takes it first (`gpt-4: gpu/llama-local`): the model it
      // shadows is reached, and listed, as `openai/gpt-4`.
      add(Object.hasOwn(this.aliases, name) ? `${provider.name}/${name}` : name, provider, name);
    }
    for (const [id, { provider, upstreamModel }] of this.qualified) add(id, provider, upstreamModel);
    for (const [alias, target] of Object.entries(this.aliases)) {
      if (seen.has(alias)) continue;
      const route = this.resolve(alias);
      if (route === undefined) continue;
      const known = this.known(route.provider, route.upstreamModel, this.groupOfAlias(target));
      out.push({ id: alias, provider: route.provider, entry: known.entry, discovered: known.discovered, aliasOf: target });
    }
    return out;
  }
}
