// The one configuration schema, for the YAML file and the environment alike (TypeBox, as the routes).
import { Type, type Static } from '@sinclair/typebox';
import { CACHE_WRITE_TRIGGERS, CAPABILITIES, MODALITIES } from '../catalog/catalog-types.js';

/**
 * The longest a seconds setting that feeds a timer may be: Node's timers hold at most 2^31 − 1 ms
 * (24.8 days) and turn anything longer into 1 ms, so "30 days" would probe or time out every millisecond.
 */
const MAX_TIMER_S = 2_147_483;

/** The longest a cached answer is kept: a year (models, prices and answers change well before). */
const MAX_CACHE_TTL_S = 31_536_000;
/** The largest cache, memory or Redis (1 TiB); in memory it is also held to the heap, see config-loader.ts. */
const MAX_CACHE_MB = 1_048_576;

/**
 * A key sent or matched as a header value: HTTP trims the ends of a header and refuses control
 * characters, so such a key (a secret file's trailing newline) failed every call or matched no one.
 */
function KeyString(minLength = 1) {
  return Type.String({
    minLength,
    pattern: '^[^\\s\\x00-\\x1f\\x7f](?:[^\\x00-\\x1f\\x7f]*[^\\s\\x00-\\x1f\\x7f])?$',
    description: `a key ${minLength > 1 ? `of ${minLength} or more characters ` : ''}with no line break, tab or other control character and no space at either end (a secret file's trailing newline?)`,
  });
}

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
    api_key: Type.Optional(KeyString()),
    base_url: Type.Optional(Type.String({ minLength: 1 })),
    /** Azure only: the `api-version` query parameter; `v1` or `preview` selects its v1 API (src/providers/azure-api.ts). */
    api_version: Type.Optional(Type.String({ minLength: 1 })),
    /** Model names this provider serves, in addition to what its list endpoint reports. */
    models: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }))),
    /** Read the provider's model list at start and in the background. */
    discover: Type.Optional(Type.Boolean()),
    /**
     * Let base_url lead to a private address (10/8, 192.168/16, 169.254/16, a name resolving to one)
     * or use http:// to a non-loopback host; also LLM_PROXY_PRIVATE_UPSTREAMS. See src/upstream/url-guard.ts.
     */
    allow_private_network: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const Cost = Type.Union([Type.Number({ minimum: 0, maximum: 1_000_000 }), Type.Null()]);
