// buildModelViews: each model once, catalog aliases folded, config aliases marked, unknown models with nulls.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CatalogEntry } from './catalog-types.js';
import { ModelCatalog } from './model-catalog.js';
import { buildModelViews, createModelView, ModelViewSchema, type ViewSource } from './model-view.js';
import { Value } from '@sinclair/typebox/value';
import type { ChatCodec, ProviderInstance, ProviderKind } from '../providers/provider.js';
import { ModelRouter } from '../routing/model-router.js';

function entry(id: string, overrides: Partial<CatalogEntry> = {}): CatalogEntry {
  return {
    id,
    name: id.toUpperCase(),
    provider: 'openai',
    context_length: 128_000,
    max_output_tokens: 16_384,
    input_cost: 0.001,
    output_cost: 0.002,
    supports_chat: true,
    supports_streaming: true,
    capabilities: ['chat', 'streaming', 'vision'],
    modalities: { input: ['text', 'image'], output: ['text'] },
    source: { url: `https://example.test/${id}`, date: '2026-01-01' },
    ...overrides,
  };
}

const openai = { name: 'openai' };
const groq = { name: 'groq' };

function provider(name: string, kind: ProviderKind, staticModels: string[] = []): ProviderInstance {
  return { name, kind, baseUrl: new URL('http://127.0.0.1:1/v1'), apiKey: 'k', codec: {} as ChatCodec, staticModels };
}

