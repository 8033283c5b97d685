// Starts the real app on 127.0.0.1:0 (or ::1) in front of fake upstreams, with every log line captured
// (for canary and redaction checks). Tests build config the way main.ts does, through the loader.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockAgent, type Dispatcher } from 'undici';
import { buildApp, type App } from '../../src/app.js';
import type { ReloadHandler } from '../../src/http/routes/admin-reload.js';
import type { Environment } from '../../src/config/config-env.js';
import { loadConfig } from '../../src/config/config-loader.js';
import type { Config } from '../../src/config/config-schema.js';
import { createLogger } from '../../src/logging/logger.js';
import type { RateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import { createRedactor, createServices } from '../../src/services.js';
import { systemResolver, type HostResolver } from '../../src/upstream/guarded-lookup.js';
import { classifyAddress } from '../../src/upstream/url-guard.js';
import { MemoryUsageRecorder } from '../../src/usage/usage-recorder.js';

export const CLIENT_KEY = 'your-api-key';
export const MASTER_KEY = 'sk-master-test-key-0123456789abcdefghijkl';
export const UPSTREAM_KEY = 'sk-upstream-secret-key-abcdef123456';

export interface Gateway {
  url: string;
  app: App;
  logs: string[];
  usage: MemoryUsageRecorder;
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** Changes the loaded config before the services are built (e.g. a per-run Redis key prefix). */
  configure?: (config: Config) => void;
  /** Counts request and token limits in place of the process's memory limiter (e.g. on a clock the test sets). */
  rateLimiter?: RateLimiter;
  /** Runs on the built app before it listens (e.g. to add a hook). */
  prepare?: (app: App) => void;
  /** The loopback address to listen on: 127.0.0.1 unless given (::1 for IPv6). */
  host?: string;
  /** Registers POST /admin/reload (main.ts does; a bare app has nothing to reload). */
  reload?: ReloadHandler;
  /** Answers the SSRF guard's host lookups in place of DNS (no test touches a resolver). */
  resolveHost?: HostResolver;
  /** The connections web image downloads use (an undici MockAgent: the image hosts a test serves). */
  imageDispatcher?: Dispatcher;
}

/** Image downloads (for Gemini) reach no host, and look up no name, unless a test serves images itself. */
const NO_IMAGE_HOSTS = new MockAgent();
NO_IMAGE_HOSTS.disableNetConnect();

/** `env` is the process environment the proxy would see; LLM_PROXY_DB is pointed at a temp path unless given. */
/**
 * The default resolver of a test gateway: the system's (so a test's stand-in for dns.lookup still
 * answers), but an answer beyond loopback is refused: nothing outside 127.0.0.1 is ever a test's
 * target, and a test that forgot a provider's base URL fails here instead of calling the provider.
 */
export const loopbackOnly: HostResolver = (hostname, family, callback) => {
  systemResolver(hostname, family, (error, addresses) => {
    if (error === null && addresses.some((answer) => classifyAddress(answer.address).kind !== 'loopback')) {
      const refused: NodeJS.ErrnoException = new Error(`test harness: ${hostname} resolves beyond 127.0.0.1; give the provider a local fake's base URL`);
      refused.code = 'ENOTFOUND';
      callback(refused, []);
      return;
    }
    callback(error, addresses);
  });
};

export async function startGateway(env: Environment, options: GatewayOptions = {}): Promise<Gateway> {
  const dataDir = env.LLM_PROXY_DB === undefined ? mkdtempSync(join(tmpdir(), 'llm-proxy-test-')) : undefined;
  const removeDataDir = () => {
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    return await start(env, options, dataDir, removeDataDir);
  } catch (error) {
    removeDataDir();
    throw error;
  }
}

async function start(env: Environment, options: GatewayOptions, dataDir: string | undefined, removeDataDir: () => void): Promise<Gateway> {
  const { config } = loadConfig({
    LLM_PROXY_API_KEYS: CLIENT_KEY,
    LLM_PROXY_MASTER_KEY: MASTER_KEY,
    LLM_PROXY_LOG_LEVEL: 'debug',
    // The response cache would answer repeated requests without the fake upstream; tests that
    // exercise it pass LLM_PROXY_CACHE=memory|redis themselves.
    LLM_PROXY_CACHE: 'off',
    ...(dataDir === undefined ? {} : { LLM_PROXY_DB: join(dataDir, 'llm-proxy.db') }),
    ...env,
  });
  // Discovery is started explicitly by tests that need it.
  config.routing.discovery_interval_s = 0;
  options.configure?.(config);
  const logs: string[] = [];
  const redactor = createRedactor(config);
  const logger = createLogger(config.logging.level, redactor, { write: (line: string) => void logs.push(line) });
  const usage = new MemoryUsageRecorder();
  const services = createServices(config, {
    logger,
    usage,
    ...(options.rateLimiter === undefined ? {} : { localRateLimiter: options.rateLimiter }),
    resolveHost: options.resolveHost ?? loopbackOnly,
    imageDispatcher: options.imageDispatcher ?? NO_IMAGE_HOSTS,
  });
  let app: App | undefined;
  try {
    app = buildApp(services, options.reload === undefined ? {} : { reload: options.reload });
    options.prepare?.(app);
    await app.app.listen({ port: 0, host: options.host ?? '127.0.0.1' });
  } catch (error) {
    // What was built must not keep the test file alive (the store, its timers and connections)
    // or leave its database open when the start fails: the caller has nothing to close.
    await app?.app.close();
    await services.close();
    throw error;
  }
  const host = options.host ?? '127.0.0.1';
  const { port } = app.app.server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    app,
    logs,
    usage,
    async close() {
      await app.app.close();
      await services.close();
      removeDataDir();
    },
  };
}

