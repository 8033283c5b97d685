// GET /v1/models: what the calling key can route right now, in OpenAI's list format.
import type { FastifyInstance } from 'fastify';
import type { ModelList } from '../../openai/types.js';
import type { Services } from '../../services.js';

export function registerModels(app: FastifyInstance, services: Services): void {
  app.get('/v1/models', { config: { auth: 'client' } }, async (request) => {
    const allowed = request.principal?.models;
    const created = Math.floor(services.startedAt / 1000);
    const list: ModelList = { object: 'list', data: [] };
    // The same list as /api/models: each model once (catalog aliases are not models of their own).
    for (const model of services.models.index().search({}, allowed).models) {
      list.data.push({ id: model.id, object: 'model', created: model.created ?? created, owned_by: model.owned_by });
    }
    return list;
  });
}
