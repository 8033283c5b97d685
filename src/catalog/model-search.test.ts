// Model search: query parsing (each boolean spelling, numbers, sort, paging, 400s) and the index
// (filters, nulls sorted last, paging counts, aliases, key filters, lookups).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileModelIndex, parseSearchParams, searchModels, type SearchQuery } from './model-search.js';
import { createModelView, type ModelView } from './model-view.js';
import type { CatalogEntry } from './catalog-types.js';
import { GatewayError } from '../errors/gateway-error.js';

function model(id: string, provider: string, fields: Partial<ModelView> = {}): ModelView {
  return { ...createModelView({ id, provider: { name: provider }, entry: undefined, discovered: undefined }, false), ...fields };
}

function known(id: string, provider: string, fields: Partial<CatalogEntry>): ModelView {
  const entry: CatalogEntry = {
    id,
    name: id,
    provider: 'openai',
    context_length: null,
    max_output_tokens: null,
    input_cost: null,
    output_cost: null,
    supports_chat: true,
    supports_streaming: true,
    capabilities: ['chat', 'streaming'],
    modalities: { input: ['text'], output: ['text'] },
    source: { url: 'https://example.test', date: '2026-01-01' },
    ...fields,
  };
  return createModelView({ id, provider: { name: provider }, entry, discovered: undefined }, false);
}

const MODELS: ModelView[] = [
  known('gpt-4', 'openai', { name: 'GPT-4', context_length: 8192, input_cost: 0.03, output_cost: 0.06, capabilities: ['chat', 'streaming', 'function_calling'] }),
  known('gpt-4o', 'openai', {
    name: 'GPT-4o',
    context_length: 128_000,
    input_cost: 0.0025,
    output_cost: 0.01,
    capabilities: ['chat', 'streaming', 'vision', 'function_calling', 'json_mode'],
  }),
  { ...known('claude-sonnet', 'anthropic', { name: 'Claude Sonnet', context_length: 200_000, input_cost: 0.003, output_cost: 0.015, capabilities: ['chat', 'streaming', 'vision'] }), aliases: ['claude-sonnet-latest'] },
  known('claude-haiku', 'anthropic', { name: 'Claude Haiku', context_length: 200_000, input_cost: 0.0008, output_cost: 0.004, capabilities: ['chat', 'vision'], supports_streaming: false }),
  known('text-embedding-3-small', 'openai', { name: 'Embedding small', context_length: 8191, input_cost: 0.00002, output_cost: 0, supports_chat: false, supports_streaming: false, capabilities: ['embeddings'] }),
  model('my-finetune', 'openai', { context_length: 32_768, discovered: true }),
  model('mystery', 'groq'),
  { ...known('old-model', 'openai', { name: 'Old model', context_length: 4096, input_cost: 0.002, output_cost: 0.002, deprecated: true }) },
];
const index = compileModelIndex(MODELS);
const ids = (query: SearchQuery, allowed?: (view: ModelView) => boolean) => index.search(query, allowed).models.map((view) => view.id);

function rejects(query: Record<string, unknown>, param: string | null, code = 'invalid_value'): void {
  assert.throws(
    () => parseSearchParams(query),
    (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.status, 400);
      assert.equal(error.code, code);
      assert.equal(error.param, param);
      if (param !== null) assert.match(error.message, new RegExp(param));
      return true;
    },
  );
}

