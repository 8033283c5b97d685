// GET /health/live and /health/ready: orchestrator probes, no key. Live while the process
// answers; ready until a shutdown starts (its delay included) or the heap passes the shedding
// threshold (then 503, so load balancers stop sending).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GatewayError } from '../../errors/gateway-error.js';
import { overloadedError, shuttingDownError, type Lifecycle } from '../graceful-shutdown.js';

const probeSchema = (description: string) => ({
  description,
  tags: ['health'],
  response: {
    200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] },
    503: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] },
  },
});

/**
 * Requests that still arrive while draining (on a busy kept-alive connection) are refused; the
 * probes keep answering so the orchestrator sees "not ready" rather than a dead process. Past the
 * heap threshold, new work is shed the same way before the process runs out of memory.
 * Called from the one onRequest hook in app.ts.
 */
export function refusal(lifecycle: Lifecycle, request: FastifyRequest): GatewayError | undefined {
  if (!lifecycle.draining && !lifecycle.overloaded) return undefined;
  const url = request.routeOptions.url;
  if (url === '/health/ready' || url === '/health/live') return undefined;
  // Its answer says Connection: close unless more requests are queued behind it (app.ts's onSend hook).
  if (lifecycle.draining) return shuttingDownError();
  return overloadedError();
}

export function registerHealthProbes(app: FastifyInstance, lifecycle: Lifecycle): void {
  app.get('/health/live', { config: { auth: 'none' }, schema: probeSchema('Liveness: 200 while the process answers.') }, async () => ({ status: 'alive' }));

  app.get('/health/ready', { config: { auth: 'none' }, schema: probeSchema('Readiness: 503 once a shutdown has started.') }, async (_request, reply) => {
    if (lifecycle.leaving) return reply.code(503).send({ status: 'shutting_down' });
    if (lifecycle.overloaded) return reply.code(503).send({ status: 'overloaded' });
    return { status: 'ready' };
  });
}
