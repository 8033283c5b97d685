// The models a chat body has OpenRouter call, and bill to the key, beside `model`: its model
// fallbacks (`models`) and a preset's models (`preset`), against a key's `models` allowlist. An
// OpenRouter deployment gets the body as the client sent it, so these reach OpenRouter unchanged.
// So does a generic `openai-compatible` host, which may be OpenRouter under another name (or a
// router that reads the same fields): its deployments are checked the same way.
// @see https://openrouter.ai/docs/guides/routing/model-fallbacks
// @see https://openrouter.ai/docs/guides/features/presets
import { invalidType, modelNotAllowed, permissionDenied } from '../errors/gateway-error.js';
import type { ChatCompletionRequest } from '../openai/types.js';
import type { Route } from '../routing/model-router.js';
import type { ModelAllowlist } from './model-allowlist.js';

const present = (value: unknown): boolean => value !== undefined && value !== null;

/** Provider kinds whose hosts may read `models` and `preset`: OpenRouter, and any host the proxy cannot name. */
const ROUTERS: ReadonlySet<string> = new Set(['openrouter', 'openai-compatible']);

/** Whether a chat body names models for OpenRouter to run beside `model`: two property reads. */
export function namesOpenRouterModels(chat: ChatCompletionRequest): boolean {
  return present(chat.models) || present(chat.preset);
}

/**
 * For a key with a `models` list, and a body for which namesOpenRouterModels holds: each `models`
 * entry must be a model the key may use on every OpenRouter (or generic) provider the call may reach (`routes`),
 * else 403 `model_not_allowed` naming `models[i]`; a `preset` brings models (and tools, advisors
 * among them) no list can be checked against, so it is refused. Before any call. A body that reaches
 * no OpenRouter or generic deployment passes: the fields mean nothing to the named providers.
 */
export function checkOpenRouterModels(chat: ChatCompletionRequest, allowlist: ModelAllowlist, routes: () => readonly Route[]): void {
  const providers = new Set(routes().flatMap((route) => (ROUTERS.has(route.provider.kind) ? [route.provider.name] : [])));
  if (providers.size === 0) return;
  if (present(chat.preset)) {
    throw permissionDenied(
      'This key may use only the models it lists, and an OpenRouter preset ("preset") chooses models and tools the proxy cannot check: name the model, and any fallbacks in "models", instead.',
      'model_not_allowed',
      'preset',
    );
  }
  const models = chat.models;
  if (!present(models)) return;
  if (!Array.isArray(models)) throw invalidType('models', 'an array of model names');
  for (let index = 0; index < models.length; index++) {
    const model: unknown = models[index];
    const field = `models[${index}]`;
    if (typeof model !== 'string' || model.length === 0) throw invalidType(field, 'a model name (a non-empty string)');
    for (const provider of providers) {
      if (!allowlist.allowsOn(provider, model)) throw modelNotAllowed(model, ` ${field} names it as a fallback, which OpenRouter would call and bill to this key.`, field);
    }
  }
}
