// Entry point: load the config, build the app, listen. The only file that listens.
import { buildApp } from './app.js';
import { gracefulShutdown } from './http/graceful-shutdown.js';
import { ConfigError, loadConfig } from './config/config-loader.js';
import { bootstrapMasterKey, isLoopback } from './keys/master-key-bootstrap.js';
import { createServices } from './services.js';

function fail(message: string): never {
  process.stderr.write(`llm-proxy: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const { config } = loaded;
  const { auth, server } = config;
  if (!isLoopback(server.host) && (auth.master_key === undefined || auth.master_key.length < 32)) {
    fail(`refusing to listen on ${server.host} without a master key of at least 32 characters: set LLM_PROXY_MASTER_KEY (or bind HOST=127.0.0.1).`);
  }
  let masterKeyDigest: Buffer | undefined;
  let generated: { key: string; file: string } | undefined;
  if (auth.api_keys.length === 0 && auth.master_key === undefined) {
    const bootstrapped = bootstrapMasterKey(config.storage.db_path);
    masterKeyDigest = bootstrapped.digest;
    if (bootstrapped.generated !== undefined) generated = { key: bootstrapped.generated, file: bootstrapped.file };
  }

  const services = createServices(config, masterKeyDigest === undefined ? {} : { masterKeyDigest });
  const built = buildApp(services);
  const { app } = built;
  const { logger } = services;

  for (const provider of services.providerSetup.providers) {
    logger.info({ provider: provider.name, kind: provider.kind, base_url: provider.baseUrl.origin }, 'provider configured');
  }
  for (const [name, reason] of Object.entries(services.providerSetup.notConfigured)) {
    logger.info({ provider: name, reason }, 'provider not configured');
  }
  if (services.providerSetup.providers.length === 0) {
    logger.warn('no provider is configured, so every chat request will fail: set OPENAI_API_KEY (or another provider key) and restart');
  }

  const deadlineMs = (server.shutdown_timeout_s ?? 30) * 1000;
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    // A backstop only: the drain itself ends streams at the deadline and cuts what is left.
    const force = setTimeout(() => process.exit(1), deadlineMs + 15_000);
    force.unref();
    try {
      await gracefulShutdown(built, deadlineMs);
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await app.listen({ port: server.port, host: server.host });
  const address = `http://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
  logger.info({ address }, 'llm-proxy listening');
  if (generated !== undefined) {
    // Written straight to stderr, not through the log: the one time this key is ever shown.
    process.stderr.write(
      `\n  No API key was configured, so llm-proxy generated a master key. It is shown only this once:\n\n` +
        `      ${generated.key}\n\n` +
        `  Use it as "Authorization: Bearer <key>" against ${address}/v1.\n` +
        `  Only its SHA-256 is kept, in ${generated.file}; delete that file to generate a new one,\n` +
        `  or set LLM_PROXY_MASTER_KEY / LLM_PROXY_API_KEYS to choose your own keys.\n\n`,
    );
  } else if (masterKeyDigest !== undefined) {
    logger.info('using the generated master key whose hash is stored next to the database (delete master-key.sha256 to make a new one)');
  }
  void services.discovery.start();
  // Shed new work with 503 before an out-of-memory crash (RELIABILITY 4b#24).
  built.lifecycle.watchHeap();
  services.probe.start();
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(`llm-proxy: unhandled rejection: ${reason instanceof Error ? reason.name : 'error'}\n`);
});

main().catch((error: unknown) => {
  fail(error instanceof Error ? error.message : String(error));
});
