// `model_catalog:` overrides: merged over built-in entries (by id or alias), creating entries, and
// validated by the config schema with errors that name the field.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { heldMultiplier, heldWrites, rateMultiplier } from './call-cost.js';
import { applyCatalogPatches, CONFIG_SOURCE_URL, type CatalogEntryPatch } from './catalog-patch.js';
import type { CatalogEntry } from './catalog-types.js';
import { ModelCatalog } from './model-catalog.js';
import { ConfigError } from '../config/config-error.js';
import { defaultConfig, loadConfig } from '../config/config-loader.js';
import { Value } from '@sinclair/typebox/value';
import { ConfigSchema } from '../config/config-schema.js';

const base: CatalogEntry = {
  id: 'big',
  name: 'Big',
  provider: 'openai',
  context_length: 128_000,
  max_output_tokens: 16_384,
  input_cost: 0.001,
  output_cost: 0.002,
  cached_input_cost: 0.0005,
  supports_chat: true,
  supports_streaming: true,
  capabilities: ['chat', 'streaming'],
  modalities: { input: ['text'], output: ['text'] },
  aliases: ['big-latest'],
  source: { url: 'https://example.test/big', date: '2026-01-01' },
};

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-catalog-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

describe('applyCatalogPatches', () => {
  test('merges over the built-in entry, keeping what the patch does not name', () => {
    const { entries, unrouted } = applyCatalogPatches([base], { big: { input_cost: 0.0009, context_length: null, modalities: { input: ['text', 'image'] } } }, '2026-02-02');
    const [patched] = entries;
    assert.equal(patched?.input_cost, 0.0009);
    assert.equal(patched?.output_cost, 0.002);
    assert.equal(patched?.context_length, null, 'null is a value: "not known"');
    assert.deepEqual(patched?.modalities, { input: ['text', 'image'], output: ['text'] });
    assert.deepEqual(patched?.aliases, ['big-latest']);
    assert.deepEqual(patched?.source, { url: CONFIG_SOURCE_URL, date: '2026-02-02' });
    assert.equal(unrouted.size, 0);
    assert.equal(base.input_cost, 0.001, 'the built-in entry is not mutated');
  });

  test('a patch named by an alias changes that model', () => {
    const { entries } = applyCatalogPatches([base], { 'big-latest': { output_cost: 0.003, source: { url: 'https://example.test/pricing', date: '2026-03-03' } } }, '2026-02-02');
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.id, 'big');
    assert.equal(entries[0]?.output_cost, 0.003);
    assert.deepEqual(entries[0]?.source, { url: 'https://example.test/pricing', date: '2026-03-03' });
  });

  test('creates entries: routed by kind with a provider, by name only without one', () => {
    const { entries, unrouted } = applyCatalogPatches(
      [base],
      {
        'my-finetune': { name: 'My fine-tune', input_cost: 0.003, output_cost: 0.006, context_length: 16_384 },
        'gpu-llama': { provider: 'openai-compatible', supports_chat: true, supports_streaming: false },
      },
      '2026-02-02',
    );
    assert.equal(entries.length, 3);
    const finetune = entries[1];
    assert.equal(finetune?.name, 'My fine-tune');
    assert.equal(finetune?.max_output_tokens, null);
    assert.deepEqual(finetune?.capabilities, ['chat', 'streaming']);
    assert.deepEqual(entries[2]?.capabilities, ['chat']);
    assert.deepEqual([...unrouted], ['my-finetune']);
    const catalog = new ModelCatalog(entries, unrouted);
    assert.equal(catalog.get('my-finetune')?.input_cost, 0.003);
    assert.ok(!catalog.forKind('openai-compatible').some((entry) => entry.id === 'my-finetune'));
    assert.ok(catalog.forKind('openai-compatible').some((entry) => entry.id === 'gpu-llama'));
  });

  test('ModelCatalog.builtin applies patches; the seed figures stand without them', () => {
    const plain = ModelCatalog.builtin();
    assert.equal(plain.get('gpt-4')?.context_length, 8192);
    assert.equal(plain.get('gpt-4')?.input_cost, 0.03);
    assert.equal(plain.get('gpt-4')?.output_cost, 0.06);
    const patched = ModelCatalog.builtin({ 'gpt-4o-mini': { input_cost: 0.0001 } }, '2026-02-02');
    assert.equal(patched.get('gpt-4o-mini')?.input_cost, 0.0001);
    assert.equal(patched.entries.length, plain.entries.length);
  });
});

