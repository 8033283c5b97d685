// OpenRouter's model fallbacks (`models: [...]`) as billed: OpenRouter answers with the first model
// that serves and bills that model's rates, naming it in the answer's `model`. The same holds when a
// preset or the Auto Router (`openrouter/auto`) picks the model. The budget hold covers
// the dearest the list names (src/rate-limit/chat-admission.ts); the record is costed at the one that
// answered. Other providers' answers name dated snapshots of the model asked for (gpt-4o-2024-08-06
// for gpt-4o), so their `model` is never read for billing.
// @see https://openrouter.ai/docs/guides/routing/model-fallbacks (Pricing)
// @see https://openrouter.ai/docs/guides/routing/auto-model-selection
import type { ModelCatalog } from '../catalog/model-catalog.js';
import type { ChatCompletionRequest } from '../openai/types.js';
import type { Route } from '../routing/model-router.js';

/**
 * `route` served by `model` on the same provider, at that model's catalog entry, when the catalog
 * prices it; undefined when it is the route's own model or unpriced (billed at the route's rates).
 */
export function routeAnswering(route: Route, model: string, catalog: ModelCatalog): Route | undefined {
  if (model === route.upstreamModel) return undefined;
  const entry = catalog.entryFor(route.provider, model);
  return entry !== undefined && entry.input_cost !== null && entry.output_cost !== null ? { ...route, upstreamModel: model, entry } : undefined;
}

/** OpenRouter's Auto Router: it picks the model for each call, bills that model and names it in `model`. */
export const OPENROUTER_AUTO = 'openrouter/auto';

/**
 * Whether OpenRouter, not the request, picks the model that answers: a fallback list (`models`), a
 * preset (`preset`, or a `@preset/…` model: its models are the preset's) or the Auto Router.
 */
function picksModel(route: Route, chat: ChatCompletionRequest): boolean {
  if (Array.isArray(chat.models) && chat.models.length > 0) return true;
  if (chat.preset !== undefined && chat.preset !== null) return true;
  return route.upstreamModel === OPENROUTER_AUTO || route.upstreamModel.startsWith('@preset/');
}

/**
 * The route a call's usage is recorded against: `route`, or, when OpenRouter picked the model (a
 * fallback list, a preset, the Auto Router) and `answered` (the answer's `model`) is another model the
 * catalog prices, that model (its rates, its name as the record's upstream model). A few property
 * reads for a body with none of them.
 */
export function billedRoute(route: Route, chat: ChatCompletionRequest, answered: string | undefined, catalog: ModelCatalog): Route {
  if (answered === undefined || route.provider.kind !== 'openrouter' || !picksModel(route, chat)) return route;
  const served = routeAnswering(route, answered, catalog);
  // The same catalog entry under another name (an `:online` variant) is the model routed to.
  return served === undefined || served.entry?.id === route.entry?.id ? route : served;
}
