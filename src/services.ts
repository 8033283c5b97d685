// Builds the gateway's long-lived services from a validated config: one place that wires them,
// so the app, the CLI and the tests get the same objects.
import { Agent, type Dispatcher } from 'undici';
import { createResponseCache, type SharedMemoryCache } from './cache/create-response-cache.js';
import type { ResponseCache } from './cache/response-cache.js';
import { ModelCatalog } from './catalog/model-catalog.js';
import { configuredHosts, configuredSecrets } from './config/config-secrets.js';
import { ModelDirectory } from './catalog/model-directory.js';
import { ModelDiscovery } from './catalog/model-discovery.js';
import type { Config } from './config/config-schema.js';
import { BodyBudget } from './http/body-budget.js';
import { KeyChangeBus } from './keys/key-change-bus.js';
import { StaticKeyRing } from './keys/static-keys.js';
import { VirtualKeyService } from './keys/virtual-keys.js';
import { UiSessionStore } from './keys/ui-sessions.js';
import { createLogger, type Logger } from './logging/logger.js';
import { Redactor } from './logging/redactor.js';
import { buildProviders, type ProviderSetup } from './providers/provider-registry.js';
import { BudgetLedger } from './rate-limit/budget-ledger.js';
import { ChatAdmission } from './rate-limit/chat-admission.js';
import { InstanceRegistry, type InstanceCount } from './rate-limit/instance-registry.js';
import { MemoryRateLimiter, type RateLimiter } from './rate-limit/memory-rate-limiter.js';
import { RedisRateLimiter } from './rate-limit/redis-rate-limiter.js';
import { ChatExecutor } from './routing/chat-executor.js';
import { routerFor, type ModelRouter } from './routing/model-router.js';
import { DEFAULT_BREAKER, HealthRegistry, type BreakerOptions } from './routing/deployment-health.js';
import { HealthProbe } from './routing/health-probe.js';
import { RetryBudget } from './routing/retry-policy.js';
import { RedisConnection } from './store/redis-connection.js';
import { SqlStore, storeOptions } from './store/sql-store.js';
import { UsageRetention } from './usage/usage-retention.js';
import { BatchedUsageWriter, fanOutUsage, usageSpoolFile } from './usage/batched-usage-writer.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { guardedLookup, systemResolver, type HostResolver } from './upstream/guarded-lookup.js';
import { createImageFetcher } from './upstream/image-fetch.js';
import { UpstreamClient } from './upstream/upstream-client.js';
import { hostRules } from './upstream/url-guard.js';
import type { UsageRecorder } from './usage/usage-recorder.js';

/**
 * better-sqlite3 waits for another process's write lock on the event loop: at the default 5 s, a
 * file held by BEGIN EXCLUSIVE stalled every request, static keys included, for the whole lock
 * (p50 15 s over a 20 s lock). Workers' own transactions take milliseconds; past this the write
 * counts as the database being away (budgets held locally, usage spooled).
 */
export const SERVER_SQLITE_BUSY_TIMEOUT_MS = 250;

export interface Services {
  config: Config;
  logger: Logger;
  redactor: Redactor;
  catalog: ModelCatalog;
  providerSetup: ProviderSetup;
  router: ModelRouter;
  discovery: ModelDiscovery;
  /** The public model list (/api/models, /v1/models), rebuilt only when routing or discovery changes. */
  models: ModelDirectory;
  keys: StaticKeyRing;
  /** Virtual keys (sk-gw_…) from the database, behind a short-lived cache. */
  virtualKeys: VirtualKeyService;
  /** Keys and usage: SQLite by default, PostgreSQL with DATABASE_URL. */
  store: SqlStore;
  rateLimiter: RateLimiter;
  /** Token-limit and budget holds around each chat call. */
  admission: ChatAdmission;
  usage: UsageRecorder;
  upstream: UpstreamClient;
  executor: ChatExecutor;
  /** Live health of every deployment: breakers, cool-downs, latency. */
  health: HealthRegistry;
  /** Optional background probes of model groups' deployments (started by main). */
  probe: HealthProbe;
  /** The one shared Redis connection (REDIS_URL), for every feature that keeps state across instances. */
  redis?: RedisConnection;
  /** The response cache; undefined when it is off (then the request path does no cache work). */
  cache?: ResponseCache;
  /** Prometheus metrics (/metrics), fed by the usage fan-out and the HTTP hooks. */
  metrics: GatewayMetrics;
  /** Dashboard sign-ins (/ui): cookie sessions that act as the master key (issue #10). */
  uiSessions: UiSessionStore;
  startedAt: number;
  /** What this generation shares with the ones before and after a config reload. */
  shared: SharedServices;
  /** Stops background work and closes pools (the shared part too, when this generation created it). */
  close(): Promise<void>;
}