describe('model_catalog in the config', () => {
  test('the default config validates and has an empty model_catalog', () => {
    assert.ok(Value.Check(ConfigSchema, defaultConfig()));
    assert.deepEqual(defaultConfig().model_catalog, {});
  });

  test('a YAML model_catalog loads', () => {
    const file = configFile(`
model_catalog:
  gpt-4o-mini:
    input_cost: 0.0001
    output_cost: 0.0004
  my-finetune:
    name: My fine-tune
    provider: openai
    context_length: 16384
    capabilities: [chat, streaming, function_calling]
  openai/gpt-oss-120b:
    context_length: null
`);
    const { config } = loadConfig({ LLM_PROXY_CONFIG: file });
    assert.equal(config.model_catalog?.['gpt-4o-mini']?.input_cost, 0.0001);
    assert.deepEqual(config.model_catalog?.['my-finetune']?.capabilities, ['chat', 'streaming', 'function_calling']);
    assert.equal(config.model_catalog?.['openai/gpt-oss-120b']?.context_length, null);
  });

  test('YAML cache-write prices load and drive the cost; a bad one names the field', () => {
    const yaml = 'model_catalog:\n  claude-sonnet-4-6:\n    cache_write_cost: 0.005\n    cache_write_1h_cost: null\n  my-cached:\n    provider: openai\n    input_cost: 0.001\n    output_cost: 0.002\n    cache_write_cost: 0.002\n';
    const catalog = ModelCatalog.builtin(loadConfig({ LLM_PROXY_CONFIG: configFile(yaml) }).config.model_catalog);
    const sonnet = catalog.get('claude-sonnet-4-6');
    assert.deepEqual([sonnet?.cache_write_cost, sonnet?.cache_write_1h_cost], [0.005, null]);
    // With the 1-hour price cleared, 1-hour writes cost the 5-minute price: 1,000 written, 400 of them for an hour.
    assert.equal(catalog.cost(sonnet, 1000, 0, 0, 1000, 400), (1000 * 0.005) / 1000);
    const mine = catalog.get('my-cached');
    assert.deepEqual([mine?.cache_write_cost, mine?.cache_write_1h_cost], [0.002, null]);
    assert.throws(
      () => loadConfig({ LLM_PROXY_CONFIG: configFile('model_catalog:\n  gpt-4:\n    cache_write_cost: -1\n') }),
      (error: unknown) => error instanceof ConfigError && /model_catalog\.gpt-4\.cache_write_cost/.test(error.message),
    );
  });

  test('YAML cache_writes loads on a new or built-in entry and drives the hold; another value names the field', () => {
    const yaml = 'model_catalog:\n  my-claude:\n    provider: openrouter\n    input_cost: 0.001\n    output_cost: 0.002\n    cache_write_cost: 0.00125\n    cache_writes: cache_control\n  gpt-6.2-sol:\n    cache_writes: cache_control\n';
    const catalog = ModelCatalog.builtin(loadConfig({ LLM_PROXY_CONFIG: configFile(yaml) }).config.model_catalog);
    const mine = catalog.get('my-claude');
    assert.equal(mine?.cache_writes, 'cache_control');
    // Unmarked, a marked-only model is held at input; marked, at the write rate.
    assert.equal(catalog.heldCost(mine, 1000, 0, heldWrites(mine, () => 'none')), (1000 * 0.001) / 1000);
    assert.equal(catalog.heldCost(mine, 1000, 0, heldWrites(mine, () => 'default')), (1000 * 0.00125) / 1000);
    assert.equal(catalog.get('gpt-6.2-sol')?.cache_writes, 'cache_control');
    assert.equal(catalog.get('gpt-6.2-sol')?.cache_write_cost, 0.0025, 'the rest of the entry stands');
    assert.throws(
      () => loadConfig({ LLM_PROXY_CONFIG: configFile('model_catalog:\n  gpt-4:\n    cache_writes: sometimes\n') }),
      (error: unknown) => error instanceof ConfigError && /model_catalog\.gpt-4\.cache_writes/.test(error.message),
    );
  });

  test('YAML price changes load and drive the cost; a day the calendar lacks or two changes on one day name the field', () => {
    const yaml = 'model_catalog:\n  gpt-4o:\n    price_changes:\n      - { from: "2027-01-01", input_cost: 0.005, output_cost: 0.02 }\n';
    const catalog = ModelCatalog.builtin(loadConfig({ LLM_PROXY_CONFIG: configFile(yaml) }).config.model_catalog);
    const gpt4o = catalog.get('gpt-4o');
    const from = Date.parse('2027-01-01T00:00:00Z');
    assert.equal(catalog.cost(gpt4o, 1000, 0, 0, 0, 0, from - 1), (1000 * (gpt4o?.input_cost ?? NaN)) / 1000);
    assert.equal(catalog.cost(gpt4o, 1000, 0, 0, 0, 0, from), (1000 * 0.005) / 1000);
    const bad: Array<[string, RegExp]> = [
      ['{ from: "2027-02-30", input_cost: 1, output_cost: 1 }', /model_catalog\.gpt-4o\.price_changes: 2027-02-30 is not a day of the calendar/],
      ['{ from: "2027-1-1", input_cost: 1, output_cost: 1 }', /model_catalog\.gpt-4o\.price_changes/],
      ['{ from: "2027-01-01", input_cost: 1 }', /model_catalog\.gpt-4o\.price_changes/],
    ];
    for (const [change, message] of bad) {
      assert.throws(() => loadConfig({ LLM_PROXY_CONFIG: configFile(`model_catalog:\n  gpt-4o:\n    price_changes:\n      - ${change}\n`) }), (error: unknown) => error instanceof ConfigError && message.test(error.message), change);
    }
    const twice = 'model_catalog:\n  gpt-4o:\n    price_changes:\n      - { from: "2027-01-01", input_cost: 1, output_cost: 1 }\n      - { from: "2027-01-01", input_cost: 2, output_cost: 2 }\n';
    assert.throws(() => loadConfig({ LLM_PROXY_CONFIG: configFile(twice) }), (error: unknown) => error instanceof ConfigError && /two changes from 2027-01-01/.test(error.message));
  });

  test('bad entries fail at start with the field named', () => {
    const cases: Array<[string, RegExp]> = [
      ['model_catalog:\n  gpt-4:\n    input_cost: -1\n', /model_catalog\.gpt-4\.input_cost/],
      ['model_catalog:\n  gpt-4:\n    context_length: 1.5\n', /model_catalog\.gpt-4\.context_length/],
      ['model_catalog:\n  gpt-4:\n    capabilities: [telepathy]\n', /model_catalog\.gpt-4\.capabilities/],
      ['model_catalog:\n  gpt-4:\n    price: 3\n', /model_catalog\.gpt-4/],
      ['model_catalog:\n  gpt-4:\n    provider: nowhere\n', /model_catalog\.gpt-4\.provider/],
      ['model_catalog:\n  "bad id!":\n    input_cost: 1\n', /model_catalog/],
    ];
    for (const [yaml, field] of cases) {
      assert.throws(
        () => loadConfig({ LLM_PROXY_CONFIG: configFile(yaml) }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.match(error.message, field);
          return true;
        },
        yaml,
      );
    }
  });
});

