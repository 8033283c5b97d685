// GET /health and /health/providers: open to orchestrators without a key, and free of secrets.
import type { FastifyInstance } from 'fastify';
import type { ProviderInstance } from '../../providers/provider.js';
import type { HealthSnapshot } from '../../routing/deployment-health.js';
import type { Services } from '../../services.js';
import { VERSION } from '../../version.js';

type ProviderStatus = 'healthy' | 'degraded' | 'down' | 'unreachable';

interface ProviderHealth {
  status: ProviderStatus;
  deployments: Record<string, HealthSnapshot>;
}

/** A provider's status from live traffic (per deployment) and from discovery. */
function providerHealth(services: Services, provider: ProviderInstance, now: number): ProviderHealth {
  const deployments: Record<string, HealthSnapshot> = {};
  let healthy = 0;
  let unhealthy = 0;
  for (const health of services.health.forProvider(provider.name)) {
    const snapshot = health.snapshot(now);
    deployments[health.id] = snapshot;
    if (snapshot.status === 'healthy') healthy++;
    else unhealthy++;
  }
  const discovery = services.discovery.statusOf(provider.name);
  const snapshots = Object.values(deployments);
  // Its list never read and no call ever answered: failed calls only confirm it, they are no sign of service.
  const neverAnswered = discovery?.lastError !== undefined && discovery.lastSuccessAt === undefined && snapshots.every((item) => item.requests === item.failures);
  let status: ProviderStatus = 'healthy';
  if (unhealthy > 0) status = healthy === 0 && snapshots.every((item) => item.status === 'down') ? 'down' : healthy === 0 && neverAnswered ? 'unreachable' : 'degraded';
  else if (healthy === 0 && neverAnswered) status = 'unreachable';
  return { status, deployments };
}

export function registerHealth(app: FastifyInstance, services: Services): void {
  app.get('/health', { config: { auth: 'none' } }, async () => {
    const providers = services.providerSetup.providers;
    const now = Date.now();
    const statuses = providers.map((provider) => providerHealth(services, provider, now).status);
    const serving = statuses.filter((status) => status === 'healthy' || status === 'degraded').length;
    let status: 'healthy' | 'degraded' | 'unhealthy' = 'healthy';
    if (providers.length === 0 || serving === 0) status = 'unhealthy';
    else if (statuses.some((item) => item !== 'healthy')) status = 'degraded';
    return {
      status,
      version: VERSION,
      uptime_s: Math.floor((Date.now() - services.startedAt) / 1000),
      providers: {
        configured: providers.length,
        serving,
        names: providers.map((provider) => provider.name),
      },
    };
  });

  app.get('/health/providers', { config: { auth: 'none' } }, async () => {
    const out: Record<string, Record<string, unknown>> = {};
    const now = Date.now();
    const listed = services.router.list();
    for (const provider of services.providerSetup.providers) {
      const discovery = services.discovery.statusOf(provider.name);
      const health = providerHealth(services, provider, now);
      const snapshots = Object.values(health.deployments);
      const requests = snapshots.reduce((sum, item) => sum + item.requests, 0);
      const failures = snapshots.reduce((sum, item) => sum + item.failures, 0);
      const reasons = snapshots.filter((item) => item.status !== 'healthy' && item.lastError !== null).map((item) => item.lastError as string);
      out[provider.name] = {
        status: health.status,
        kind: provider.kind,
        configured: true,
        models: listed.filter((model) => model.provider === provider).length,
        latency_ms: meanOf(snapshots.map((item) => item.latencyMs)),
        first_content_ms: meanOf(snapshots.map((item) => item.firstContentMs)),
        error_rate: requests === 0 ? 0 : Math.round((failures / requests) * 1000) / 1000,
        in_flight: snapshots.reduce((sum, item) => sum + item.inFlight, 0),
        requests,
        failures,
        reason: reasons[0] ?? (health.status === 'unreachable' ? (discovery?.lastError ?? null) : null),
        deployments: health.deployments,
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

/** The mean of the deployments' measured figures (tenths of a ms), null when none is measured. */
function meanOf(figures: ReadonlyArray<number | null>): number | null {
  const measured = figures.filter((figure): figure is number => figure !== null);
  return measured.length === 0 ? null : Math.round((measured.reduce((sum, figure) => sum + figure, 0) / measured.length) * 10) / 10;
}
