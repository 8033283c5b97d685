// The one configuration schema, for the YAML file and the environment alike (TypeBox, as the routes).
import { Type, type Static } from '@sinclair/typebox';

const PROVIDER_KINDS = [
  'openai',
  'azure',
  'anthropic',
  'gemini',
  'ollama',
  'mistral',
  'groq',
  'deepseek',
  'together',
  'openrouter',
  'xai',
  'fireworks',
  'openai-compatible',
] as const;

export const ProviderKindSchema = Type.Union(PROVIDER_KINDS.map((kind) => Type.Literal(kind)));

export const ProviderConfigSchema = Type.Object(
  {
    /** Which wire format; defaults to the provider's name when that is a known kind. */
    type: Type.Optional(ProviderKindSchema),
    api_key: Type.Optional(Type.String({ minLength: 1 })),
    base_url: Type.Optional(Type.String({ minLength: 1 })),
    /** Azure only: the `api-version` query parameter. */
    api_version: Type.Optional(Type.String({ minLength: 1 })),
    /** Model names this provider serves, in addition to what its list endpoint reports. */
    models: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }))),
    /** Read the provider's model list at start and in the background. */
    discover: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
        host: Type.String({ minLength: 1 }),
        body_limit_mb: Type.Number({ exclusiveMinimum: 0, maximum: 1024 }),
        /** Seconds a client may take to send its headers (slowloris guard). */
        headers_timeout_s: Type.Number({ exclusiveMinimum: 0 }),
        /** Seconds a client may take to send its whole request. */
        request_timeout_s: Type.Number({ exclusiveMinimum: 0 }),
        /** Seconds between `: keepalive` comments on an idle stream. */
        keepalive_s: Type.Number({ exclusiveMinimum: 0 }),
      },
      { additionalProperties: false },
    ),
    auth: Type.Object(
      {
        master_key: Type.Optional(Type.String({ minLength: 1 })),
        api_keys: Type.Array(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    providers: Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }), ProviderConfigSchema),
    aliases: Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.String({ minLength: 1, maxLength: 256 })),
    routing: Type.Object(
      {
        /** Extra attempts after the first, for retryable failures before any byte reached the client. */
        retries: Type.Integer({ minimum: 0, maximum: 5 }),
        connect_timeout_s: Type.Number({ exclusiveMinimum: 0 }),
        /** Time to the upstream's response headers (time to first byte). */
        ttfb_timeout_s: Type.Number({ exclusiveMinimum: 0 }),
        /** Longest silence between two chunks of an upstream body. */
        idle_timeout_s: Type.Number({ exclusiveMinimum: 0 }),
        /** Largest non-streaming upstream body accepted. */
        max_response_mb: Type.Number({ exclusiveMinimum: 0 }),
        /** Seconds between background refreshes of provider model lists. */
        discovery_interval_s: Type.Number({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    limits: Type.Object(
      {
        default_rpm: Type.Integer({ minimum: 0 }),
        default_tpm: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    cache: Type.Object(
      {
        backend: Type.Union([Type.Literal('off'), Type.Literal('memory'), Type.Literal('redis')]),
        ttl_s: Type.Number({ minimum: 0 }),
        max_mb: Type.Number({ exclusiveMinimum: 0 }),
      },
      { additionalProperties: false },
    ),
    storage: Type.Object(
      {
        db_path: Type.String({ minLength: 1 }),
        database_url: Type.Optional(Type.String({ minLength: 1 })),
        redis_url: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    logging: Type.Object(
      {
        level: Type.Union(['debug', 'info', 'warn', 'error'].map((level) => Type.Literal(level))),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type ProviderConfig = Static<typeof ProviderConfigSchema>;
export type ConfiguredProviderKind = (typeof PROVIDER_KINDS)[number];
export const KNOWN_PROVIDER_KINDS: readonly ConfiguredProviderKind[] = PROVIDER_KINDS;
