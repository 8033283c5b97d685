// What in a config the redactor keeps out of logs and answers: its secrets, and its providers'
// hosts. Apart from services.ts, so check-config masks the same secrets without loading the server.
import type { Config } from './config-schema.js';

/** Every secret the process knows, for the redactor. */
export function configuredSecrets(config: Config): string[] {
  const secrets = [...config.auth.api_keys];
  if (config.auth.master_key !== undefined) secrets.push(config.auth.master_key);
  if (config.metrics?.token !== undefined) secrets.push(config.metrics.token);
  // Whoever holds the cache's HMAC secret can name (and, over a shared Redis, plant) any tenant's entries.
  if (config.cache.secret !== undefined) secrets.push(config.cache.secret);
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

/** The configured providers' base URL hosts: the redactor removes them from provider text by name. */
export function configuredHosts(config: Config): string[] {
  const urls = Object.values(config.providers).map((provider) => provider.base_url);
  return urls.filter((url): url is string => url !== undefined && URL.canParse(url)).map((url) => new URL(url).hostname);
}