describe('buildModelViews', () => {
  test('a catalog model is listed once, with its aliases on it', () => {
    const big = entry('big', { aliases: ['big-latest', 'big-2026'] });
    const views = buildModelViews([
      { id: 'big', provider: openai, entry: big, discovered: undefined },
      { id: 'big-latest', provider: openai, entry: big, discovered: undefined },
      { id: 'big-2026', provider: openai, entry: big, discovered: { id: 'big-2026', created: 1_700_000_000, contextLength: 999 } },
    ]);
    assert.equal(views.length, 1);
    const view = views[0];
    assert.ok(view);
    assert.equal(view.id, 'big');
    assert.deepEqual(view.aliases, ['big-latest', 'big-2026']);
    assert.equal(view.alias_of, null);
    // The catalog's figure stands; the provider's report only fills gaps and marks it discovered.
    assert.equal(view.context_length, 128_000);
    assert.equal(view.discovered, true);
    assert.equal(view.created, 1_700_000_000);
    assert.deepEqual(view.routes, ['openai/big']);
    assert.equal(view.provider, 'openai');
    assert.equal(view.owned_by, 'openai');
    assert.deepEqual(view.source, { url: 'https://example.test/big', date: '2026-01-01' });
  });

  test('the public Model fields come first, in the contract order, with catalog costs per 1K tokens', () => {
    const [view] = buildModelViews([{ id: 'big', provider: openai, entry: entry('big', { cached_input_cost: 0.0005 }), discovered: undefined }]);
    assert.ok(view);
    assert.deepEqual(Object.keys(view).slice(0, 10), [
      'id',
      'name',
      'provider',
      'supports_chat',
      'supports_streaming',
      'capabilities',
      'context_length',
      'max_output_tokens',
      'input_cost',
      'output_cost',
    ]);
    assert.equal(view.input_cost, 0.001);
    assert.equal(view.output_cost, 0.002);
    assert.equal(view.cached_input_cost, 0.0005);
    assert.deepEqual(view.modalities, { input: ['text', 'image'], output: ['text'] });
  });

  test("a long-context band is shown beside the base rates, which stay the short prompts' own", () => {
    const band = { above_input_tokens: 272_000, input_cost: 0.002, output_cost: 0.003 };
    const [banded, plain] = buildModelViews([
      { id: 'long', provider: openai, entry: entry('long', { long_context: band }), discovered: undefined },
      { id: 'short', provider: openai, entry: entry('short'), discovered: undefined },
    ]);
    assert.equal(banded?.input_cost, 0.001);
    assert.deepEqual(banded?.long_context, { ...band, cached_input_cost: null, cache_write_cost: null, cache_write_1h_cost: null });
    assert.equal(plain?.long_context, null);
    // The documented Model schema (/openapi.json) describes every field a view has, and each view fits it.
    for (const view of [banded, plain]) {
      assert.deepEqual(Object.keys(view ?? {}), Object.keys(ModelViewSchema.properties));
      assert.ok(Value.Check(ModelViewSchema, view), JSON.stringify([...Value.Errors(ModelViewSchema, view)].map((error) => error.path)));
    }
  });

  test('rate multipliers (fast mode, inference geography) are shown beside the rates they multiply; null without', () => {
    const multipliers = { fast: 2, inference_geo: { us: 1.1 } };
    const [fast, geo, plain] = buildModelViews([
      { id: 'fast', provider: openai, entry: entry('fast', { rate_multipliers: multipliers }), discovered: undefined },
      { id: 'geo', provider: openai, entry: entry('geo', { rate_multipliers: { inference_geo: { us: 1.1 } } }), discovered: undefined },
      { id: 'plain', provider: openai, entry: entry('plain'), discovered: undefined },
    ]);
    assert.deepEqual(fast?.rate_multipliers, multipliers);
    // A model without a fast-mode price says so with null, not a 1 it would not bill.
    assert.deepEqual(geo?.rate_multipliers, { fast: null, inference_geo: { us: 1.1 } });
    assert.equal(plain?.rate_multipliers, null);
    for (const view of [fast, geo, plain]) assert.ok(Value.Check(ModelViewSchema, view), JSON.stringify([...Value.Errors(ModelViewSchema, view)].map((error) => error.path)));
    // A copy: the view's object is not the catalog entry's (a caller mutating one leaves the other alone).
    assert.notEqual(fast?.rate_multipliers?.inference_geo, multipliers.inference_geo);
  });

  test('an announced price change: before its day the view shows the old rates and the change, from its day the new rates', () => {
    const change = { from: '2026-12-01', input_cost: 0.004, output_cost: 0.02, cached_input_cost: 0.0002 };
    const source = { id: 'dated', provider: openai, entry: entry('dated', { cached_input_cost: 0.0001, price_changes: [change] }), discovered: undefined };
    const day = Date.parse('2026-12-01T00:00:00Z');
    const [before] = buildModelViews([source], () => false, day - 1);
    assert.deepEqual([before?.input_cost, before?.output_cost, before?.cached_input_cost, before?.price_changes], [0.001, 0.002, 0.0001, [change]]);
    const [after] = buildModelViews([source], () => false, day);
    assert.deepEqual([after?.input_cost, after?.output_cost, after?.cached_input_cost, after?.price_changes], [0.004, 0.02, 0.0002, []]);
    assert.ok(Value.Check(ModelViewSchema, before), JSON.stringify([...Value.Errors(ModelViewSchema, before)].map((error) => error.path)));
  });

  test('a model the catalog does not know shows what the provider reported and nulls elsewhere', () => {
    const [view] = buildModelViews([
      { id: 'my-finetune', provider: openai, entry: undefined, discovered: { id: 'my-finetune', contextLength: 32_768, maxOutputTokens: 4096, created: 42 } },
      { id: 'bare', provider: openai, entry: undefined, discovered: { id: 'bare' } },
    ]);
    assert.deepEqual(view, {
      id: 'my-finetune',
      name: 'my-finetune',
      provider: 'openai',
      supports_chat: null,
      supports_streaming: null,
      capabilities: [],
      context_length: 32_768,
      max_output_tokens: 4096,
      input_cost: null,
      output_cost: null,
      cached_input_cost: null,
      cache_write_cost: null,
      cache_write_1h_cost: null,
      price_changes: [],
      long_context: null,
      rate_multipliers: null,
      modalities: null,
      aliases: [],
      alias_of: null,
      deprecated: false,
      owned_by: 'openai',
      created: 42,
      discovered: true,
      stale: false,
      routes: ['openai/my-finetune'],
      source: null,
    });
    const bare = buildModelViews([{ id: 'bare', provider: openai, entry: undefined, discovered: { id: 'bare', name: 'Bare Model' } }])[0];
    assert.equal(bare?.name, 'Bare Model');
    assert.equal(bare?.context_length, null);
  });

  test('a config alias is a model of its own, marked alias_of, with the figures of its target', () => {
    const small = entry('small', { input_cost: 0.0001 });
    const views = buildModelViews([
      { id: 'small', provider: openai, entry: small, discovered: { id: 'small' } },
      { id: 'fast', provider: openai, entry: small, discovered: undefined, aliasOf: 'openai/small' },
      { id: 'quick', provider: openai, entry: small, discovered: undefined, aliasOf: 'fast' },
      { id: 'ghost', provider: groq, entry: undefined, discovered: undefined, aliasOf: 'groq/not-listed' },
    ]);
    assert.deepEqual(
      views.map((view) => [view.id, view.alias_of]),
      [
        ['small', null],
        ['fast', 'openai/small'],
        ['quick', 'fast'],
        ['ghost', 'groq/not-listed'],
      ],
    );
    const fast = views[1];
    assert.equal(fast?.input_cost, 0.0001);
    assert.equal(fast?.discovered, true);
    assert.deepEqual(fast?.routes, ['openai/small']);
    assert.deepEqual(fast?.aliases, []);
    assert.equal(views[2]?.input_cost, 0.0001, 'alias chains are followed');
    // The target is not listed: what is known (nothing) is shown, and the route it takes.
    assert.equal(views[3]?.input_cost, null);
    assert.equal(views[3]?.provider, 'groq');
    assert.deepEqual(views[3]?.routes, ['groq/not-listed']);
    // Views never share mutable arrays.
    assert.notEqual(views[0]?.capabilities, fast?.capabilities);
  });

  test('stale marks every model of a provider whose list could not be read', () => {
    const views = buildModelViews(
      [
        { id: 'a', provider: openai, entry: entry('a'), discovered: undefined },
        { id: 'b', provider: groq, entry: entry('b'), discovered: undefined },
      ],
      (name) => name === 'groq',
    );
    assert.deepEqual(
      views.map((view) => [view.id, view.stale]),
      [
        ['a', false],
        ['b', true],
      ],
    );
  });

  test('ids stay unique; an id holding a provider name is its own model', () => {
    const views = buildModelViews([
      { id: 'gpt-x', provider: openai, entry: entry('gpt-x'), discovered: undefined },
      { id: 'openai/gpt-x', provider: { name: 'openrouter' }, entry: entry('openai/gpt-x', { provider: 'openrouter' }), discovered: undefined },
      { id: 'gpt-x', provider: groq, entry: entry('gpt-x'), discovered: undefined },
    ]);
    assert.deepEqual(
      views.map((view) => `${view.provider}:${view.id}`),
      ['openai:gpt-x', 'openrouter:openai/gpt-x'],
    );
    assert.deepEqual(views[1]?.routes, ['openrouter/openai/gpt-x']);
  });

  test('an alias served by another provider than its model gets a view of its own', () => {
    const big = entry('big', { aliases: ['big-latest'] });
    const views = buildModelViews([
      { id: 'big', provider: openai, entry: big, discovered: undefined },
      { id: 'big-latest', provider: groq, entry: big, discovered: undefined },
    ]);
    assert.deepEqual(
      views.map((view) => [view.id, view.provider, view.routes[0]]),
      [
        ['big', 'openai', 'openai/big'],
        ['big-latest', 'groq', 'groq/big-latest'],
      ],
    );
  });

  test('a model listed as provider/model folds its catalog aliases by their upstream names', () => {
    const oss = entry('openai/oss', { provider: 'groq', aliases: ['openai/oss-latest'] });
    const views = buildModelViews([
      { id: 'groq/openai/oss', provider: groq, entry: oss, discovered: undefined, upstreamModel: 'openai/oss' },
      { id: 'groq/openai/oss-latest', provider: groq, entry: oss, discovered: undefined, upstreamModel: 'openai/oss-latest' },
    ]);
    assert.deepEqual(
      views.map((view) => [view.id, view.aliases, view.routes]),
      [['groq/openai/oss', ['groq/openai/oss-latest'], ['groq/openai/oss']]],
    );
  });

  test('with the real router: a name starting with a configured provider is listed under the provider that serves it', () => {
    const router = new ModelRouter([provider('openai', 'openai'), provider('groq', 'groq'), provider('openrouter', 'openrouter')], ModelCatalog.builtin(), {});
    const views = buildModelViews(router.list());
    const ids = new Set(views.map((view) => view.id));
    for (const view of views) assert.equal(router.resolve(view.id)?.provider.name, view.provider, `${view.id} routes to ${view.provider}`);
    assert.ok(ids.has('groq/openai/gpt-oss-120b'));
    assert.ok(ids.has('openrouter/openai/gpt-4o'));
    // OpenRouter's own `openrouter/auto` reaches it only with the provider named first.
    assert.ok(ids.has('openrouter/openrouter/auto'));
    assert.equal(router.resolve('openrouter/openrouter/auto')?.upstreamModel, 'openrouter/auto');
  });

  test('createModelView names the upstream model in routes for a provider/model lookup', () => {
    const view = createModelView({ id: 'azure/big', provider: { name: 'azure' }, entry: entry('big'), discovered: undefined, upstreamModel: 'big' }, false);
    assert.equal(view.id, 'azure/big');
    assert.deepEqual(view.routes, ['azure/big']);
    assert.equal(view.name, 'BIG');
  });

  test('with the real router and the built-in catalog: every model once, never a catalog alias', () => {
    const catalog = ModelCatalog.builtin();
    const router = new ModelRouter([provider('openai', 'openai', ['my-deployment']), provider('anthropic', 'anthropic')], catalog, {
      fast: 'openai/gpt-4o-mini',
    });
    router.setDiscovered('openai', [{ id: 'my-finetune' }, { id: 'gpt-4' }]);
    const sources: ViewSource[] = router.list();
    const views = buildModelViews(sources);
    const ids = views.map((view) => view.id);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
    const aliases = new Set(catalog.entries.flatMap((item) => item.aliases ?? []));
    assert.deepEqual(
      ids.filter((id) => aliases.has(id)),
      [],
    );
    const expected = catalog.forKind('openai').length + catalog.forKind('anthropic').length + 3; // + my-deployment, my-finetune, fast
    assert.equal(views.length, expected);
    const gpt4 = views.find((view) => view.id === 'gpt-4');
    assert.equal(gpt4?.context_length, 8192);
    assert.equal(gpt4?.input_cost, 0.03);
    assert.equal(gpt4?.output_cost, 0.06);
    assert.equal(views.find((view) => view.id === 'fast')?.alias_of, 'openai/gpt-4o-mini');
    assert.equal(views.find((view) => view.id === 'my-deployment')?.input_cost, null);
    const sonnet = views.find((view) => view.aliases.length > 0 && view.provider === 'anthropic');
    assert.ok(sonnet, 'anthropic aliases are folded onto their models');
  });
});
