// The model groups one request may reach: the group asked for, then each of its fallbacks once, in
// order, less those the calling key may not use (keys/model-allowlist.ts). The executor walks this
// chain; the budget hold prices it and the native endpoints check it before the call.
import { mayUseModel } from '../keys/model-allowlist.js';
import type { ModelGroup, ModelRouter, Route } from './model-router.js';

type Planner = Pick<ModelRouter, 'plan' | 'version'>;

/** A fallback name that routes, with its group. */
export interface PlannedFallback {
  name: string;
  group: ModelGroup;
}

/** The groups a request may reach and every deployment of theirs. */
export interface Reach {
  groups: readonly ModelGroup[];
  routes: readonly Route[];
}

interface Planned {
  router: object;
  version: number;
  fallbacks: readonly PlannedFallback[];
  /** Without an allowlist. */
  open: Reach | undefined;
  /** Per key allowlist: a key's cached principal keeps one `models` array. */
  byList: WeakMap<readonly string[], Reach>;
}

/**
 * Groups are long-lived (configured, or planned once per name), but a fallback's name may route
 * elsewhere after a routing change: the plan is kept per group, router and router version.
 */
const plans = new WeakMap<ModelGroup, Planned>();

function planned(router: Planner, group: ModelGroup): Planned {
  const cached = plans.get(group);
  if (cached !== undefined && cached.router === router && cached.version === router.version) return cached;
  const fallbacks: PlannedFallback[] = [];
  const seen = new Set([group.name]);
  for (const name of group.fallbacks) {
    if (seen.has(name)) continue;
    seen.add(name);
    const fallback = router.plan(name);
    if (fallback !== undefined) fallbacks.push({ name, group: fallback });
  }
  const built: Planned = { router, version: router.version, fallbacks, open: undefined, byList: new WeakMap() };
  plans.set(group, built);
  return built;
}

const NONE: readonly PlannedFallback[] = [];

/** The group's fallbacks that route, each once, in order (the group itself never among them). */
export function plannedFallbacks(router: Planner, group: ModelGroup): readonly PlannedFallback[] {
  // Most groups have none: every request's chain asks, so no lookup for them.
  return group.fallbacks.length === 0 ? NONE : planned(router, group).fallbacks;
}

/** The group and the fallbacks a key limited to `allowed` (undefined: any model) may use, with their deployments. */
export function reachableGroups(router: Planner, group: ModelGroup, allowed: readonly string[] | undefined): Reach {
  const plan = planned(router, group);
  const cached = allowed === undefined ? plan.open : plan.byList.get(allowed);
  if (cached !== undefined) return cached;
  const groups = [group];
  for (const { name, group: fallback } of plan.fallbacks) {
    if (!groups.includes(fallback) && (allowed === undefined || mayUseModel(allowed, router, name, fallback))) groups.push(fallback);
  }
  const reach: Reach = { groups, routes: groups.flatMap((entry) => entry.deployments.map((deployment) => deployment.route)) };
  if (allowed === undefined) plan.open = reach;
  else plan.byList.set(allowed, reach);
  return reach;
}
