// /admin/keys: the master key makes, lists, changes and revokes virtual keys. A new key's secret is
// in the 201 answer and nowhere else, ever; lists show an id, a 4-character prefix and the limits.
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, invalidRequest, invalidType, invalidValue } from '../../errors/gateway-error.js';
import { keyState } from '../../keys/virtual-keys.js';
import { BUDGET_PERIODS, currentSpend, periodEnd, type BudgetPeriod, type KeySettings, type StoredKey } from '../../store/key-store.js';
import type { Services } from '../../services.js';
import { knownFields, knownParams } from '../../json/known-fields.js';

const KEY_ID = /^[0-9a-f]{16}$/;
/** A date, or a date and time with an optional zone: what `expires_at` takes. */
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const MAX_LIMIT = 1_000_000_000;
/**
 * A UTF-16 surrogate without its pair (`"\ud800"` in the JSON): no character, and stored as
 * U+FFFD, so the key would be shown with another name than it was given, or list a model no
 * request can name.
 */
const LONE_SURROGATE = /\p{Cs}/u;
/** C0, DEL and C1 (U+009B is a terminal's CSI): a name is printed by `llm-proxy keys list` and the dashboard. */
const CONTROL = /\p{Cc}/u;
const MAX_TEXT = 256;

/**
 * A name or model entry: 1 to 256 characters (code points, as the schema's maxLength and
 * PostgreSQL's varchar(256) count them; `.length` counts an emoji twice), printable, whole.
 */
function validText(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || CONTROL.test(value) || LONE_SURROGATE.test(value)) return false;
  if (value.length <= MAX_TEXT) return true;
  let characters = 0;
  for (const _character of value) if (++characters > MAX_TEXT) return false;
  return true;
}

/** A date or date-time as parseIsoDate reads it (the same pattern), for the documented schemas. */
export function isoDateSchema(description: string) {
  return Type.String({ pattern: ISO_8601.source, description: `ISO 8601, UTC unless an offset is given: a date (YYYY-MM-DD) or a date-time. ${description}` });
}

/** In a PATCH, `null` clears a setting (back to the server default, or none). */
const clearable = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));
const limitSchema = (description: string) => clearable(Type.Integer({ minimum: 0, maximum: MAX_LIMIT, description }));

/**
 * The body of POST /admin/keys and PATCH /admin/keys/{id}, as /openapi.json shows it. Its names are
 * the only fields parseKeySettings accepts, so the document cannot miss one.
 */
export const KeySettingsSchema = Type.Object(
  {
    name: clearable(Type.String({ minLength: 1, maxLength: MAX_TEXT })),
    models: clearable(Type.Array(Type.String({ minLength: 1, maxLength: MAX_TEXT }), { minItems: 1, maxItems: 1_000, description: 'The models the key may use; null: every model.' })),
    rpm_limit: limitSchema('Requests per minute; 0 means no limit, null the server default (LLM_PROXY_RPM).'),
    tpm_limit: limitSchema('Tokens per minute; 0 means no limit, null the server default (LLM_PROXY_TPM).'),
    max_budget: clearable(Type.Number({ minimum: 0, maximum: MAX_LIMIT, description: 'USD; null: no budget.' })),
    budget_period: clearable(Type.String({ enum: [...BUDGET_PERIODS], description: 'When the budget starts again (UTC, weeks from Monday); null: never.' })),
    expires_at: clearable(isoDateSchema('A date alone is its start; null: never expires.')),
  },
  { additionalProperties: false },
);

function keyNotFound(): GatewayError {
  return new GatewayError({ status: 404, type: 'invalid_request_error', code: 'key_not_found', message: 'No virtual key has this id.' });
}

function limit(value: unknown, param: string): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidType(param, 'an integer or null');
  if (value < 0 || value > MAX_LIMIT) throw invalidValue(param, `must be between 0 and ${MAX_LIMIT} (0 means no limit)`);
  return value;
}

/**
 * Parses an ISO 8601 date or date-time into epoch ms. Everything is UTC: a date alone means its
 * start, and a time without an offset is UTC too (Date.parse would read it in the server's zone, so a
 * range would move with TZ and fall into DST gaps). A day the calendar lacks (2026-02-30) is refused,
 * not rolled into the next month.
 */
export function parseIsoDate(value: unknown, param: string): number {
  if (typeof value !== 'string') throw invalidType(param, 'an ISO 8601 date string');
  const match = ISO_8601.exec(value);
  let parsed = Number.NaN;
  if (match !== null) {
    const [, year, month, day, zone] = match;
    const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
    const real = date.getUTCFullYear() === Number(year) && date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
    if (real) parsed = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : zone === undefined ? `${value}Z` : value);
  }
  if (!Number.isFinite(parsed)) throw invalidValue(param, 'must be an ISO 8601 date such as 2025-12-31 or 2025-12-31T23:59:59Z');
  return parsed;
}

