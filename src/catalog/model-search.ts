// Search over the public model list: query parsing (GET /api/models/search) and a compiled index.
// The index is built once per model list (a trigram index of the lowercased names, typed columns,
// lazily sorted orders), so a search checks only the models that can match `q`, then makes one
// pass over flat arrays.
import { Type } from '@sinclair/typebox';
import { CAPABILITIES, type Capability } from './catalog-types.js';
import type { ModelView } from './model-view.js';
import { invalidValue } from '../errors/gateway-error.js';
import { knownParams } from '../json/known-fields.js';

const CAPABILITY_NAMES: readonly Capability[] = CAPABILITIES;
/** One bit per known capability, so "has all of these" is one AND. */
const CAPABILITY_BIT = new Map<string, number>(CAPABILITY_NAMES.map((name, index) => [name, 1 << index]));

export const SORT_FIELDS = ['id', 'name', 'provider', 'context_length', 'max_output_tokens', 'input_cost', 'output_cost', 'cost'] as const;
export type SortField = (typeof SORT_FIELDS)[number];

export interface SearchQuery {
  /** Case-insensitive substring of the id, the name or an alias. */
  q?: string;
  provider?: string;
  supports_chat?: boolean;
  supports_streaming?: boolean;
  deprecated?: boolean;
  /** Every one of these is required. */
  capabilities?: Capability[];
  min_context?: number;
  max_input_cost?: number;
  max_output_cost?: number;
  sort?: { field: SortField; descending: boolean };
  limit?: number;
  offset?: number;
}

export interface SearchResult {
  models: ModelView[];
  /** Matches before paging. */
  count: number;
  limit: number | null;
  offset: number;
}

export const MAX_LIMIT = 1000;
const MAX_OFFSET = 1_000_000_000;
const MAX_QUERY_LENGTH = 256;

const BOOLEAN_PARAMS = ['supports_chat', 'supports_streaming', 'deprecated'] as const;
const NUMBER_PARAMS = ['min_context', 'max_input_cost', 'max_output_cost'] as const;

/** A boolean query value as parseBooleanParam reads it (in any case). */
export const BooleanParamSchema = Type.String({ enum: ['true', 'false', 'True', 'False', '1', '0'], description: 'true/false (any case) or 1/0.' });
const nonNegative = (description: string) => Type.Optional(Type.Number({ minimum: 0, description }));

/**
 * The query string of GET /api/models/search, as /openapi.json shows it. Its names are the only
 * ones parseSearchParams accepts, so a parameter cannot be read here and missing from the document.
 */
export const SearchParamsSchema = Type.Object({
  q: Type.Optional(Type.String({ maxLength: MAX_QUERY_LENGTH, description: 'Case-insensitive substring of the id, the name or an alias.' })),
  provider: Type.Optional(Type.String({ description: 'A configured provider name.' })),
  supports_chat: Type.Optional(BooleanParamSchema),
  supports_streaming: Type.Optional(BooleanParamSchema),
  deprecated: Type.Optional(BooleanParamSchema),
  capability: Type.Optional(Type.Array(Type.String({ enum: [...CAPABILITIES] }), { description: 'Repeated or comma-separated; a model needs every one.' })),
  min_context: nonNegative('context_length at least this.'),
  max_input_cost: nonNegative('input_cost (USD per 1K tokens) at most this.'),
  max_output_cost: nonNegative('output_cost (USD per 1K tokens) at most this.'),
  sort: Type.Optional(
    Type.String({
      enum: [...SORT_FIELDS, ...SORT_FIELDS.map((field) => `-${field}`)],
      description: 'A leading `-` sorts descending; `cost` is input + output; unknown values last; ties by id.',
    }),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, description: 'Page size (default: every match).' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET })),
});

/** One value of a parameter that must be given once; empty means "not given" (as HTML forms send). */
function single(name: string, value: unknown): string | undefined {
  if (Array.isArray(value)) throw invalidValue(name, 'give it once');
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed.length === 0 ? undefined : trimmed;
}

/** `true/false/True/False/1/0` (any case): Python's requests sends `True` for True. */
export function parseBooleanParam(name: string, value: string): boolean {
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw invalidValue(name, 'expected true or false (or 1 or 0)');
}

/**
 * Decimal notation only (`5`, `0.0025`, `1e-05` as Python writes small floats). `Number()` alone
 * also reads `0x10`, `0b11` and `0o7`, which the schema's number and integer never mean. The
 * fraction's digits follow a required dot: `\d+\.?\d*` let a long run of digits split two ways at
 * every position, quadratic backtracking (~0.35 s for a 16 KB query string).
 */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

