// Builds the configured provider instances from the config: one registry line per wire format.
import type { Config, ConfiguredProviderKind } from '../config/config-schema.js';
import { selectsAzureV1Api, usesAzureV1Api } from './azure-api.js';
import { ANTHROPIC_DEFAULT_BASE_URL, anthropicCodec } from './anthropic/anthropic-codec.js';
import { GEMINI_DEFAULT_BASE_URL, geminiCodec } from './gemini/gemini-codec.js';
import { createOpenAiCodec, OPENAI_FAMILY_PRESETS, type OpenAiFamilyKind } from './openai-compatible.js';
import type { ChatCodec, ProviderInstance, ProviderKind } from './provider.js';

interface CodecFactoryOptions {
  kind: ProviderKind;
  apiVersion: string | undefined;
  baseUrl: URL;
}

interface KindInfo {
  defaultBaseUrl: string | undefined;
  requiresKey: boolean;
  /** The env variables that configure it, for start-up messages. */
  env: string;
  codec(options: CodecFactoryOptions): ChatCodec;
}

/** The translated providers: one registry line each. The OpenAI-format family comes from its preset table. */
const TRANSLATED: Partial<Record<ProviderKind, KindInfo>> = {
  anthropic: { defaultBaseUrl: ANTHROPIC_DEFAULT_BASE_URL, requiresKey: true, env: 'ANTHROPIC_API_KEY (and optionally ANTHROPIC_BASE_URL)', codec: () => anthropicCodec },
  gemini: { defaultBaseUrl: GEMINI_DEFAULT_BASE_URL, requiresKey: true, env: 'GEMINI_API_KEY (and optionally GEMINI_BASE_URL)', codec: () => geminiCodec },
};

function envNames(kind: ProviderKind): string {
  if (kind === 'azure') return 'AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT';
  if (kind === 'ollama') return 'OLLAMA_BASE_URL';
  if (kind === 'openai-compatible') return 'a providers entry in the config file';
  const prefix = kind.toUpperCase();
  return `${prefix}_API_KEY (and optionally ${prefix}_BASE_URL)`;
}

function kindInfo(kind: ProviderKind): KindInfo | undefined {
  const translated = TRANSLATED[kind];
  if (translated !== undefined) return translated;
  const preset = OPENAI_FAMILY_PRESETS[kind as OpenAiFamilyKind] as (typeof OPENAI_FAMILY_PRESETS)[OpenAiFamilyKind] | undefined;
  if (preset === undefined) return undefined;
  return {
    defaultBaseUrl: preset.baseUrl,
    requiresKey: preset.requiresKey,
    env: envNames(kind),
    codec: (options) =>
      createOpenAiCodec({
        kind: options.kind as OpenAiFamilyKind,
        ...(options.apiVersion === undefined ? {} : { apiVersion: options.apiVersion }),
        ...(options.kind === 'azure' && usesAzureV1Api(options.baseUrl) ? { azureV1: true } : {}),
      }),
  };
}

/** Every kind a user can configure by environment alone, in the order start-up reports them. */
export const ENV_PROVIDER_KINDS: readonly ProviderKind[] = [
  'openai',
  'anthropic',
  'gemini',
  'azure',
  'ollama',
  'mistral',
  'groq',
  'deepseek',
  'together',
  'openrouter',
  'xai',
  'fireworks',
];

export interface ProviderSetup {
  providers: ProviderInstance[];
  /** Provider name → why it is not serving, for start-up logs and /health/providers. */
  notConfigured: Record<string, string>;
}

function normaliseBaseUrl(kind: ProviderKind, raw: string, apiVersion: string | undefined): URL {
  const url = new URL(raw);
  // Ollama's OpenAI-compatible API lives under /v1; accept the bare server address too.
  if (kind === 'ollama' && !/\/v1\/?$/.test(url.pathname)) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1`;
  url.pathname = url.pathname.replace(/\/+$/, '');
  // Anthropic's and Gemini's request paths carry their version; accept a base URL written with it.
  if (kind === 'anthropic') url.pathname = url.pathname.replace(/\/v1$/, '');
  if (kind === 'gemini') url.pathname = url.pathname.replace(/\/v1(beta|alpha)?$/, '');
  // Azure: the resource's endpoint for its deployment API, whose request paths start with /openai/
  // (an endpoint written with /openai, as the portal's samples show it, would double it, and every
  // call would be a 404 read as model_not_found); the endpoint's /openai/v1 for its v1 API.
  if (kind === 'azure') {
    const v1 = selectsAzureV1Api(apiVersion, url.pathname);
    url.pathname = `${url.pathname.replace(/\/+$/, '').replace(/\/openai(\/v1)?$/, '')}${v1 ? '/openai/v1' : ''}`;
  }
  return url;
}

export function buildProviders(config: Config): ProviderSetup {
  const providers: ProviderInstance[] = [];
  const notConfigured: Record<string, string> = {};
  for (const [name, settings] of Object.entries(config.providers)) {
    const kind = (settings.type ?? name) as ConfiguredProviderKind;
    const info = kindInfo(kind);
    if (info === undefined) {
      notConfigured[name] = `the ${kind} provider is not available in this build`;
      continue;
    }
    const base = settings.base_url ?? info.defaultBaseUrl;
    if (base === undefined) {
      notConfigured[name] = `no base URL: set ${kind === 'azure' ? 'AZURE_OPENAI_ENDPOINT' : `providers.${name}.base_url`}`;
      continue;
    }
    if (info.requiresKey && settings.api_key === undefined) {
      notConfigured[name] = `no API key: set ${info.env}`;
      continue;
    }
    const baseUrl = normaliseBaseUrl(kind, base, settings.api_version);
    providers.push({
      name,
      kind,
      baseUrl,
      apiKey: settings.api_key,
      codec: info.codec({ kind, apiVersion: settings.api_version, baseUrl }),
      staticModels: settings.models ?? [],
      ...(settings.allow_private_network === true ? { allowPrivateNetwork: true } : {}),
    });
  }
  for (const kind of ENV_PROVIDER_KINDS) {
    if (config.providers[kind] === undefined) notConfigured[kind] = `not configured: set ${envNames(kind)}`;
  }
  return { providers, notConfigured };
}