/**
 * What outlives a config reload: connections (database, Redis), counters (rate limits), caches
 * (virtual keys, responses, UI sessions), the usage writer and the metrics registry. A reload
 * builds new providers, router, catalog, limits defaults and upstream pools around these.
 */
export interface SharedServices {
  logger: Logger;
  redactor: Redactor;
  redis?: RedisConnection;
  store: SqlStore;
  rateLimiter: RateLimiter;
  /** With Redis: how many instances share it, which divides limits while it is away. */
  fleet?: InstanceCount;
  virtualKeys: VirtualKeyService;
  ledger: BudgetLedger;
  usage: UsageRecorder;
  metrics: GatewayMetrics;
  cache?: ResponseCache;
  uiSessions: UiSessionStore;
  /** Request body bytes being read, across every generation (RELIABILITY 4c "Body caps"); buildApp sets its size. */
  bodyBudget: BodyBudget;
  /** When the process started serving (uptime and model `created` do not restart with a reload). */
  startedAt: number;
  /** Before an exit with no drain: buffered usage records are saved to the spool file, synchronously. */
  spoolUsageNow(): void;
  close(): Promise<void>;
}

export interface ServiceOverrides {
  logger?: Logger;
  /** The redactor `logger` writes through (a reload extends it with the new config's secrets). */
  redactor?: Redactor;
  usage?: UsageRecorder;
  /** The digest of a generated master key, when none is configured. */
  masterKeyDigest?: Buffer;
  /** A reload: the previous generation's shared part, which this one uses and does not close. */
  shared?: SharedServices;
  /** A reload with unchanged breaker settings: the previous generation's deployment health. */
  health?: HealthRegistry;
  /** Worker processes: counters kept by the primary (used directly, or under Redis while it is away). */
  localRateLimiter?: RateLimiter;
  /** Worker processes: the instance count the primary keeps in Redis (the cluster is one instance). */
  fleet?: InstanceCount;
  /** Worker processes: the memory response cache kept by the primary. */
  sharedMemoryCache?: SharedMemoryCache;
  /** Where unwritten usage goes at exit (default usageSpoolFile(config.storage)). */
  spoolFile?: string;
  /** Worker processes: false in all but one, so usage retention runs once per cluster (default true). */
  usageRetention?: boolean;
  /** Worker processes: dashboard sessions that every worker learns of. */
  uiSessions?: UiSessionStore;
  /** Resolves upstream hosts for the SSRF guard (default the system's dns.lookup); tests map names here. */
  resolveHost?: HostResolver;
  /** The connections web image downloads use (default an Agent behind the SSRF guard, public hosts only); tests reach a local server here. */
  imageDispatcher?: Dispatcher;
}

/** Web image downloads (for Gemini): Gemini takes 20 MB of inline data per request; an image host gets 10 s. */
const IMAGE_FETCH_MAX_BYTES = 20 * 1024 * 1024;
const IMAGE_FETCH_TIMEOUT_MS = 10_000;

/** The redactor for `config`: its secrets, and its providers' hosts for text bound for clients. */
export function createRedactor(config: Config): Redactor {
  return new Redactor(configuredSecrets(config), configuredHosts(config));
}