function parseNumber(name: string, value: string): number {
  const number = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(number) || number < 0) throw invalidValue(name, 'expected a finite number of at least 0');
  return number;
}

function parseInteger(name: string, value: string, min: number, max: number): number {
  const number = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(number) || number < min || number > max) throw invalidValue(name, `expected a whole number from ${min} to ${max}`);
  return number;
}

/**
 * Turns a parsed query string (values are strings, or arrays when repeated) into a SearchQuery,
 * or throws a 400 naming the parameter. Unknown parameters are refused, so a typo never
 * silently widens the results.
 */
export function parseSearchParams(query: Readonly<Record<string, unknown>>): SearchQuery {
  const out: SearchQuery = {};
  knownParams(query, SearchParamsSchema);
  const q = single('q', query.q);
  if (q !== undefined) {
    if (q.length > MAX_QUERY_LENGTH) throw invalidValue('q', `at most ${MAX_QUERY_LENGTH} characters`);
    if (/[\x00-\x1f\x7f]/.test(q)) throw invalidValue('q', 'control characters are not allowed');
    out.q = q;
  }
  const provider = single('provider', query.provider);
  if (provider !== undefined) out.provider = provider;
  for (const name of BOOLEAN_PARAMS) {
    const value = single(name, query[name]);
    if (value !== undefined) out[name] = parseBooleanParam(name, value);
  }
  for (const name of NUMBER_PARAMS) {
    const value = single(name, query[name]);
    if (value !== undefined) out[name] = parseNumber(name, value);
  }
  const rawCapabilities = query.capability;
  if (rawCapabilities !== undefined) {
    const values = Array.isArray(rawCapabilities) ? rawCapabilities : [rawCapabilities];
    const capabilities: Capability[] = [];
    for (const value of values) {
      if (typeof value !== 'string') continue;
      for (const part of value.split(',')) {
        const name = part.trim().toLowerCase();
        if (name.length === 0) continue;
        if (!CAPABILITY_BIT.has(name)) throw invalidValue('capability', `expected one or more of ${CAPABILITY_NAMES.join(', ')}`);
        if (!capabilities.includes(name as Capability)) capabilities.push(name as Capability);
      }
    }
    if (capabilities.length > 0) out.capabilities = capabilities;
  }
  const sort = single('sort', query.sort);
  if (sort !== undefined) {
    const descending = sort.startsWith('-');
    const field = descending ? sort.slice(1) : sort;
    if (!(SORT_FIELDS as readonly string[]).includes(field)) {
      throw invalidValue('sort', `expected one of ${SORT_FIELDS.join(', ')}, optionally with a leading '-' for descending order`);
    }
    out.sort = { field: field as SortField, descending };
  }
  const limit = single('limit', query.limit);
  if (limit !== undefined) out.limit = parseInteger('limit', limit, 1, MAX_LIMIT);
  const offset = single('offset', query.offset);
  if (offset !== undefined) out.offset = parseInteger('offset', offset, 0, MAX_OFFSET);
  return out;
}

/**
 * Three UTF-16 units from `position` as one small integer (10 bits each, so it stays a V8 small
 * integer); undefined when one is a line break (a name separator). Units above 1023 share keys:
 * that only adds candidates, which `includes` then checks.
 */
function trigramAt(text: string, position: number): number | undefined {
  const first = text.charCodeAt(position);
  const second = text.charCodeAt(position + 1);
  const third = text.charCodeAt(position + 2);
  if (first === 10 || second === 10 || third === 10) return undefined;
  return ((first & 1023) << 20) | ((second & 1023) << 10) | (third & 1023);
}

const UNKNOWN = Number.NaN;
const toColumn = (value: number | null) => (value === null ? UNKNOWN : value);
const toTristate = (value: boolean | null) => (value === null ? -1 : value ? 1 : 0);

/** The models of one list, compiled for search and lookup. Its data never changes: build a new one when the list does. */
export class ModelIndex {
  /** Each model's id, name and aliases, lowercased, one per line. */
  private readonly names: string[];
  /** Trigram key (see trigramAt) → the models whose names hold it, ascending. */
  private readonly trigrams = new Map<number, Uint32Array>();
  /** `matches[i] === stamp` when model i matched this search's `q` (a new stamp per search, so nothing is cleared). */
  private readonly matches: Uint32Array;
  private stamp = 0;
  /** Provider of each model as a small number; `providerIds` maps a lowercased provider name to it. */
  private readonly providers: Uint16Array;
  private readonly providerIds = new Map<string, number>();
  private readonly chat: Int8Array;
  private readonly streaming: Int8Array;
  private readonly deprecated: Uint8Array;
  private readonly capabilityMasks: Uint32Array;
  private readonly columns: Record<'context_length' | 'max_output_tokens' | 'input_cost' | 'output_cost' | 'cost', Float64Array>;
  private readonly byName = new Map<string, ModelView>();
  private readonly orders = new Map<string, Uint32Array>();
  private fullJson: string | undefined;

