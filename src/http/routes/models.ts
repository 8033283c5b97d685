// GET /v1/models and GET /v1/models/{id}: what the calling key can route right now, in OpenAI's
// list format and as one OpenAI model object.
import type { FastifyInstance } from 'fastify';
import type { ModelView } from '../../catalog/model-view.js';
import { modelNotFound } from '../../errors/gateway-error.js';
import type { ModelList, ModelObject } from '../../openai/types.js';
import type { Services } from '../../services.js';

/** One list entry; `id` is the name it was asked for (OpenAI answers a retrieve with the id given). */
function toModelObject(model: ModelView, id: string, startedAt: number): ModelObject {
  return { id, object: 'model', created: model.created ?? Math.floor(startedAt / 1000), owned_by: model.owned_by };
}

export function registerModels(app: FastifyInstance, services: Services): void {
  app.get('/v1/models', { config: { auth: 'client' } }, async (request) => {
    const list: ModelList = { object: 'list', data: [] };
    // The same list as /api/models: each model once (catalog aliases are not models of their own).
    for (const model of services.models.index().search({}, services.models.visibleTo(request.principal?.models)).models) {
      list.data.push(toModelObject(model, model.id, services.startedAt));
    }
    return list;
  });

  // A wildcard, so `openai/gpt-4o` and `openai%2Fgpt-4o` reach the lookup (RELIABILITY 4a#10).
  // Only the names a list entry stands for match, byte for byte: its id or one of its
  // `provider/model` routes (a group's route: that deployment alone). Nothing is decoded twice or
  // normalised, so `..`, `%2e`, `\` and NUL find nothing. A model the key may not use is not found,
  // as the list hides it (OpenAI does the same).
  app.get('/v1/models/*', { config: { auth: 'client' } }, async (request) => {
    const id = (request.params as { '*'?: string })['*'] ?? '';
    const model = services.models.listed(id);
    const allowed = services.models.visibleTo(request.principal?.models);
    if (model === undefined || (allowed !== undefined && !allowed(model))) {
      // No `param`: the id is in the path, not a body field (OpenAI's retrieve answers null too).
      throw modelNotFound(id, null);
    }
    return toModelObject(model, id, services.startedAt);
  });
}