/** The settings in a POST or PATCH body; unknown fields are refused, so a typo is not silently ignored. */
export function parseKeySettings(body: unknown): KeySettings {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('The request body must be a JSON object.', 'invalid_json');
  const input = body as Record<string, unknown>;
  knownFields(input, KeySettingsSchema);
  const settings: KeySettings = {};
  if (input.name !== undefined) {
    if (input.name !== null && typeof input.name !== 'string') throw invalidType('name', 'a string or null');
    if (typeof input.name === 'string' && !validText(input.name)) {
      throw invalidValue('name', 'must be 1 to 256 printable characters');
    }
    settings.name = input.name;
  }
  if (input.models !== undefined) {
    if (input.models !== null) {
      if (!Array.isArray(input.models)) throw invalidType('models', 'an array of model names or null');
      if (input.models.length > 1_000) throw invalidValue('models', 'may list at most 1000 models');
      // An empty list reads as "every model" to some (LiteLLM) and "no model" to others: neither is guessed.
      if (input.models.length === 0) throw invalidValue('models', 'must name at least one model; leave it out (or send null) for every model');
      for (const [index, model] of input.models.entries()) {
        if (!validText(model)) throw invalidValue(`models[${index}]`, 'must be a model name of 1 to 256 printable characters');
      }
    }
    settings.models = input.models === null ? null : [...new Set(input.models as string[])];
  }
  if (input.rpm_limit !== undefined) settings.rpmLimit = limit(input.rpm_limit, 'rpm_limit');
  if (input.tpm_limit !== undefined) settings.tpmLimit = limit(input.tpm_limit, 'tpm_limit');
  if (input.max_budget !== undefined) {
    const budget = input.max_budget;
    if (budget !== null && (typeof budget !== 'number' || !Number.isFinite(budget))) throw invalidType('max_budget', 'a number (USD) or null');
    if (typeof budget === 'number' && (budget < 0 || budget > MAX_LIMIT)) throw invalidValue('max_budget', 'must be between 0 and 1e9 USD');
    settings.maxBudget = budget as number | null;
  }
  if (input.budget_period !== undefined) {
    const period = input.budget_period;
    if (period !== null && (typeof period !== 'string' || !(BUDGET_PERIODS as readonly string[]).includes(period))) {
      throw invalidValue('budget_period', `must be one of ${BUDGET_PERIODS.join(', ')}, or null for a budget that never resets`);
    }
    settings.budgetPeriod = period as BudgetPeriod | null;
  }
  if (input.expires_at !== undefined) settings.expiresAt = input.expires_at === null ? null : parseIsoDate(input.expires_at, 'expires_at');
  return settings;
}

function iso(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString();
}

/** A key as the admin API shows it: never the secret, never its hash. */
export function describeKey(key: StoredKey, now = Date.now()): Record<string, unknown> {
  const spend = currentSpend(key, now);
  let state: string = keyState(key, now);
  if (state === 'active' && key.maxBudget !== null && spend >= key.maxBudget) state = 'over_budget';
  return {
    id: key.id,
    object: 'virtual_key',
    name: key.name,
    prefix: key.prefix,
    masked_key: `sk-gw_${key.id}_${key.prefix}…`,
    models: key.models,
    rpm_limit: key.rpmLimit,
    tpm_limit: key.tpmLimit,
    max_budget: key.maxBudget,
    budget_period: key.budgetPeriod,
    // A period that has ended is restarted on the key's next request; until then, show the one that is current.
    budget_reset_at: key.budgetPeriod === null ? null : iso(key.budgetResetAt !== null && now < key.budgetResetAt ? key.budgetResetAt : periodEnd(key.budgetPeriod, now)),
    spend,
    total_spend: key.totalSpend,
    state,
    expires_at: iso(key.expiresAt),
    revoked_at: iso(key.revokedAt),
    created_at: iso(key.createdAt),
    updated_at: iso(key.updatedAt),
  };
}

function idParam(params: unknown): string {
  const id = (params as { id?: unknown }).id;
  if (typeof id !== 'string' || !KEY_ID.test(id)) throw keyNotFound();
  return id;
}

const NoQuerySchema = Type.Object({});

/**
 * Every /admin/keys route: the master key, and no query string. None reads one, so one is refused,
 * not ignored: `GET ?state=expired` answered every key (a script revoking what it listed revoked the
 * active ones), and `DELETE …?dry_run=true` revoked.
 */
const ROUTE_OPTIONS = {
  config: { auth: 'master' },
  preHandler: (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
    try {
      knownParams(request.query, NoQuerySchema);
      done();
    } catch (error) {
      done(error as Error);
    }
  },
} as const;

export function registerAdminKeys(app: FastifyInstance, services: Services): void {
  const keys = services.virtualKeys;

  app.post('/admin/keys', ROUTE_OPTIONS, async (request, reply) => {
    const settings = parseKeySettings(request.body);
    const now = Date.now();
    if (settings.expiresAt != null && settings.expiresAt <= now) throw invalidValue('expires_at', 'must be in the future');
    const { record, key } = await keys.create(settings, now);
    return reply.code(201).send({ ...describeKey(record, now), key });
  });

  app.get('/admin/keys', ROUTE_OPTIONS, async () => {
    const now = Date.now();
    const list = (await keys.list()).map((key) => describeKey(key, now));
    return { keys: list, count: list.length };
  });

  app.get('/admin/keys/:id', ROUTE_OPTIONS, async (request) => {
    const key = await keys.get(idParam(request.params));
    if (key === undefined) throw keyNotFound();
    return describeKey(key);
  });

  app.patch('/admin/keys/:id', ROUTE_OPTIONS, async (request) => {
    const id = idParam(request.params);
    const settings = parseKeySettings(request.body);
    const key = await keys.update(id, settings);
    if (key === undefined) throw keyNotFound();
    return describeKey(key);
  });

  app.delete('/admin/keys/:id', ROUTE_OPTIONS, async (request) => {
    const key = await keys.revoke(idParam(request.params));
    if (key === undefined) throw keyNotFound();
    return describeKey(key);
  });
}
