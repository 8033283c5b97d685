// GET /health and /health/providers: open to orchestrators without a key, and free of secrets.
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';

export function registerHealth(app: FastifyInstance, services: Services): void {
  app.get('/health', { config: { auth: 'none' } }, async () => {
    const configured = services.providerSetup.providers.length;
    return {
      status: configured === 0 ? 'unhealthy' : 'healthy',
      version: process.env.npm_package_version ?? '0.1.0',
      uptime_s: Math.floor((Date.now() - services.startedAt) / 1000),
      providers: { configured, names: services.providerSetup.providers.map((provider) => provider.name) },
    };
  });

  app.get('/health/providers', { config: { auth: 'none' } }, async () => {
    const out: Record<string, Record<string, unknown>> = {};
    for (const provider of services.providerSetup.providers) {
      const discovery = services.discovery.statusOf(provider.name);
      out[provider.name] = {
        status: discovery?.lastError !== undefined && discovery.lastSuccessAt === undefined ? 'unreachable' : 'healthy',
        kind: provider.kind,
        configured: true,
        models: services.router.list().filter((model) => model.provider === provider).length,
        ...(discovery === undefined
          ? {}
          : {
              discovery: {
                stale: discovery.stale,
                last_success_at: discovery.lastSuccessAt === undefined ? null : new Date(discovery.lastSuccessAt).toISOString(),
                last_error: discovery.lastError ?? null,
              },
            }),
      };
    }
    for (const [name, reason] of Object.entries(services.providerSetup.notConfigured)) {
      out[name] = { status: 'not_configured', configured: false, reason };
    }
    return out;
  });
}
