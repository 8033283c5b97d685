// GET /v1/models: what the calling key can route right now, in OpenAI's list format.
import type { FastifyInstance } from 'fastify';
import type { ModelList } from '../../openai/types.js';
import type { Services } from '../../services.js';

export function registerModels(app: FastifyInstance, services: Services): void {
  app.get('/v1/models', { config: { auth: 'client' } }, async (request) => {
    const allowed = request.principal?.models;
    const created = Math.floor(services.startedAt / 1000);
    const list: ModelList = { object: 'list', data: [] };
    for (const model of services.router.list()) {
      if (allowed !== undefined && !allowed.includes(model.id)) continue;
      list.data.push({ id: model.id, object: 'model', created: model.discovered?.created ?? created, owned_by: model.provider.name });
    }
    return list;
  });
}