  constructor(readonly models: readonly ModelView[]) {
    const n = models.length;
    this.matches = new Uint32Array(n);
    const names = (this.names = new Array<string>(n));
    this.providers = new Uint16Array(n);
    this.chat = new Int8Array(n);
    this.streaming = new Int8Array(n);
    this.deprecated = new Uint8Array(n);
    this.capabilityMasks = new Uint32Array(n);
    this.columns = {
      context_length: new Float64Array(n),
      max_output_tokens: new Float64Array(n),
      input_cost: new Float64Array(n),
      output_cost: new Float64Array(n),
      cost: new Float64Array(n),
    };
    models.forEach((model, index) => {
      // "\n" keeps a query from matching across two names; queries cannot hold control characters.
      names[index] = [model.id, model.name, ...model.aliases].join('\n').toLowerCase();
      const providerName = model.provider.toLowerCase();
      let providerId = this.providerIds.get(providerName);
      if (providerId === undefined) this.providerIds.set(providerName, (providerId = this.providerIds.size));
      this.providers[index] = providerId;
      this.chat[index] = toTristate(model.supports_chat);
      this.streaming[index] = toTristate(model.supports_streaming);
      this.deprecated[index] = model.deprecated ? 1 : 0;
      let mask = 0;
      for (const capability of model.capabilities) mask |= CAPABILITY_BIT.get(capability) ?? 0;
      this.capabilityMasks[index] = mask;
      this.columns.context_length[index] = toColumn(model.context_length);
      this.columns.max_output_tokens[index] = toColumn(model.max_output_tokens);
      this.columns.input_cost[index] = toColumn(model.input_cost);
      this.columns.output_cost[index] = toColumn(model.output_cost);
      this.columns.cost[index] = model.input_cost === null || model.output_cost === null ? UNKNOWN : model.input_cost + model.output_cost;
    });
    const lists = new Map<number, number[]>();
    names.forEach((text, index) => {
      for (let position = 0; position + 3 <= text.length; position++) {
        const key = trigramAt(text, position);
        if (key === undefined) continue;
        const list = lists.get(key);
        if (list === undefined) lists.set(key, [index]);
        else if (list[list.length - 1] !== index) list.push(index);
      }
    });
    for (const [key, list] of lists) this.trigrams.set(key, Uint32Array.from(list));
    // Ids first, then aliases, then `provider/model` forms: an exact id always wins.
    for (const model of models) if (!this.byName.has(model.id)) this.byName.set(model.id, model);
    for (const model of models) for (const alias of model.aliases) if (!this.byName.has(alias)) this.byName.set(alias, model);
    for (const model of models) for (const route of model.routes) if (!this.byName.has(route)) this.byName.set(route, model);
  }

  /** A model by id, catalog alias or `provider/model` form. */
  get(name: string): ModelView | undefined {
    return this.byName.get(name);
  }

  /** The whole list as JSON `{"models": [...], "count": N}`, serialised once per index. */
  listJson(): string {
    this.fullJson ??= JSON.stringify({ models: this.models, count: this.models.length });
    return this.fullJson;
  }