/**
 * What a config reload of `gateway` builds from `env`: new services (providers, keys, limits
 * defaults) around the same shared part (its database, counters and caches), listening on a port of
 * their own, so a test can send the same request before and after the reload.
 */
export async function startReloadedTwin(gateway: Gateway, env: Environment): Promise<{ url: string; close(): Promise<void> }> {
  const { config } = loadConfig({ ...env, LLM_PROXY_DB: gateway.app.services.config.storage.db_path });
  config.routing.discovery_interval_s = 0;
  const services = createServices(config, { shared: gateway.app.services.shared, resolveHost: loopbackOnly });
  const reloaded = buildApp(services);
  await reloaded.app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(reloaded.app.server.address() as AddressInfo).port}`,
    async close() {
      await reloaded.app.close();
      await reloaded.services.close();
    },
  };
}

/** The provider variables that point the gateway at fake upstreams (each keyed with UPSTREAM_KEY). */
export function fakeProviderEnv(fakes: { openai?: { url: string }; groq?: { url: string }; azure?: { url: string }; openrouter?: { url: string } }): Record<string, string> {
  const env: Record<string, string> = {};
  if (fakes.openrouter !== undefined) Object.assign(env, { OPENROUTER_API_KEY: UPSTREAM_KEY, OPENROUTER_BASE_URL: `${fakes.openrouter.url}/v1` });
  if (fakes.openai !== undefined) Object.assign(env, { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fakes.openai.url}/v1` });
  if (fakes.groq !== undefined) Object.assign(env, { GROQ_API_KEY: UPSTREAM_KEY, GROQ_BASE_URL: `${fakes.groq.url}/v1` });
  if (fakes.azure !== undefined) Object.assign(env, { AZURE_OPENAI_API_KEY: UPSTREAM_KEY, AZURE_OPENAI_ENDPOINT: fakes.azure.url });
  return env;
}

export function authHeaders(key = CLIENT_KEY): Record<string, string> {
  return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
}

/** POST /v1/chat/completions with the client key: one user message `hi` to `model`, plus `extra` fields. */
export function postChat(gateway: Gateway, model: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: authHeaders(),
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
}

/** Polls until `check` passes or the time runs out (for effects that land after the answer). */
export async function eventually(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