describe('model_catalog long_context', () => {
  const band = { above_input_tokens: 200_000, input_cost: 0.002, output_cost: 0.004 };

  test('sets a band on a built-in or new entry, replaces one whole, and null clears it', () => {
    const banded: CatalogEntry = { ...base, long_context: { above_input_tokens: 100_000, input_cost: 0.01, output_cost: 0.02, cached_input_cost: 0.001 } };
    const { entries } = applyCatalogPatches([banded], { big: { long_context: band }, mine: { input_cost: 0.001, output_cost: 0.002, long_context: band } }, '2026-11-28');
    assert.deepEqual(entries[0]?.long_context, band, 'replaced whole: no cached price is kept from the old band');
    assert.deepEqual(entries[1]?.long_context, band);
    const cleared = applyCatalogPatches([banded], { big: { long_context: null } }, '2026-11-28').entries[0];
    assert.equal(cleared?.long_context, null);
    assert.equal(new ModelCatalog([cleared as CatalogEntry]).cost(cleared, 300_000, 0), (300_000 * 0.001) / 1000);
    // Changing the base rates alone keeps the built-in band.
    assert.deepEqual(applyCatalogPatches([banded], { big: { input_cost: 0.003 } }, '2026-11-28').entries[0]?.long_context, banded.long_context);
  });

  test('a YAML band loads, drives the cost, and a bad one names the field', () => {
    const yaml = 'model_catalog:\n  gpt-5.5:\n    long_context: { above_input_tokens: 128000, input_cost: 0.02, output_cost: 0.06, cached_input_cost: null }\n  gemini-2.5-pro:\n    long_context: null\n';
    const { config } = loadConfig({ LLM_PROXY_CONFIG: configFile(yaml) });
    const catalog = ModelCatalog.builtin(config.model_catalog);
    assert.deepEqual(catalog.get('gpt-5.5')?.long_context, { above_input_tokens: 128_000, input_cost: 0.02, output_cost: 0.06, cached_input_cost: null });
    assert.equal(catalog.cost(catalog.get('gpt-5.5'), 128_001, 0), (128_001 * 0.02) / 1000);
    assert.equal(catalog.get('gemini-2.5-pro')?.long_context, null);
    for (const bad of ['{ above_input_tokens: 0, input_cost: 1, output_cost: 1 }', '{ input_cost: 1, output_cost: 1 }', '{ above_input_tokens: 10, input_cost: -1, output_cost: 1 }', '{ above_input_tokens: 10, input_cost: 1, output_cost: 1, tiers: 2 }']) {
      assert.throws(
        () => loadConfig({ LLM_PROXY_CONFIG: configFile(`model_catalog:\n  gpt-5.5:\n    long_context: ${bad}\n`) }),
        (error: unknown) => error instanceof ConfigError && /model_catalog\.gpt-5\.5\.long_context: Expected \{above_input_tokens/.test(error.message),
        bad,
      );
    }
  });
});

describe('model_catalog rate_multipliers', () => {
  const claude: CatalogEntry = { ...base, id: 'claude-big', provider: 'anthropic', rate_multipliers: { fast: 2, inference_geo: { us: 1.1 } } };

  test('merges field by field over a built-in entry; null removes a field or all of them; a new entry takes them', () => {
    const merged = (patch: CatalogEntryPatch['rate_multipliers']) => applyCatalogPatches([claude], { 'claude-big': { rate_multipliers: patch } }, '2026-12-01').entries[0]?.rate_multipliers;
    assert.deepEqual(merged({ fast: 6 }), { fast: 6, inference_geo: { us: 1.1 } }, 'correcting fast mode keeps the geography');
    assert.deepEqual(merged({ inference_geo: { us: 1.2, eu: 1.05 } }), { fast: 2, inference_geo: { us: 1.2, eu: 1.05 } }, 'a geography map replaces the built-in one whole');
    assert.deepEqual(merged({ fast: null }), { inference_geo: { us: 1.1 } });
    assert.equal(merged({ fast: null, inference_geo: null }), undefined, 'nothing left: no multipliers');
    assert.equal(merged(null), undefined);
    assert.deepEqual(claude.rate_multipliers, { fast: 2, inference_geo: { us: 1.1 } }, 'the built-in entry is not mutated');
    // Another field's patch keeps them.
    assert.deepEqual(applyCatalogPatches([claude], { 'claude-big': { input_cost: 0.002 } }, '2026-12-01').entries[0]?.rate_multipliers, claude.rate_multipliers);

    const { entries } = applyCatalogPatches([], { 'claude-next': { provider: 'anthropic', input_cost: 0.005, output_cost: 0.025, rate_multipliers: { fast: 6, inference_geo: { us: 1.1 } } } }, '2026-12-01');
    const created = entries[0];
    assert.deepEqual(created?.rate_multipliers, { fast: 6, inference_geo: { us: 1.1 } });
    assert.ok(Math.abs(rateMultiplier(created, 'fast', 'us') - 6.6) < 1e-12);
    assert.ok(Math.abs(heldMultiplier(created, { speed: 'fast' }) - 6.6) < 1e-12, 'a hold without inference_geo takes the dearest geography');
    assert.equal(heldMultiplier(created, { inference_geo: 'global' }), 1);
  });

  test('YAML multipliers load and drive billing; a bad one stops the start naming the field', () => {
    const yaml = [
      'model_catalog:',
      '  claude-opus-4-8:',
      '    rate_multipliers: { fast: 3 }',
      '  claude-sonnet-4-5:',
      '    rate_multipliers: { inference_geo: { us: 1.1 } }',
      '  claude-next:',
      '    provider: anthropic',
      '    input_cost: 0.005',
      '    output_cost: 0.025',
      '    rate_multipliers: { fast: 6, inference_geo: { us: 1.1, eu: 1.05 } }',
      '',
    ].join('\n');
    const catalog = ModelCatalog.builtin(loadConfig({ LLM_PROXY_CONFIG: configFile(yaml) }).config.model_catalog);
    assert.deepEqual(catalog.get('claude-opus-4-8')?.rate_multipliers, { fast: 3, inference_geo: { us: 1.1 } });
    assert.ok(Math.abs(rateMultiplier(catalog.get('claude-sonnet-4-5'), undefined, 'us') - 1.1) < 1e-12, 'a model the catalog bills no multiplier gets one');
    assert.ok(Math.abs(rateMultiplier(catalog.get('claude-next'), 'fast', 'eu') - 6 * 1.05) < 1e-12);

    const bad = ['{ fast: 0 }', '{ fast: -2 }', '{ fast: "2" }', '{ inference_geo: { us: 0 } }', '{ inference_geo: { "US only": 1.1 } }', '{ batch: 0.5 }', '[2]'];
    for (const value of bad) {
      assert.throws(
        () => loadConfig({ LLM_PROXY_CONFIG: configFile(`model_catalog:\n  claude-opus-4-8:\n    rate_multipliers: ${value}\n`) }),
        (error: unknown) => error instanceof ConfigError && /model_catalog\.claude-opus-4-8\.rate_multipliers: Expected \{fast/.test(error.message),
        value,
      );
    }
  });
});
