// A key's `models` allowlist, compared by where names route: `gpt-4o-mini` and `openai/gpt-4o-mini`
// (and a config alias of either) reach one model on one provider, so either entry allows the
// others; `groq/gpt-4o-mini` reaches another and is refused. A model group is allowed only by its
// name or an alias of it: its deployments alone are not the group (it also balances and falls back).
import type { ModelGroup, ModelRouter } from '../routing/model-router.js';

/**
 * Each key's allowlist with its entries' routes worked out, for the router version it was made
 * under (and the router: a reload builds another): a key's cached principal keeps one `models`
 * array, so its entries are planned once per routing change, not on every request that names a
 * model another way.
 */
const resolvedLists = new WeakMap<readonly string[], { router: object; version: number; list: ModelAllowlist }>();

/**
 * Whether a key limited to `allowed` may use `requested`, planned as `group` (the model asked for,
 * or a fallback). The usual match, an exact name, builds nothing.
 */
export function mayUseModel(allowed: readonly string[], router: Pick<ModelRouter, 'plan' | 'version'>, requested: string, group: ModelGroup): boolean {
  if (allowed.includes(requested) || allowed.includes(group.name)) return true;
  return allowlistFor(allowed, router).allows(requested, group);
}

/** A key's allowlist with its entries' routes, made once per key, router and routing version. */
export function allowlistFor(allowed: readonly string[], router: Pick<ModelRouter, 'plan' | 'version'>): ModelAllowlist {
  let cached = resolvedLists.get(allowed);
  if (cached === undefined || cached.router !== router || cached.version !== router.version) {
    cached = { router, version: router.version, list: new ModelAllowlist(allowed, (name) => router.plan(name)) };
    resolvedLists.set(allowed, cached);
  }
  return cached.list;
}

export class ModelAllowlist {
  private readonly names: ReadonlySet<string>;
  /** What the entries route to; worked out on first need, since most checks match a name. */
  /** Configured groups by name: a routing change makes new group objects for the same groups. */
  private targets: { deployments: Set<string>; groups: Set<string> } | undefined;

  constructor(
    private readonly entries: readonly string[],
    private readonly plan: (name: string) => ModelGroup | undefined,
  ) {
    this.names = new Set(entries);
  }

  /** Whether the list holds this exact name. */
  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Whether a request for `requested`, planned as `group`, may go ahead. */
  allows(requested: string, group: ModelGroup): boolean {
    if (this.names.has(requested) || this.names.has(group.name)) return true;
    const targets = this.resolveTargets();
    if (group.configured) return targets.groups.has(group.name);
    const deployment = group.deployments[0];
    return deployment !== undefined && targets.deployments.has(deployment.id);
  }

  /** Whether a request naming `name` may go ahead; false when nothing routes it. */
  allowsName(name: string): boolean {
    if (this.names.has(name)) return true;
    const group = this.plan(name);
    return group !== undefined && this.allows(name, group);
  }

  /**
   * Whether the list allows `model` called on `provider` by the provider itself (a model the request
   * names for it to run: Claude's advisor, its server-side fallbacks): listed by that name, or by a
   * name that routes to `provider/model` (that form itself, the bare name, an alias).
   */
  allowsOn(provider: string, model: string): boolean {
    if (this.allowsDeployment(`${provider}/${model}`)) return true;
    if (!this.names.has(model)) return false;
    // A listed name the proxy routes means what it routes to: an alias that shares a real model's
    // name (`gpt-4o` → gpt-4o-mini) does not allow the real model. Unrouted, the name is the model.
    const group = this.plan(model);
    return group === undefined || group.deployments.some((deployment) => deployment.route.upstreamModel === model || deployment.id === model);
  }

  /** Whether the list reaches this deployment (`provider/model`) through a name that routes to it alone. */
  allowsDeployment(deployment: string): boolean {
    return this.resolveTargets().deployments.has(deployment);
  }

  private resolveTargets(): { deployments: Set<string>; groups: Set<string> } {
    if (this.targets !== undefined) return this.targets;
    const targets = { deployments: new Set<string>(), groups: new Set<string>() };
    for (const entry of this.entries) {
      const group = this.plan(entry);
      if (group === undefined) continue;
      if (group.configured) targets.groups.add(group.name);
      else if (group.deployments[0] !== undefined) targets.deployments.add(group.deployments[0].id);
    }
    this.targets = targets;
    return targets;
  }
}
