// GET /metrics (Prometheus text) and the hooks that count every request. The master key may
// scrape; so may `metrics.token` when set, so a Prometheus job needs no admin credential.
import { createHash, timingSafeEqual } from 'node:crypto';
import type {} from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { authentication } from '../../errors/gateway-error.js';
import type { Services } from '../../services.js';
import { failedAuthGate, presentedKey } from '../plugins/auth.js';
import type { StreamRegistry } from '../stream-response.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

const METRICS_SCHEMA = { description: 'Prometheus metrics (text exposition format).', tags: ['operations'] };
/** With `metrics.token`, only a presented token or key opens it (no dashboard session); without, the master's usual ways (src/http/openapi-docs.ts). */
const TOKEN_SCHEMA = { ...METRICS_SCHEMA, description: 'Prometheus metrics (text exposition format); needs `metrics.token` or the master key.', security: [{ bearer: [] }, { apiKey: [] }] };

export function registerMetrics(app: FastifyInstance, services: Services, streams: StreamRegistry): void {
  const { metrics } = services;
  metrics.bind({ activeStreams: () => streams.size });
  // Requests are counted by the one onRequest hook in app.ts (no extra hook or listener per request).

  const options = services.config.metrics ?? {};
  if (options.enabled === false) return;
  const token = options.token === undefined ? undefined : digest(options.token);
  const failures = failedAuthGate(services);
  app.get(
    '/metrics',
    {
      config: { auth: token === undefined ? 'master' : 'none' },
      schema: token === undefined ? METRICS_SCHEMA : TOKEN_SCHEMA,
    },
    async (request, reply) => {
      if (token !== undefined) {
        // The token is an operator's string, maybe a weak one: an address over its failed-authentication
        // limit is refused before any comparison (so a guess past the limit learns nothing), and every
        // failure counts toward that limit, as a guessed key's does.
        await failures.standing(request);
        const key = presentedKey(request);
        const allowed = key !== undefined && (timingSafeEqual(digest(key), token) || services.keys.authenticate(key)?.role === 'master');
        if (!allowed) {
          await failures.count(request);
          // Not written as `Bearer <token>`: the redactor takes that for a credential and sends `Bearer [redacted]`.
          throw authentication('Missing or invalid metrics token. Send it in the "Authorization" header ("Bearer" and the token) or in "x-api-key".');
        }
      }
      const body = await metrics.render();
      return reply.header('content-type', metrics.contentType()).send(body);
    },
  );
}
