// GET /health/cache: the response cache's backend, status (a Redis that is down or slow shows as
// degraded/unavailable while requests keep flowing), entries, size and hit rate. No key needed.
import type { FastifyInstance } from 'fastify';
import { CACHE_OFF_HEALTH } from '../../cache/response-cache.js';
import type { Services } from '../../services.js';

export function registerCacheHealth(app: FastifyInstance, services: Services): void {
  app.get('/health/cache', { config: { auth: 'none' } }, async () => {
    const cache = services.cache;
    return cache === undefined ? CACHE_OFF_HEALTH : cache.health();
  });
}
