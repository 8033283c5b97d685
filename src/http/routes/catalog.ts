// GET /api/models, /api/models/search and /api/models/{model_id}: the model catalog as the calling
// key may see it (CONTRACT.md "Model"). The figures, search and index live in src/catalog/.
import type { FastifyInstance } from 'fastify';
import { modelNotAllowed, modelNotFound } from '../../errors/gateway-error.js';
import { searchModels } from '../../catalog/model-search.js';
import type { Services } from '../../services.js';

export function registerCatalog(app: FastifyInstance, services: Services): void {
  app.get('/api/models', { config: { auth: 'client' } }, async (request, reply) => {
    const index = services.models.index();
    const allowed = services.models.visibleTo(request.principal?.models);
    // The unfiltered list is serialised once per model list, not once per request.
    if (allowed === undefined) return reply.header('content-type', 'application/json; charset=utf-8').send(index.listJson());
    const { models, count } = index.search({}, allowed);
    return { models, count };
  });

  app.get('/api/models/search', { config: { auth: 'client' } }, async (request) => {
    return searchModels(services.models.index(), request.query as Record<string, unknown>, services.models.visibleTo(request.principal?.models));
  });

  // A wildcard, so ids holding `/` (`anthropic/claude-...`, `openai%2Fgpt-4o`) reach the lookup;
  // a name that is not a safe model name (`..`, `\`, NUL, `%`) is not found, never another route.
  app.get('/api/models/*', { config: { auth: 'client' } }, async (request) => {
    const id = (request.params as { '*'?: string })['*'] ?? '';
    const model = services.models.find(id);
    if (model === undefined) throw modelNotFound(id, null);
    const allowed = services.models.visibleTo(request.principal?.models);
    if (allowed !== undefined && !allowed(model)) {
      throw modelNotAllowed(model.id);
    }
    return { model };
  });
}