  /** `allowed`: the calling key's filter (ModelDirectory.visibleTo); undefined shows every model. */
  search(query: SearchQuery, allowed?: (view: ModelView) => boolean): SearchResult {
    const offset = query.offset ?? 0;
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const needle = query.q === undefined || query.q.length === 0 ? undefined : query.q.toLowerCase();
    const stamp = needle === undefined ? 0 : this.markMatches(needle);
    // A provider no model has: the sentinel matches nothing.
    const provider = query.provider === undefined ? undefined : (this.providerIds.get(query.provider.toLowerCase()) ?? -1);
    const chat = query.supports_chat === undefined ? undefined : query.supports_chat ? 1 : 0;
    const streaming = query.supports_streaming === undefined ? undefined : query.supports_streaming ? 1 : 0;
    const deprecated = query.deprecated === undefined ? undefined : query.deprecated ? 1 : 0;
    let mask = 0;
    for (const capability of query.capabilities ?? []) mask |= CAPABILITY_BIT.get(capability) ?? 0;
    // A comparison with NaN (unknown) is false, so unknown figures never pass a numeric filter.
    const minContext = query.min_context;
    const maxInput = query.max_input_cost;
    const maxOutput = query.max_output_cost;
    const order = query.sort === undefined ? undefined : this.order(query.sort.field, query.sort.descending);
    const { context_length: context, input_cost: input, output_cost: output } = this.columns;

    const page: ModelView[] = [];
    let count = 0;
    const n = this.models.length;
    for (let position = 0; position < n; position++) {
      const index = order === undefined ? position : (order[position] as number);
      if (provider !== undefined && this.providers[index] !== provider) continue;
      if (chat !== undefined && this.chat[index] !== chat) continue;
      if (streaming !== undefined && this.streaming[index] !== streaming) continue;
      if (deprecated !== undefined && this.deprecated[index] !== deprecated) continue;
      if (mask !== 0 && ((this.capabilityMasks[index] as number) & mask) !== mask) continue;
      if (minContext !== undefined && !((context[index] as number) >= minContext)) continue;
      if (maxInput !== undefined && !((input[index] as number) <= maxInput)) continue;
      if (maxOutput !== undefined && !((output[index] as number) <= maxOutput)) continue;
      if (stamp !== 0 && this.matches[index] !== stamp) continue;
      const model = this.models[index] as ModelView;
      if (allowed !== undefined && !allowed(model)) continue;
      if (count >= offset && page.length < limit) page.push(model);
      count++;
    }
    return { models: page, count, limit: query.limit ?? null, offset };
  }

  /**
   * Marks every model whose names hold `needle` and returns the stamp. A needle of three or more
   * units checks only the models holding its rarest trigram; a shorter one checks every model.
   */
  private markMatches(needle: string): number {
    this.stamp = this.stamp === 0xffffffff ? 1 : this.stamp + 1;
    if (this.stamp === 1) this.matches.fill(0);
    const stamp = this.stamp;
    const { names, matches } = this;
    if (needle.length < 3) {
      for (let index = 0; index < names.length; index++) if ((names[index] as string).includes(needle)) matches[index] = stamp;
      return stamp;
    }
    let candidates: Uint32Array | undefined;
    for (let position = 0; position + 3 <= needle.length; position++) {
      const key = trigramAt(needle, position);
      const list = key === undefined ? undefined : this.trigrams.get(key);
      // No model holds this trigram (or it spans a line break): nothing matches.
      if (list === undefined) return stamp;
      if (candidates === undefined || list.length < candidates.length) candidates = list;
    }
    for (const index of candidates ?? []) if ((names[index] as string).includes(needle)) matches[index] = stamp;
    return stamp;
  }

  /** Positions in sorted order; unknown (null) values last in either direction, ties by id. Built once per field. */
  private order(field: SortField, descending: boolean): Uint32Array {
    const key = descending ? `-${field}` : field;
    const cached = this.orders.get(key);
    if (cached !== undefined) return cached;
    const ids = this.models.map((model) => model.id);
    const byId = (a: number, b: number) => {
      const left = ids[a] as string;
      const right = ids[b] as string;
      return left < right ? -1 : left > right ? 1 : 0;
    };
    const direction = descending ? -1 : 1;
    let compare: (a: number, b: number) => number;
    if (field === 'id' || field === 'name' || field === 'provider') {
      const values = this.models.map((model) => model[field].toLowerCase());
      compare = (a, b) => {
        const left = values[a] as string;
        const right = values[b] as string;
        return (left < right ? -direction : left > right ? direction : 0) || byId(a, b);
      };
    } else {
      const values = this.columns[field];
      compare = (a, b) => {
        const left = values[a] as number;
        const right = values[b] as number;
        const leftUnknown = Number.isNaN(left);
        const rightUnknown = Number.isNaN(right);
        if (leftUnknown || rightUnknown) return leftUnknown === rightUnknown ? byId(a, b) : leftUnknown ? 1 : -1;
        return (left - right) * direction || byId(a, b);
      };
    }
    const order = Uint32Array.from(this.models.keys()).sort(compare);
    this.orders.set(key, order);
    return order;
  }
}

/** Compiles a model list for search. The bench calls this once, then `searchModels` per query. */
export function compileModelIndex(models: readonly ModelView[]): ModelIndex {
  return new ModelIndex(models);
}

/**
 * One search as the server runs it: parse the query string, then search the index. Throws the
 * same 400s as the route. This is the benchmark hook (bench/catalog-search.mjs).
 */
export function searchModels(index: ModelIndex, query: Readonly<Record<string, unknown>>, allowed?: (view: ModelView) => boolean): SearchResult {
  return index.search(parseSearchParams(query), allowed);
}
