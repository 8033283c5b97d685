// The public model list as the routes serve it: views and their search index, rebuilt only when
// the router's names change (config, discovery) or a provider's list turns stale or fresh again.
import { changeStart } from './call-cost.js';
import type { ModelCatalog } from './model-catalog.js';
import type { DiscoveryStatus } from './model-discovery.js';
import { compileModelIndex, type ModelIndex } from './model-search.js';
import { buildModelViews, createModelView, type ModelView } from './model-view.js';
import { allowlistFor } from '../keys/model-allowlist.js';
import { isSafeModelName, type ModelRouter } from '../routing/model-router.js';

/** The views, their index and the configured group names, for one router version and staleness. */
interface DirectoryState {
  version: number;
  stale: string;
  index: ModelIndex;
  groups: ReadonlySet<string>;
  /** When the next announced price change begins: the views show the base rates in force, so they are built again then. */
  pricesUntil: number;
}

/**
 * A configured group found by one deployment's `provider/model` route: a request with that name
 * goes to that deployment alone (no balancing, no fallbacks), so it is not the group.
 */
function isGroupRoute(state: DirectoryState, view: ModelView, name: string): boolean {
  return view.id !== name && view.alias_of === null && state.groups.has(view.id);
}

export class ModelDirectory {
  private cached: DirectoryState | undefined;

  constructor(
    private readonly router: ModelRouter,
    private readonly catalog: ModelCatalog,
    private readonly discovery: { statusOf(provider: string): DiscoveryStatus | undefined },
  ) {}

  private isStale(provider: string): boolean {
    return this.discovery.statusOf(provider)?.lastError !== undefined;
  }

  /** The current index; cheap when nothing changed (one version compare, one flag per provider). */
  index(): ModelIndex {
    return this.current().index;
  }

  /** Taken once per public call and passed down: each take walks every provider's staleness. */
  private current(): DirectoryState {
    let stale = '';
    for (const provider of this.router.providers) stale += this.isStale(provider.name) ? '1' : '0';
    const version = this.router.version;
    const now = Date.now();
    if (this.cached !== undefined && this.cached.version === version && this.cached.stale === stale && now < this.cached.pricesUntil) return this.cached;
    const groups = new Map(this.router.modelGroups().map((group) => [group.name, group.deployments.map((deployment) => deployment.id)]));
    const sources = this.router.list().map((source) => {
      const routes = source.aliasOf === undefined ? groups.get(source.id) : undefined;
      return routes === undefined ? source : { ...source, routes };
    });
    const index = compileModelIndex(buildModelViews(sources, (provider) => this.isStale(provider), now));
    let pricesUntil = Infinity;
    for (const source of sources) {
      for (const change of source.entry?.price_changes ?? []) {
        const start = changeStart(change);
        if (start > now && start < pricesUntil) pricesUntil = start;
      }
    }
    this.cached = { version, stale, index, groups: new Set(groups.keys()), pricesUntil };
    return this.cached;
  }

  /**
   * A model by id, alias or `provider/model`. A `provider/model` name the list does not show (the
   * list names each model once, under one provider) is described when that provider's list
   * reported the model or the catalog has figures of that provider's for it, since it routes all
   * the same. Unsafe names find nothing.
   */
  find(name: string): ModelView | undefined {
    if (!isSafeModelName(name)) return undefined;
    const state = this.current();
    const found = state.index.get(name);
    if (found !== undefined && !isGroupRoute(state, found, name)) return found;
    return this.describeRoute(name, found !== undefined);
  }

  /**
   * A name the list shows, exactly: a model's id or one of its `provider/model` routes (no alias,
   * nothing unlisted), as GET /v1/models/{id} answers it.
   */
  listed(name: string): ModelView | undefined {
    const state = this.current();
    const found = state.index.get(name);
    if (found === undefined || (found.id !== name && !found.routes.includes(name))) return undefined;
    return isGroupRoute(state, found, name) ? this.describeRoute(name, true) : found;
  }

  /** `provider/model` as a request with it routes; `deployment`: a configured group's, described even when nothing is known of it. */
  private describeRoute(name: string, deployment: boolean): ModelView | undefined {
    const slash = name.indexOf('/');
    if (slash <= 0) return undefined;
    const provider = this.router.provider(name.slice(0, slash));
    if (provider === undefined) return undefined;
    const upstreamModel = name.slice(slash + 1);
    const discovered = this.router.discoveredFor(provider.name)?.get(upstreamModel);
    // The figures a request with this name is limited and billed by (routing/model-router.ts).
    const entry = this.catalog.entryFor(provider, upstreamModel);
    if (!deployment && entry === undefined && discovered === undefined) return undefined;
    return createModelView({ id: name, provider, entry, discovered, upstreamModel }, this.isStale(provider.name), Date.now());
  }

  /**
   * The list filter for a key's allowlist (undefined: no filter): a model is shown when a request
   * naming it, or one of its catalog aliases, would be allowed. A plain model goes where its one
   * route says; model groups and config aliases are planned as a request would be.
   */
  visibleTo(allowlist: readonly string[] | undefined): ((view: ModelView) => boolean) | undefined {
    if (allowlist === undefined) return undefined;
    const allowed = allowlistFor(allowlist, this.router);
    const { groups } = this.current();
    return (view) => {
      if (allowed.has(view.id) || view.aliases.some((alias) => allowed.has(alias))) return true;
      if (view.alias_of !== null || groups.has(view.id)) return allowed.allowsName(view.id);
      const route = view.routes[0];
      return route !== undefined && allowed.allowsDeployment(route);
    };
  }
}