describe('parseSearchParams', () => {
  test('booleans accept true/false/True/False/1/0', () => {
    for (const spelling of ['true', 'True', 'TRUE', '1']) assert.equal(parseSearchParams({ supports_chat: spelling }).supports_chat, true, spelling);
    for (const spelling of ['false', 'False', 'FALSE', '0']) assert.equal(parseSearchParams({ supports_chat: spelling }).supports_chat, false, spelling);
    assert.equal(parseSearchParams({ supports_streaming: 'True' }).supports_streaming, true);
    assert.equal(parseSearchParams({ deprecated: '0' }).deprecated, false);
    for (const bad of ['yes', 'no', '2', 'truthy', 'on']) rejects({ supports_chat: bad }, 'supports_chat');
  });

  test('numbers must be finite and at least 0', () => {
    assert.equal(parseSearchParams({ min_context: '100000' }).min_context, 100_000);
    assert.equal(parseSearchParams({ min_context: '1e5' }).min_context, 100_000);
    assert.equal(parseSearchParams({ max_input_cost: '0.0025' }).max_input_cost, 0.0025);
    for (const bad of ['-1', 'abc', 'Infinity', 'NaN', '1e400', '10k']) rejects({ min_context: bad }, 'min_context');
    rejects({ max_input_cost: '-0.1' }, 'max_input_cost');
    // Decimal notation only: Number() alone reads these as 16, 3 and 7.
    for (const bad of ['0x10', '0b11', '0o7', '0X1F400']) rejects({ min_context: bad }, 'min_context');
    assert.equal(parseSearchParams({ max_input_cost: '1e-05' }).max_input_cost, 0.00001);
    assert.equal(parseSearchParams({ max_output_cost: '.5' }).max_output_cost, 0.5);
  });

  test('a long run of digits is refused in linear time (no backtracking in the number check)', () => {
    // At Node's 16 KB header limit, a check quadratic in the length blocked the event loop ~0.35 s per
    // request; at 100 000 digits that is ~14 s a check, a linear one well under a millisecond, so the
    // bound can leave a loaded machine ample room.
    const started = performance.now();
    rejects({ min_context: `${'1'.repeat(100_000)}x` }, 'min_context');
    rejects({ limit: `${'1'.repeat(100_000)}.` }, 'limit');
    const took = performance.now() - started;
    assert.ok(took < 2_000, `took ${took.toFixed(0)} ms`);
  });

  test('limit is 1..1000 and offset a whole number of at least 0', () => {
    assert.equal(parseSearchParams({ limit: '1000', offset: '5' }).limit, 1000);
    for (const bad of ['0', '1001', '1.5', 'ten', '-3']) rejects({ limit: bad }, 'limit');
    for (const bad of ['-1', '0.5', 'x']) rejects({ offset: bad }, 'offset');
    for (const bad of ['0x10', '0b11', '0o7']) rejects({ limit: bad }, 'limit');
    rejects({ offset: '0x10' }, 'offset');
    assert.equal(parseSearchParams({ limit: '5.0' }).limit, 5);
  });

  test('sort takes a known field, descending with a leading -', () => {
    assert.deepEqual(parseSearchParams({ sort: 'input_cost' }).sort, { field: 'input_cost', descending: false });
    assert.deepEqual(parseSearchParams({ sort: '-context_length' }).sort, { field: 'context_length', descending: true });
    for (const bad of ['price', '--name', '+name', 'context_length desc']) rejects({ sort: bad }, 'sort');
  });

  test('capability takes one, a comma-separated list, or repeats', () => {
    assert.deepEqual(parseSearchParams({ capability: 'vision' }).capabilities, ['vision']);
    assert.deepEqual(parseSearchParams({ capability: 'vision, function_calling' }).capabilities, ['vision', 'function_calling']);
    assert.deepEqual(parseSearchParams({ capability: ['Vision', 'json_mode,vision'] }).capabilities, ['vision', 'json_mode']);
    rejects({ capability: 'telepathy' }, 'capability');
  });

  test('empty values count as not given; repeats, unknown names and odd text are refused', () => {
    assert.deepEqual(parseSearchParams({ q: '', provider: '  ', supports_chat: '' }), {});
    rejects({ provider: ['openai', 'groq'] }, 'provider');
    rejects({ capabilities: 'vision' }, 'capabilities', 'unknown_parameter');
    rejects({ 'bad name\n': '1' }, null, 'unknown_parameter');
    // The wording every route gives an unknown parameter (src/json/known-fields.ts).
    assert.throws(() => parseSearchParams({ providr: 'openai' }), {
      message: "Unknown query parameter 'providr'. Known: q, provider, supports_chat, supports_streaming, deprecated, capability, min_context, max_input_cost, max_output_cost, sort, limit, offset.",
    });
    assert.throws(() => parseSearchParams({ 'bad name\n': '1' }), { message: /^Unknown query parameter\. Known: q, / });
    rejects({ q: 'x'.repeat(257) }, 'q');
    rejects({ q: 'gpt\u0000' }, 'q');
  });
});