const TokenCount = Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000_000 }), Type.Null()]);
const Price = Type.Number({ minimum: 0, maximum: 1_000_000 });
/** A set of rates beside the base ones (a band, a price change): input and output, the cache's optional. */
const RATES = {
  input_cost: Price,
  output_cost: Price,
  cached_input_cost: Type.Optional(Cost),
  cache_write_cost: Type.Optional(Cost),
  cache_write_1h_cost: Type.Optional(Cost),
};
/** A provider's long-prompt band (src/catalog/catalog-types.ts LongContextBand); null clears a built-in one. */
const LongContext = Type.Union(
  [
    Type.Object(
      {
        above_input_tokens: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
        ...RATES,
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  {
    description:
      '{above_input_tokens: a whole number from 1, input_cost and output_cost: numbers from 0 to 1000000, cached_input_cost?, cache_write_cost?, cache_write_1h_cost?: a number or null} (USD per 1K tokens), or null to clear the band',
  },
);
/** Base rates from a UTC day on (src/catalog/catalog-types.ts PriceChange); the list replaces a built-in one whole. */
const PriceChanges = Type.Array(
  Type.Object(
    {
      from: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }),
      ...RATES,
    },
    { additionalProperties: false },
  ),
  {
    maxItems: 32,
    description: '[{from: a date YYYY-MM-DD, input_cost and output_cost: numbers from 0 to 1000000, cached_input_cost?, cache_write_cost?, cache_write_1h_cost?}] (USD per 1K tokens)',
  },
);
/** A multiplier of every rate: above 0 (0 would bill nothing), at most 100 (a typo, not a price). */
const Multiplier = Type.Number({ exclusiveMinimum: 0, maximum: 100 });
/**
 * What every rate of a call is multiplied by for how it ran (src/catalog/catalog-types.ts
 * RateMultipliers), merged field by field over the built-in ones; null removes a field, or all.
 */
const RateMultipliers = Type.Union(
  [
    Type.Object(
      {
        fast: Type.Optional(Type.Union([Multiplier, Type.Null()])),
        // Lowercase, as Anthropic reports `inference_geo` ("us"); `__proto__` and the like cannot be keys.
        inference_geo: Type.Optional(Type.Union([Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' }), Multiplier, { additionalProperties: false }), Type.Null()])),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  {
    description:
      '{fast?: a number above 0 up to 100 (fast mode), or null to remove it; inference_geo?: {a geography in lowercase, e.g. us: a number above 0 up to 100}, or null to remove them}, or null to remove every multiplier',
  },
);
const Modalities = Type.Array(Type.Union(MODALITIES.map((modality) => Type.Literal(modality))), { maxItems: 5 });

/**
 * `model_catalog:` what the operator says about a model, merged over the built-in catalog entry with
 * that id (or alias), or creating one. Costs are USD per 1K tokens; null means not known.
 */
export const CatalogPatchSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** The provider kind that serves it; a new entry without one only describes a model routed otherwise. */
    provider: Type.Optional(ProviderKindSchema),
    context_length: Type.Optional(TokenCount),
    max_output_tokens: Type.Optional(TokenCount),
    input_cost: Type.Optional(Cost),
    output_cost: Type.Optional(Cost),
    cached_input_cost: Type.Optional(Cost),
    /** Prompt-cache writes where the provider bills them above input (Anthropic: 1.25x input, 2x for the 1-hour cache). */
    cache_write_cost: Type.Optional(Cost),
    cache_write_1h_cost: Type.Optional(Cost),
    /** When the provider writes a prompt to its cache: only when the request marks it (`cache_control`) or `always`. */
    cache_writes: Type.Optional(Type.Union(CACHE_WRITE_TRIGGERS.map((trigger) => Type.Literal(trigger)))),
    /** Base rates announced for later dates; replaces a built-in list whole ([] clears it). */
    price_changes: Type.Optional(PriceChanges),
    /** Rates for the whole call once its prompt passes `above_input_tokens`; replaces a built-in band whole. */
    long_context: Type.Optional(LongContext),
    /** Claude's fast mode and inference geography: multipliers of every rate, merged over the built-in ones. */
    rate_multipliers: Type.Optional(RateMultipliers),
    supports_chat: Type.Optional(Type.Boolean()),
    supports_streaming: Type.Optional(Type.Boolean()),
    capabilities: Type.Optional(Type.Array(Type.Union(CAPABILITIES.map((capability) => Type.Literal(capability))), { maxItems: 32 })),
    modalities: Type.Optional(Type.Object({ input: Type.Optional(Modalities), output: Type.Optional(Modalities) }, { additionalProperties: false })),
    aliases: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9._:+/-]{1,256}$' }), { maxItems: 64 })),
    deprecated: Type.Optional(Type.Boolean()),
    source: Type.Optional(Type.Object({ url: Type.String({ minLength: 1, maxLength: 2048 }), date: Type.String({ minLength: 1, maxLength: 32 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

const StrategySchema = Type.Union([
  Type.Literal('weighted-random'),
  Type.Literal('least-busy'),
  Type.Literal('lowest-latency'),
  Type.Literal('lowest-cost'),
]);

/** What the chat route does with a prompt longer than the model's window (issue #8, src/context/). */
export const ContextPolicySchema = Type.Union([Type.Literal('error'), Type.Literal('truncate'), Type.Literal('condense'), Type.Literal('fallback')]);

export const DeploymentSchema = Type.Object(
  {
    /** A configured provider's name. */
    provider: Type.String({ minLength: 1 }),
    /** The model (or Azure deployment) name the provider expects. */
    model: Type.String({ minLength: 1, maxLength: 256 }),
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  },
  { additionalProperties: false },
);

export const ModelGroupSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 256 }),
    deployments: Type.Array(DeploymentSchema, { minItems: 1 }),
    strategy: Type.Optional(StrategySchema),
    fallbacks: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }))),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
    /** Over-long prompts for this group: error (default), truncate, condense or fallback. */
    context_policy: Type.Optional(ContextPolicySchema),
    timeouts: Type.Optional(
      Type.Object(
        {
          /** Seconds to open the TCP (and TLS) connection; default routing.connect_timeout_s. */
          connect_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
          ttfb_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
          idle_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
          total_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/**
 * A client or master key as a request can present it: src/http/plugins/auth.ts refuses a token
 * with a space, a non-ASCII character or over 512 characters, so such a key would be 401 on every call.
 */
const PresentableKeySchema = Type.String({
  pattern: '^[\\x21-\\x7e]{1,512}$',
  description: 'a key of 1 to 512 printable ASCII characters, without spaces (what "Authorization: Bearer" or "x-api-key" can carry)',
});

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
        host: Type.String({ minLength: 1 }),
        body_limit_mb: Type.Number({ exclusiveMinimum: 0, maximum: 1024 }),
        /**
         * MB of request body the process holds while reading, across all requests: a body that would
         * go over it waits, unread, for room. At least body_limit_mb; default 2 x body_limit_mb.
         */
        body_buffer_budget_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 65536 })),
        /** Seconds a body may wait for room in that budget before it gets 503 `server_busy` (default 5). */
        body_buffer_wait_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
        /** Seconds a client may take to send its headers (slowloris guard). */
        headers_timeout_s: Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S }),
        /** Seconds a client may take to send its whole request. */
        request_timeout_s: Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S }),
        /** Seconds between `: keepalive` comments on an idle stream. */
        keepalive_s: Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S }),
        /** Seconds a streaming client may leave its socket full (not reading) before it is dropped and the upstream aborted (default 60). */
        write_stall_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
        /** Seconds a SIGTERM/SIGINT waits for in-flight requests and streams before ending them (default 30). */
        shutdown_timeout_s: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
        /**
         * Seconds a SIGTERM/SIGINT keeps accepting and serving, readiness already false, before the
         * listener closes and the drain (shutdown_timeout_s) starts: the time an orchestrator takes
         * to stop routing new connections here (default 0). Fractions allowed.
         */
        shutdown_delay_s: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
        /** Worker processes on one port (node:cluster); `auto` = one per core. Default 1: no cluster. */
        workers: Type.Optional(
          Type.Union([Type.Integer({ minimum: 1, maximum: 256 }), Type.Literal('auto')], { description: 'a whole number from 1 to 256, or auto (one per core)' }),
        ),
        /** Seconds a worker may take from its fork to listening before the primary ends it as stuck (default 120). */
        worker_start_timeout_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
        /** Seconds the primary waits for each worker to apply a reload before it fails the reload and restarts that worker (default 15). */
        worker_reload_timeout_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
        /**
         * Which peers' X-Forwarded-For/-Proto/-Host are believed (a TLS-terminating balancer): false
         * (default), true (every peer), a hop count, or addresses/CIDRs (a list or a comma-separated string).
         */
        trust_proxy: Type.Optional(
          Type.Union(
            [
              Type.Boolean(),
              Type.Integer({ minimum: 0, maximum: 64 }),
              Type.String({ minLength: 1, maxLength: 4096 }),
              Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 256 }),
            ],
            { description: 'true, false, a hop count from 0 to 64, or a list of addresses/CIDRs' },
          ),
        ),
      },
      { additionalProperties: false },
    ),
    auth: Type.Object(
      {
        master_key: Type.Optional(PresentableKeySchema),
        api_keys: Type.Array(PresentableKeySchema),
        /** Failed authentications allowed per client address per minute before 429 (0: no limit). */
        max_failures_per_minute: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
      },
      { additionalProperties: false },
    ),
    providers: Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' }), ProviderConfigSchema),
    aliases: Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.String({ minLength: 1, maxLength: 256 })),
    /** Model id (or alias) → figures that override or extend the built-in catalog. */
    model_catalog: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9._:+/-]{1,256}$' }), CatalogPatchSchema, { additionalProperties: false }),
    ),
    routing: Type.Object(
      {
        /** Extra attempts after the first, for retryable failures before any byte reached the client. */
        retries: Type.Integer({ minimum: 0, maximum: 5 }),
        connect_timeout_s: Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S }),
        /** Time to the upstream's response headers (time to first byte). */
        ttfb_timeout_s: Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S }),
        /** Longest silence between two chunks of an upstream body. */
        idle_timeout_s: Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S }),
        /** Largest non-streaming upstream body accepted. */
        max_response_mb: Type.Number({ exclusiveMinimum: 0 }),
        /** Seconds between background refreshes of provider model lists. */
        discovery_interval_s: Type.Number({ minimum: 0, maximum: MAX_TIMER_S }),
        /** Default load-balancing strategy for model groups that name none. */
        strategy: Type.Optional(StrategySchema),
        /** Models tried, in order, when every deployment of the asked model failed. */
        fallbacks: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }))),
        /** On a context-window overflow, move to a fallback whose catalog window is larger. */
        context_window_fallbacks: Type.Optional(Type.Boolean()),
        /** Over-long prompts for groups that set no `context_policy` (default `error`). */
        context_policy: Type.Optional(ContextPolicySchema),
        /** Total time cap for a non-streaming call, all attempts included. */
        total_timeout_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
        /** Circuit breaker: consecutive failures that open a deployment's circuit, and the first cool-down. */
        failure_threshold: Type.Optional(Type.Integer({ minimum: 1 })),
        cooldown_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_S })),
        /** Seconds between background one-token probes of every model group's deployments; 0 (default) is off. */
        probe_interval_s: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_TIMER_S })),
      },
      { additionalProperties: false },
    ),
    /** POST /api/condense and the `condense` context policy: the summarising model (default: the cheapest chat model). */
    condense: Type.Optional(
      Type.Object({ model: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) }, { additionalProperties: false }),
    ),
    /** Model groups: one name standing for several deployments, with a strategy and fallbacks. */
    models: Type.Optional(Type.Array(ModelGroupSchema)),
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
        ttl_s: Type.Number({ minimum: 0, maximum: MAX_CACHE_TTL_S }),
        max_mb: Type.Number({ exclusiveMinimum: 0, maximum: MAX_CACHE_MB }),
        /** Model name (as asked, as routed, or `provider/model`) → TTL seconds; 0 turns caching off for it. */
        ttl_by_model: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.Number({ minimum: 0, maximum: MAX_CACHE_TTL_S }))),
        /** Share entries between all keys under this name (default: each key has its own). */
        namespace: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
        /** HMAC secret for cache keys; instances sharing Redis must agree (default: derived, see the README). */
        secret: Type.Optional(Type.String({ minLength: 16 })),
        /** Prefix of every Redis key the cache writes. */
        key_prefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:{}-]{1,64}$' })),
        /** Also store answers with n > 1. */
        multiple_choices: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    storage: Type.Object(
      {
        db_path: Type.String({ minLength: 1 }),
        /**
         * Where usage records not yet written are kept across a restart while the database is away
         * (default: the directory of db_path, also with PostgreSQL).
         */
        spool_dir: Type.Optional(Type.String({ minLength: 1 })),
        database_url: Type.Optional(Type.String({ minLength: 1 })),
        /**
         * PostgreSQL connections each process keeps (default 10): with `--workers N` that is N times
         * as many, and every instance's and the CLI's count together against the server's max_connections.
         */
        database_pool_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })),
        redis_url: Type.Optional(Type.String({ minLength: 1 })),
        /** Prefix of the Redis keys and channel for rate limits and key changes (default `llm-proxy:`). */
        redis_prefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:{}-]{1,64}$' })),
        /**
         * The least number of instances sharing the Redis: while it is away each admits limit ÷ the
         * instances last counted there, and never fewer than this (a fleet started while Redis is down).
         */
        expected_instances: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        /**
         * Usage records older than this many days are deleted in the background (default: kept for
         * good). At least 7: a spooled batch replayed after its rows were pruned would count their spend again.
         */
        usage_retention_days: Type.Optional(Type.Integer({ minimum: 7, maximum: 36_600 })),
      },
      { additionalProperties: false },
    ),
    /** Prometheus /metrics: on by default, master key unless `token` is set (then that token, or the master key). */
    metrics: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          token: Type.Optional(KeyString(16)),
        },
        { additionalProperties: false },
      ),
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
export type ModelGroupConfig = Static<typeof ModelGroupSchema>;
export type CatalogPatchConfig = Static<typeof CatalogPatchSchema>;
export type ContextPolicy = Static<typeof ContextPolicySchema>;
export type ConfiguredProviderKind = (typeof PROVIDER_KINDS)[number];
export const KNOWN_PROVIDER_KINDS: readonly ConfiguredProviderKind[] = PROVIDER_KINDS;
