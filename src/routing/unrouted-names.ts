// Names a config routes to that reach no model when it is loaded (condense.model, fallbacks), and
// why. Checked wherever a config is loaded (check-config, start-up, a reload) as warnings, not
// refusals: a provider's model list (discovery) may still offer such a name later.
import { ModelCatalog } from '../catalog/model-catalog.js';
import type { Config } from '../config/config-schema.js';
import { buildProviders, type ProviderSetup } from '../providers/provider-registry.js';
import { routerFor } from './model-router.js';

/** For each name, why nothing serves it through the catalog, providers, groups and aliases; undefined when it routes. */
export function unroutedReasons(config: Config): (name: string) => string | undefined {
  const catalog = ModelCatalog.builtin(config.model_catalog);
  const setup = buildProviders(config);
  const router = routerFor(config, setup.providers, catalog);
  return (name) => (router.plan(name) === undefined ? whyUnrouted(config, setup, catalog, name) : undefined);
}

function whyUnrouted(config: Config, setup: ProviderSetup, catalog: ModelCatalog, model: string): string {
  if (config.models?.some((group) => group.name === model) === true) return 'none of its model group’s deployments is on a configured provider';
  // `anthropic/claude-…`, or a catalog model whose provider is missing: say what that provider lacks.
  const slash = model.indexOf('/');
  const provider = slash > 0 ? model.slice(0, slash) : catalog.get(model)?.provider;
  if (provider !== undefined && !setup.providers.some((configured) => configured.name === provider || configured.kind === provider)) {
    const reason = setup.notConfigured[provider];
    if (reason !== undefined) return `it needs the ${provider} provider, which is not configured: ${reason.replace(/^not configured: /, '')}`;
    if (slash < 0) return `it is a ${provider} model and no ${provider} provider is configured`;
  }
  return 'no configured provider, model group or alias serves that name';
}

/**
 * `routing.fallbacks` and each group's `fallbacks` that route to nothing: the executor skips such a
 * name without a word, so a typo left a group with no fallback at all, found only in an outage.
 */
export function fallbackWarnings(config: Config): string[] {
  const lists: Array<[field: string, names: readonly string[]]> = [['routing.fallbacks', config.routing.fallbacks ?? []]];
  (config.models ?? []).forEach((group, index) => lists.push([`models.${index}.fallbacks`, group.fallbacks ?? []]));
  if (lists.every(([, names]) => names.length === 0)) return [];
  const why = unroutedReasons(config);
  const warnings: string[] = [];
  for (const [field, names] of lists) {
    names.forEach((name, index) => {
      const reason = why(name);
      if (reason === undefined) return;
      warnings.push(
        `${field}.${index}: '${name}' names no routable model (${reason}), so it is skipped when a request's own deployments fail, until a provider's model list (discovery) offers that name`,
      );
    });
  }
  return warnings;
}
