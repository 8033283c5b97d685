// Whether `condense.model` routes, checked wherever a config is loaded (check-config, start-up, a
// reload): a name that routes to nothing makes every condensation that uses it fall back to the
// extractive summary, which would otherwise show only in each answer's `method`.
import { ModelCatalog } from '../catalog/model-catalog.js';
import type { Config } from '../config/config-schema.js';
import { buildProviders, type ProviderSetup } from '../providers/provider-registry.js';
import { routerFor } from '../routing/model-router.js';

/**
 * A warning when `condense.model` routes to nothing through the built-in catalog, the configured
 * providers, model groups and aliases; undefined when it routes or is not set. A provider's model
 * list (discovery) may still offer the name later, so this warns and does not refuse.
 */
export function condenseModelWarning(config: Config): string | undefined {
  const model = config.condense?.model;
  if (model === undefined) return undefined;
  const catalog = ModelCatalog.builtin(config.model_catalog);
  const setup = buildProviders(config);
  if (routerFor(config, setup.providers, catalog).plan(model) !== undefined) return undefined;
  return (
    `condense.model '${model}' names no routable model (${whyUnrouted(config, setup, catalog, model)}), so every condensation that uses it ` +
    "(/api/condense without 'model', the condense context policy) gets the extractive summary, written without an LLM, " +
    "until a provider's model list (discovery) offers that name"
  );
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
