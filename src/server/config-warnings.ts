// What a config may get wrong without being refused, checked wherever one is loaded (start-up,
// check-config, a reload): logged at warn, printed by check-config, answered by /admin/reload.
// And the one thing that refuses it (servingProblem). Nothing here opens the store or the server,
// so check-config loads neither.
import type { Config } from '../config/config-schema.js';
import { condenseModelWarning } from '../context/condense-model-check.js';
import { selectsAzureV1Api } from '../providers/azure-api.js';
import { fallbackWarnings } from '../routing/unrouted-names.js';

/** The length the master key must have on a public listener; client keys are held to it by a warning. */
export const STRONG_KEY_LENGTH = 32;

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Why a config must not serve, or undefined: a public listener needs a strong master key. */
export function servingProblem(config: Config): string | undefined {
  const { auth, server } = config;
  if (isLoopback(server.host) || (auth.master_key !== undefined && auth.master_key.length >= STRONG_KEY_LENGTH)) return undefined;
  return `auth.master_key: refusing to listen on ${server.host} without a master key of at least ${STRONG_KEY_LENGTH} characters: set LLM_PROXY_MASTER_KEY (or bind HOST=127.0.0.1).`;
}

export interface ConfigWarning {
  /** The log line's `component`. */
  component: 'condense' | 'auth' | 'routing';
  message: string;
}

/**
 * Static client keys shorter than the master key must be, on a listener beyond loopback. The
 * failed-authentication limit refuses a wrong guess, but a right one still works from that address
 * (a shared egress address must not lock out the keys in use), so a common key (`your-api-key`) is
 * found in a few tries. Says which keys by their place in the list, never by the key.
 */
export function weakClientKeysWarning(config: Config): string | undefined {
  if (isLoopback(config.server.host)) return undefined;
  const weak: number[] = [];
  config.auth.api_keys.forEach((key, index) => {
    if (key.length < STRONG_KEY_LENGTH) weak.push(index + 1);
  });
  if (weak.length === 0) return undefined;
  const which = weak.length === 1 ? `key ${weak[0]} of` : `keys ${weak.join(', ')} of`;
  return (
    `auth.api_keys: ${which} LLM_PROXY_API_KEYS ${weak.length === 1 ? 'is' : 'are'} shorter than ${STRONG_KEY_LENGTH} characters while the proxy listens on ${config.server.host}: ` +
    'anyone who reaches the port can guess a short or common key, and the failed-authentication limit does not refuse a right guess; ' +
    `use random keys of ${STRONG_KEY_LENGTH} or more characters (openssl rand -hex 32), or virtual keys (POST /admin/keys)`
  );
}

/**
 * An Azure endpoint written for the v1 API (ending in /openai/v1, as Microsoft's samples give the
 * openai client's base_url) with a dated api_version: the v1 paths refuse a dated version, so the
 * calls go to the deployment API instead, which the operator may not expect. Names the provider and
 * the version, never the URL (it may hold a secret).
 */
export function azureEndpointWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const [name, settings] of Object.entries(config.providers)) {
    if ((settings.type ?? name) !== 'azure' || settings.base_url === undefined || settings.api_version === undefined) continue;
    let path: string;
    try {
      path = new URL(settings.base_url).pathname.replace(/\/+$/, '');
    } catch {
      continue;
    }
    if (!/\/openai\/v1$/.test(path) || selectsAzureV1Api(settings.api_version, path)) continue;
    warnings.push(
      `providers.${name}.api_version: '${settings.api_version}' is a dated version, which Azure's v1 API refuses, so calls go to the deployment API (/openai/deployments/…) although its endpoint ends in /openai/v1; ` +
        'leave api_version out (or set it to v1 or preview) to use the v1 API',
    );
  }
  return warnings;
}

export function configWarnings(config: Config): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  const condense = condenseModelWarning(config);
  if (condense !== undefined) warnings.push({ component: 'condense', message: condense });
  const weak = weakClientKeysWarning(config);
  if (weak !== undefined) warnings.push({ component: 'auth', message: weak });
  for (const message of fallbackWarnings(config)) warnings.push({ component: 'routing', message });
  for (const message of azureEndpointWarnings(config)) warnings.push({ component: 'routing', message });
  return warnings;
}