/** The part of the services that a config reload keeps (see SharedServices). */
export function createSharedServices(config: Config, overrides: ServiceOverrides = {}): SharedServices {
  const redactor = overrides.redactor ?? createRedactor(config);
  const logger = overrides.logger ?? createLogger(config.logging.level, redactor);
  const redis = config.storage.redis_url === undefined ? undefined : new RedisConnection({ url: config.storage.redis_url }, logger);
  const cache = createResponseCache(config, logger, redis, overrides.sharedMemoryCache);
  const memoryLimiter = overrides.localRateLimiter === undefined ? new MemoryRateLimiter() : undefined;
  const localLimiter = overrides.localRateLimiter ?? (memoryLimiter as MemoryRateLimiter);
  // Keys, limits, budgets and usage (issue #6): Redis makes limits and revocations shared, the store keeps keys and usage.
  const redisPrefix = config.storage.redis_prefix ?? 'llm-proxy:';
  // A worker's count comes from its primary, which registers the cluster; a process registers itself.
  const registry = redis === undefined || overrides.fleet !== undefined ? undefined : instanceRegistry(config, redis, logger);
  registry?.start();
  const fleet = overrides.fleet ?? registry;
  const redisLimiter = redis === undefined ? undefined : new RedisRateLimiter(redis, localLimiter, redisPrefix, undefined, undefined, logger, fleet);
  const rateLimiter: RateLimiter = redisLimiter ?? localLimiter;
  const pruneTimer = setInterval(() => {
    const now = Date.now();
    memoryLimiter?.prune(now);
    redisLimiter?.prune(now);
  }, 60_000);
  pruneTimer.unref();
  const store = new SqlStore({ ...storeOptions(config.storage), busyTimeoutMs: SERVER_SQLITE_BUSY_TIMEOUT_MS }, logger);
  store.ready().catch((error: unknown) => logger.warn({ component: 'store', err: error instanceof Error ? error.message : String(error) }, 'database not ready at start; retrying on first use'));
  const virtualKeys = new VirtualKeyService(store.keys, logger);
  const keyChanges = new KeyChangeBus(virtualKeys, store.keys, logger, { redis, channel: `${redisPrefix}key-changes` });
  keyChanges.start();
  const ledger = new BudgetLedger(store.keys, (id) => virtualKeys.cached(id), logger);
  const usageWriter = new BatchedUsageWriter(store.usage, logger, {
    spoolFile: overrides.spoolFile ?? usageSpoolFile(config.storage),
    // The ledger counts a call's spend until its row lands, and the first budget check the database answers again ends the writer's backoff.
    observer: ledger,
  });
  ledger.onStoreBack(() => usageWriter.retryNow());
  const retentionDays = config.storage.usage_retention_days;
  const retention = retentionDays === undefined || overrides.usageRetention === false ? undefined : new UsageRetention(store.usage, logger, { days: retentionDays });
  retention?.start();
  const metrics = new GatewayMetrics((value) => redactor.redact(value) !== value);
  // This process's lookups, not the shared figures of /health/cache: Prometheus sums a counter over
  // workers (the cluster aggregation) and over instances, so each must count only its own.
  if (cache !== undefined) metrics.bind({ cache: async () => cache.lookups });
  metrics.bind({ usageWriter: () => usageWriter.stats() });
  const usage = fanOutUsage(overrides.usage === undefined ? [usageWriter, metrics] : [usageWriter, metrics, overrides.usage]);
  return {
    logger,
    redactor,
    ...(redis === undefined ? {} : { redis }),
    store,
    rateLimiter,
    ...(fleet === undefined ? {} : { fleet }),
    virtualKeys,
    ledger,
    usage,
    metrics,
    ...(cache === undefined ? {} : { cache }),
    uiSessions: overrides.uiSessions ?? new UiSessionStore(),
    bodyBudget: new BodyBudget(config.server),
    startedAt: Date.now(),
    spoolUsageNow: () => usageWriter.spoolNow(),
    async close() {
      clearInterval(pruneTimer);
      await retention?.stop();
      await keyChanges.close();
      ledger.close();
      await usage.flush();
      await usageWriter.close();
      await store.close();
      await cache?.close();
      await registry?.close();
      await redis?.close();
    },
  };
}

