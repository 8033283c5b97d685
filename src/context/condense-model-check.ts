// Whether `condense.model` routes, checked wherever a config is loaded (check-config, start-up, a
// reload): a name that routes to nothing makes every condensation that uses it fall back to the
// extractive summary, which would otherwise show only in each answer's `method`.
import type { Config } from '../config/config-schema.js';
import { unroutedReasons } from '../routing/unrouted-names.js';

/**
 * A warning when `condense.model` routes to nothing through the built-in catalog, the configured
 * providers, model groups and aliases; undefined when it routes or is not set. A provider's model
 * list (discovery) may still offer the name later, so this warns and does not refuse.
 */
export function condenseModelWarning(config: Config): string | undefined {
  const model = config.condense?.model;
  if (model === undefined) return undefined;
  const reason = unroutedReasons(config)(model);
  if (reason === undefined) return undefined;
  return (
    `condense.model '${model}' names no routable model (${reason}), so every condensation that uses it ` +
    "(/api/condense without 'model', the condense context policy) gets the extractive summary, written without an LLM, " +
    "until a provider's model list (discovery) offers that name"
  );
}
