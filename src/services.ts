// Builds the gateway's long-lived services from a validated config: one place that wires them,
// so the app, the CLI and the tests get the same objects.
import { ModelCatalog } from './catalog/model-catalog.js';
import { ModelDiscovery } from './catalog/model-discovery.js';
import type { Config } from './config/config-schema.js';
import { StaticKeyRing } from './keys/static-keys.js';
import { createLogger, type Logger } from './logging/logger.js';
import { Redactor } from './logging/redactor.js';
import { buildProviders, type ProviderSetup } from './providers/provider-registry.js';
import { MemoryRateLimiter, type RateLimiter } from './rate-limit/memory-rate-limiter.js';
import { ChatExecutor } from './routing/chat-executor.js';
import { ModelRouter } from './routing/model-router.js';
import { RetryBudget } from './routing/retry-policy.js';
import { UpstreamClient } from './upstream/upstream-client.js';
import { MemoryUsageRecorder, type UsageRecorder } from './usage/usage-recorder.js';

export interface Services {
  config: Config;
  logger: Logger;
  redactor: Redactor;
  catalog: ModelCatalog;
  providerSetup: ProviderSetup;
  router: ModelRouter;
  discovery: ModelDiscovery;
  keys: StaticKeyRing;
  rateLimiter: RateLimiter;
  usage: UsageRecorder;
  upstream: UpstreamClient;
  executor: ChatExecutor;
  startedAt: number;
  /** Stops background work and closes pools. */
  close(): Promise<void>;
}

export interface ServiceOverrides {
  logger?: Logger;
  usage?: UsageRecorder;
  /** The digest of a generated master key, when none is configured. */
  masterKeyDigest?: Buffer;
}

/** Every secret the process knows, for the redactor. */
export function configuredSecrets(config: Config): string[] {
  const secrets = [...config.auth.api_keys];
  if (config.auth.master_key !== undefined) secrets.push(config.auth.master_key);
  for (const provider of Object.values(config.providers)) if (provider.api_key !== undefined) secrets.push(provider.api_key);
  for (const url of [config.storage.database_url, config.storage.redis_url]) {
    if (url === undefined) continue;
    try {
      const password = new URL(url).password;
      if (password.length > 0) secrets.push(decodeURIComponent(password));
    } catch {
      // Not a URL: nothing to pick out.
    }
  }
  return secrets;
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  const redactor = new Redactor(configuredSecrets(config));
  const logger = overrides.logger ?? createLogger(config.logging.level, redactor);
  const catalog = ModelCatalog.builtin();
  const providerSetup = buildProviders(config);
  const router = new ModelRouter(providerSetup.providers, catalog, config.aliases);
  const upstream = new UpstreamClient(
    {
      connectTimeoutMs: config.routing.connect_timeout_s * 1000,
      ttfbTimeoutMs: config.routing.ttfb_timeout_s * 1000,
      idleTimeoutMs: config.routing.idle_timeout_s * 1000,
      maxResponseBytes: Math.floor(config.routing.max_response_mb * 1024 * 1024),
    },
    redactor,
  );
  const discovery = new ModelDiscovery(router, upstream, logger, config.routing.discovery_interval_s * 1000);
  const executor = new ChatExecutor(upstream, { retries: config.routing.retries }, new RetryBudget(), redactor);
  const rateLimiter = new MemoryRateLimiter();
  const pruneTimer = setInterval(() => (rateLimiter as MemoryRateLimiter).prune(Date.now()), 60_000);
  pruneTimer.unref();
  return {
    config,
    logger,
    redactor,
    catalog,
    providerSetup,
    router,
    discovery,
    keys: new StaticKeyRing(config.auth.api_keys, config.auth.master_key, overrides.masterKeyDigest),
    rateLimiter,
    usage: overrides.usage ?? new MemoryUsageRecorder(),
    upstream,
    executor,
    startedAt: Date.now(),
    async close() {
      clearInterval(pruneTimer);
      discovery.stop();
      await this.usage.flush();
      await upstream.close();
    },
  };
}