/** The registration of this process (or cluster) among the instances sharing `redis`. */
export function instanceRegistry(config: Config, redis: RedisConnection, logger: Logger, onChange?: (instances: number) => void): InstanceRegistry {
  return new InstanceRegistry(redis, {
    prefix: config.storage.redis_prefix ?? 'llm-proxy:',
    ...(config.storage.expected_instances === undefined ? {} : { floor: config.storage.expected_instances }),
    logger,
    ...(onChange === undefined ? {} : { onChange }),
  });
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  const shared = overrides.shared ?? createSharedServices(config, overrides);
  const ownsShared = overrides.shared === undefined;
  const { logger, redactor, redis, cache, store, rateLimiter, virtualKeys, ledger, metrics } = shared;
  const catalog = ModelCatalog.builtin(config.model_catalog);
  const providerSetup = buildProviders(config);
  const router = routerFor(config, providerSetup.providers, catalog, (name) => redactor.redact(name) !== name);
  const upstream = new UpstreamClient(
    {
      connectTimeoutMs: config.routing.connect_timeout_s * 1000,
      ttfbTimeoutMs: config.routing.ttfb_timeout_s * 1000,
      idleTimeoutMs: config.routing.idle_timeout_s * 1000,
      maxResponseBytes: Math.floor(config.routing.max_response_mb * 1024 * 1024),
      // Every new upstream connection (chat, discovery, probes) resolves through the guard.
      lookup: guardedLookup(hostRules(providerSetup.providers), overrides.resolveHost ?? systemResolver, ({ host, addresses, reason }) =>
        logger.warn({ component: 'upstream', host, addresses, reason }, 'upstream connection refused by the SSRF guard'),
      ),
    },
    redactor,
  );
  const discovery = new ModelDiscovery(router, upstream, logger, config.routing.discovery_interval_s * 1000, redactor);
  const health =
    overrides.health ??
    new HealthRegistry(
      breakerOptions(config),
      // One log line per breaker transition.
      (deployment, from, to, reason) => logger[to === 'open' ? 'warn' : 'info']({ deployment, from, to, reason }, `circuit ${to}`),
    );
  // Client-chosen image URLs (for Gemini): a host with no rule may resolve only to public addresses.
  const imageAgent =
    overrides.imageDispatcher === undefined
      ? new Agent({
          connect: {
            timeout: IMAGE_FETCH_TIMEOUT_MS,
            lookup: guardedLookup(new Map(), overrides.resolveHost ?? systemResolver, ({ host, addresses, reason }) =>
              logger.warn({ component: 'image-fetch', host, addresses, reason }, 'image download refused by the SSRF guard'),
            ),
          },
          keepAliveTimeout: 10_000,
        })
      : undefined;
  const fetchImage = createImageFetcher({ dispatcher: overrides.imageDispatcher ?? (imageAgent as Agent), maxBytes: IMAGE_FETCH_MAX_BYTES, timeoutMs: IMAGE_FETCH_TIMEOUT_MS });
  const executor = new ChatExecutor(upstream, router, health, new RetryBudget(), redactor, {
    fetchImage,
    ttfbMs: config.routing.ttfb_timeout_s * 1000,
    ...(config.routing.total_timeout_s === undefined ? {} : { totalMs: config.routing.total_timeout_s * 1000 }),
    contextWindowFallbacks: config.routing.context_window_fallbacks ?? true,
  });
  const probe = new HealthProbe(router, executor, logger, (config.routing.probe_interval_s ?? 0) * 1000);
  const admission = new ChatAdmission({ rateLimiter, ledger, catalog, defaultTpm: config.limits.default_tpm, logger });
  metrics.bind({
    circuits: () => providerSetup.providers.flatMap((provider) => health.forProvider(provider.name).map((entry) => ({ deployment: entry.id, provider: provider.name, state: entry.circuit }))),
  });
  return {
    config,
    logger,
    redactor,
    catalog,
    providerSetup,
    router,
    discovery,
    models: new ModelDirectory(router, catalog, discovery),
    keys: new StaticKeyRing(config.auth.api_keys, config.auth.master_key, overrides.masterKeyDigest),
    virtualKeys,
    store,
    rateLimiter,
    admission,
    usage: shared.usage,
    metrics,
    uiSessions: shared.uiSessions,
    upstream,
    executor,
    health,
    probe,
    ...(redis === undefined ? {} : { redis }),
    ...(cache === undefined ? {} : { cache }),
    startedAt: shared.startedAt,
    shared,
    async close() {
      discovery.stop();
      probe.stop();
      await upstream.close();
      await imageAgent?.close();
      if (ownsShared) await shared.close();
    },
  };
}

/** The circuit breaker settings of a config (a reload keeps deployment health only when these are equal). */
export function breakerOptions(config: Config): BreakerOptions {
  return {
    ...DEFAULT_BREAKER,
    ...(config.routing.failure_threshold === undefined ? {} : { failureThreshold: config.routing.failure_threshold }),
    ...(config.routing.cooldown_s === undefined ? {} : { cooldownMs: config.routing.cooldown_s * 1000 }),
  };
}