describe('ModelIndex.search', () => {
  test('q matches id, name and aliases, case-insensitively', () => {
    assert.deepEqual(ids({ q: 'gpt-4' }), ['gpt-4', 'gpt-4o']);
    assert.deepEqual(ids({ q: 'GPT-4O' }), ['gpt-4o']);
    assert.deepEqual(ids({ q: 'embedding small' }), ['text-embedding-3-small']);
    assert.deepEqual(ids({ q: 'sonnet-latest' }), ['claude-sonnet']);
    assert.deepEqual(ids({ q: 'nothing-like-this' }), []);
  });

  test('provider, supports_chat (unknown matches neither true nor false), capabilities (all required)', () => {
    assert.deepEqual(ids({ provider: 'Anthropic' }), ['claude-sonnet', 'claude-haiku']);
    assert.deepEqual(ids({ supports_chat: false }), ['text-embedding-3-small']);
    assert.ok(!ids({ supports_chat: true }).includes('my-finetune'));
    assert.ok(!ids({ supports_chat: false }).includes('my-finetune'));
    assert.deepEqual(ids({ supports_streaming: false }), ['claude-haiku', 'text-embedding-3-small']);
    assert.deepEqual(ids({ capabilities: ['vision'] }), ['gpt-4o', 'claude-sonnet', 'claude-haiku']);
    assert.deepEqual(ids({ capabilities: ['vision', 'function_calling'] }), ['gpt-4o']);
    assert.deepEqual(ids({ deprecated: true }), ['old-model']);
  });

  test('numeric filters never pass an unknown figure', () => {
    assert.deepEqual(ids({ min_context: 100_000 }), ['gpt-4o', 'claude-sonnet', 'claude-haiku']);
    assert.deepEqual(ids({ min_context: 32_768 }), ['gpt-4o', 'claude-sonnet', 'claude-haiku', 'my-finetune']);
    assert.deepEqual(ids({ max_input_cost: 0.001 }), ['claude-haiku', 'text-embedding-3-small']);
    assert.deepEqual(ids({ max_output_cost: 0.004, supports_chat: true }), ['claude-haiku', 'old-model']);
  });

  test('the USAGE.md advanced search', () => {
    const query = parseSearchParams({ q: 'claude', provider: 'anthropic', supports_chat: 'True', min_context: '100000' });
    assert.deepEqual(ids(query), ['claude-sonnet', 'claude-haiku']);
  });

  test('sort puts unknown values last in either direction, ties by id', () => {
    assert.deepEqual(ids({ sort: { field: 'input_cost', descending: false } }), [
      'text-embedding-3-small',
      'claude-haiku',
      'old-model',
      'gpt-4o',
      'claude-sonnet',
      'gpt-4',
      'my-finetune',
      'mystery',
    ]);
    assert.deepEqual(ids({ sort: { field: 'input_cost', descending: true } }).slice(-3), ['text-embedding-3-small', 'my-finetune', 'mystery']);
    assert.deepEqual(ids({ sort: { field: 'context_length', descending: true } }), [
      'claude-haiku',
      'claude-sonnet',
      'gpt-4o',
      'my-finetune',
      'gpt-4',
      'text-embedding-3-small',
      'old-model',
      'mystery',
    ]);
    // cost = input + output, as USAGE.md's select_model sorts.
    assert.deepEqual(ids({ supports_chat: true, sort: { field: 'cost', descending: false } }), ['old-model', 'claude-haiku', 'gpt-4o', 'claude-sonnet', 'gpt-4']);
    assert.deepEqual(ids({ provider: 'anthropic', sort: { field: 'name', descending: false } }), ['claude-haiku', 'claude-sonnet']);
    assert.deepEqual(ids({ provider: 'anthropic', sort: { field: 'name', descending: true } }), ['claude-sonnet', 'claude-haiku']);
  });

  test('paging keeps the total count and echoes limit and offset', () => {
    const sorted: SearchQuery = { sort: { field: 'id', descending: false } };
    const all = ids(sorted);
    const page = index.search({ ...sorted, limit: 3, offset: 2 });
    assert.equal(page.count, MODELS.length);
    assert.equal(page.limit, 3);
    assert.equal(page.offset, 2);
    assert.deepEqual(
      page.models.map((view) => view.id),
      all.slice(2, 5),
    );
    const past = index.search({ limit: 5, offset: 100 });
    assert.deepEqual(past.models, []);
    assert.equal(past.count, MODELS.length);
    const unpaged = index.search({});
    assert.equal(unpaged.limit, null);
    assert.equal(unpaged.offset, 0);
    // Results are the cached views themselves, not copies.
    assert.equal(unpaged.models[0], MODELS[0]);
  });

  test("a key's filter shows only the models it lets through, and the count counts only those", () => {
    const names = new Set(['gpt-4', 'claude-sonnet', 'mystery']);
    assert.deepEqual(ids({}, (view) => names.has(view.id)), ['gpt-4', 'claude-sonnet', 'mystery']);
    assert.deepEqual(ids({}, () => false), []);
    assert.equal(index.search({ limit: 1 }, (view) => names.has(view.id)).count, 3);
    assert.equal(searchModels(index, { q: 'claude' }, (view) => names.has(view.id)).count, 1);
  });

  test('get finds a model by id, alias or provider/model, and the id wins', () => {
    assert.equal(index.get('gpt-4')?.id, 'gpt-4');
    assert.equal(index.get('claude-sonnet-latest')?.id, 'claude-sonnet');
    assert.equal(index.get('anthropic/claude-haiku')?.id, 'claude-haiku');
    assert.equal(index.get('nope'), undefined);
    const clash = compileModelIndex([model('openai/x', 'openrouter'), model('x', 'openai')]);
    assert.equal(clash.get('openai/x')?.provider, 'openrouter');
  });

  test('searchModels parses and searches in one call (the bench hook), and listJson is the whole list', () => {
    const result = searchModels(index, { q: 'claude', limit: '1' });
    assert.equal(result.count, 2);
    assert.equal(result.models.length, 1);
    assert.throws(() => searchModels(index, { limit: '0' }), GatewayError);
    const parsed = JSON.parse(index.listJson()) as { models: ModelView[]; count: number };
    assert.equal(parsed.count, MODELS.length);
    assert.equal(parsed.models.length, MODELS.length);
    assert.equal(index.listJson(), index.listJson());
  });

  // Speed is measured by bench/catalog-search.mjs, never by a timed test; this checks a large list is right.
  test('a 5,000-model list filters, sorts and pages correctly', () => {
    const many: ModelView[] = [];
    for (let i = 0; i < 5000; i++) {
      many.push(known(`model-${i}`, i % 2 === 0 ? 'openai' : 'anthropic', { name: `Model ${i}`, context_length: 1000 + i, input_cost: i % 7 === 0 ? null : i / 1e6, output_cost: i / 1e5 }));
    }
    const big = compileModelIndex(many);
    const query = parseSearchParams({ q: 'model-4', provider: 'openai', supports_chat: 'True', min_context: '2000', sort: 'input_cost', limit: '20' });
    const result = big.search(query);
    const expected = many
      .filter((model) => model.id.includes('model-4') && model.provider === 'openai' && (model.context_length ?? 0) >= 2000 && model.input_cost !== null)
      .sort((a, b) => (a.input_cost as number) - (b.input_cost as number) || a.id.localeCompare(b.id))
      .slice(0, 20)
      .map((model) => model.id);
    assert.deepEqual(result.models.map((model) => model.id), expected);
    assert.equal(big.search(query).models.length, 20);
  });
});
