// Sanity checks on the built-in model catalog data (builtin-models.json).
import test from 'node:test';
import assert from 'node:assert/strict';
import { priceChangesProblem } from './catalog-patch.js';
import { ModelCatalog } from './model-catalog.js';
import catalog from './builtin-models.json' with { type: 'json' };
import { CAPABILITIES, MODALITIES, type CatalogEntry, type CatalogFile } from './catalog-types.js';
import type { ProviderKind } from '../providers/provider.js';

const file = catalog as CatalogFile;
const models: readonly CatalogEntry[] = file.models;

// Every ProviderKind, spelled out so a new kind must be added here on purpose.
const PROVIDER_KINDS: Record<ProviderKind, true> = {
  openai: true,
  azure: true,
  anthropic: true,
  gemini: true,
  ollama: true,
  mistral: true,
  groq: true,
  deepseek: true,
  together: true,
  openrouter: true,
  xai: true,
  fireworks: true,
  'openai-compatible': true,
};
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function isValidDate(value: string): boolean {
  if (!DATE.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === value;
}

function byId(id: string): CatalogEntry {
  const entry = models.find((m) => m.id === id);
  assert.ok(entry, `catalog has no entry ${id}`);
  return entry;
}

test('catalog header has a version and an updated date', () => {
  assert.equal(file.version, 1);
  assert.ok(isValidDate(file.updated), `updated ${file.updated}`);
});

test('catalog holds at least 150 models', () => {
  assert.ok(models.length >= 150, `only ${models.length} models`);
});

test('ids and aliases are unique and never collide', () => {
  const seen = new Map<string, string>();
  for (const m of models) {
    assert.equal(typeof m.id, 'string');
    assert.ok(m.id.length > 0, 'empty id');
    assert.ok(!seen.has(m.id), `duplicate id ${m.id} (also ${seen.get(m.id)})`);
    seen.set(m.id, m.id);
  }
  for (const m of models) {
    const own = new Set<string>();
    for (const alias of m.aliases ?? []) {
      assert.ok(alias.length > 0, `empty alias on ${m.id}`);
      assert.notEqual(alias, m.id, `${m.id} lists itself as an alias`);
      assert.ok(!own.has(alias), `${m.id} lists alias ${alias} twice`);
      own.add(alias);
      assert.ok(!seen.has(alias), `alias ${alias} of ${m.id} collides with ${seen.get(alias)}`);
      seen.set(alias, m.id);
    }
  }
});

test('every provider is a valid ProviderKind', () => {
  for (const m of models) {
    assert.ok(Object.hasOwn(PROVIDER_KINDS, m.provider), `${m.id}: unknown provider ${m.provider}`);
  }
});

test('costs are null or finite non-negative numbers', () => {
  for (const m of models) {
    for (const key of ['input_cost', 'output_cost', 'cached_input_cost', 'cache_write_cost', 'cache_write_1h_cost'] as const) {
      const value = m[key];
      if (value === undefined && key !== 'input_cost' && key !== 'output_cost') continue;
      assert.ok(
        value === null || (typeof value === 'number' && Number.isFinite(value) && value >= 0),
        `${m.id}: ${key} is ${String(value)}`,
      );
    }
  }
});

test('token limits are null or positive integers, and the context holds the output', () => {
  for (const m of models) {
    for (const key of ['context_length', 'max_output_tokens'] as const) {
      const value = m[key];
      assert.ok(value === null || (Number.isInteger(value) && value > 0), `${m.id}: ${key} is ${String(value)}`);
    }
    if (m.context_length !== null && m.max_output_tokens !== null) {
      assert.ok(
        m.context_length >= m.max_output_tokens,
        `${m.id}: context_length ${m.context_length} < max_output_tokens ${m.max_output_tokens}`,
      );
    }
  }
});

test('capabilities and modalities use known values', () => {
  for (const m of models) {
    assert.ok(Array.isArray(m.capabilities) && m.capabilities.length > 0, `${m.id}: no capabilities`);
    assert.equal(new Set(m.capabilities).size, m.capabilities.length, `${m.id}: repeated capability`);
    for (const c of m.capabilities) assert.ok((CAPABILITIES as readonly string[]).includes(c), `${m.id}: unknown capability ${c}`);
    for (const side of ['input', 'output'] as const) {
      assert.ok(Array.isArray(m.modalities[side]), `${m.id}: modalities.${side} missing`);
      for (const mod of m.modalities[side]) assert.ok((MODALITIES as readonly string[]).includes(mod), `${m.id}: unknown modality ${mod}`);
    }
    assert.ok(m.modalities.input.length > 0, `${m.id}: no input modality`);
  }
});

test('every chat model has the chat and streaming capabilities', () => {
  for (const m of models) {
    assert.equal(m.supports_chat, m.capabilities.includes('chat'), `${m.id}: supports_chat disagrees with capabilities`);
    assert.equal(
      m.supports_streaming,
      m.capabilities.includes('streaming'),
      `${m.id}: supports_streaming disagrees with capabilities`,
    );
    if (m.supports_chat) {
      assert.ok(m.capabilities.includes('chat'), `${m.id}: chat model without "chat"`);
      assert.ok(m.capabilities.includes('streaming'), `${m.id}: chat model without "streaming"`);
      assert.ok(m.modalities.output.includes('text'), `${m.id}: chat model without text output`);
    }
  }
});

test('embedding models are not chat models', () => {
  const embeddings = models.filter((m) => m.capabilities.includes('embeddings'));
  assert.ok(embeddings.length > 0);
  for (const m of embeddings) assert.equal(m.supports_chat, false, `${m.id}: embedding model marked as chat`);
  for (const id of ['text-embedding-3-small', 'text-embedding-3-large', 'text-embedding-ada-002']) {
    const entry = byId(id);
    assert.equal(entry.supports_chat, false);
    assert.ok(entry.capabilities.includes('embeddings'));
  }
  const instruct = byId('gpt-3.5-turbo-instruct');
  assert.equal(instruct.supports_chat, false);
  assert.ok(instruct.capabilities.includes('completions'));
});

test('local ollama models cost nothing', () => {
  const local = models.filter((m) => m.provider === 'ollama');
  assert.ok(local.length > 0);
  for (const m of local) {
    assert.equal(m.input_cost, 0, `${m.id}: input_cost`);
    assert.equal(m.output_cost, 0, `${m.id}: output_cost`);
  }
});

test('every entry has an https source url and a YYYY-MM-DD date', () => {
  for (const m of models) {
    assert.equal(typeof m.source?.url, 'string', `${m.id}: no source url`);
    assert.ok(m.source.url.startsWith('https://'), `${m.id}: source url ${m.source.url}`);
    assert.doesNotThrow(() => new URL(m.source.url), `${m.id}: source url does not parse`);
    assert.ok(isValidDate(m.source.date), `${m.id}: source date ${m.source.date}`);
  }
});

test('gpt-4 keeps the figures the user guide quotes', () => {
  const gpt4 = byId('gpt-4');
  assert.equal(gpt4.provider, 'openai');
  assert.equal(gpt4.context_length, 8192);
  assert.equal(gpt4.input_cost, 0.03);
  assert.equal(gpt4.output_cost, 0.06);
  assert.equal(gpt4.max_output_tokens, 8192);
});

test('gpt-3.5-turbo keeps the figures the user guide quotes', () => {
  const turbo = byId('gpt-3.5-turbo');
  assert.equal(turbo.provider, 'openai');
  assert.equal(turbo.context_length, 16385);
  assert.equal(turbo.input_cost, 0.0005);
  assert.equal(turbo.output_cost, 0.0015);
  assert.equal(turbo.max_output_tokens, 4096);
});

test('announced price changes stand on real, distinct days, each with both base rates', () => {
  for (const m of models) {
    if (m.price_changes === undefined) continue;
    assert.equal(priceChangesProblem(m.price_changes), undefined, m.id);
    for (const change of m.price_changes) assert.ok(change.input_cost >= 0 && change.output_cost >= 0, `${m.id} ${change.from}`);
  }
  // Google: Gemini 4 Argon at $2 / $10 per 1M through 2026-11-30, then $4 / $20 (cache reads with them).
  assert.deepEqual(byId('gemini-4-argon').price_changes, [{ from: '2026-12-01', input_cost: 0.004, output_cost: 0.02, cached_input_cost: 0.0002 }]);
});

test('a cached input token never costs more than an uncached one', () => {
  for (const m of models) {
    const cached = m.cached_input_cost;
    if (cached === undefined || cached === null || m.input_cost === null) continue;
    assert.ok(cached <= m.input_cost, `${m.id}: cached_input_cost ${cached} > input_cost ${m.input_cost}`);
  }
});

// Anthropic's pricing page: "5-minute cache writes: 1.25x the base input tokens price; 1-hour cache
// writes: 2x" (Haiku 3: $0.30 and $0.50 against $0.25 input, as listed). The multipliers hold where
// reads are cheaper than 0.1x too: Opus 5.5 lists $5 / $8 writes on $4 input (reads $0.20), Sonnet 5.5
// $2.50 / $4 on $2, and Fable 5.1 changed only its reads from Fable 5's ($12.50 / $20 writes on $10).
test('Anthropic prompt-cache writes: 1.25x input (5-minute) and 2x (1-hour) on every cached Claude model', () => {
  const anthropic = models.filter((m) => m.provider === 'anthropic' && m.input_cost !== null);
  let priced = 0;
  for (const m of anthropic) {
    const input = m.input_cost as number;
    if (m.id === 'claude-3-haiku-20240307') continue;
    if (m.cached_input_cost === undefined || m.cached_input_cost === null) {
      assert.equal(m.cache_write_cost, undefined, m.id);
      continue;
    }
    assert.ok(Math.abs((m.cache_write_cost ?? 0) - input * 1.25) < 1e-12, `${m.id}: cache_write_cost ${m.cache_write_cost}`);
    assert.ok(Math.abs((m.cache_write_1h_cost ?? 0) - input * 2) < 1e-12, `${m.id}: cache_write_1h_cost ${m.cache_write_1h_cost}`);
    priced++;
  }
  for (const id of ['claude-fable-5-1', 'claude-opus-5-5', 'claude-sonnet-5-5']) assert.notEqual(byId(id).cache_write_cost, undefined, id);
  assert.ok(priced >= 18, `only ${priced} Claude models priced for writes`);
  const haiku3 = byId('claude-3-haiku-20240307');
  assert.deepEqual([haiku3.input_cost, haiku3.cache_write_cost, haiku3.cache_write_1h_cost], [0.00025, 0.0003, 0.0005]);
  // OpenRouter bills Claude's writes at 1.25x input too, and reports them as `cache_write_tokens` with no
  // 1-hour split; of the other providers only OpenAI bills writes above input (below).
  for (const m of models.filter((entry) => entry.provider === 'openrouter' && entry.id.startsWith('anthropic/claude'))) {
    assert.ok(Math.abs((m.cache_write_cost ?? 0) - (m.input_cost ?? NaN) * 1.25) < 1e-12, m.id);
  }
  assert.deepEqual(models.filter((m) => !['anthropic', 'openrouter', 'openai'].includes(m.provider) && m.cache_write_cost !== undefined).map((m) => m.id), []);
});

// OpenAI's prompt-caching guide: "Cache writes have no additional fee on models before the GPT-5.6
// family. For GPT-5.6 models and later model families, cache writes cost 1.25× the uncached input token
// rate"; their long-prompt rates double "input and cache rates" (gpt-6-sol's page). The GPT-6.2 Sol page
// lists $2.50 per 1M for cache writes (30-minute retention). The 12-hour writes some models offer ($5 on
// GPT-6.2 Sol) have no usage field of their own, so they are not modelled.
test('OpenAI prompt-cache writes: 1.25x input on GPT-5.6 and later, none before', () => {
  const later = /^gpt-(5\.6|6)(\.\d+)?-/;
  const openai = models.filter((m) => m.provider === 'openai');
  for (const m of openai) {
    if (!later.test(m.id)) {
      assert.equal(m.cache_write_cost, undefined, m.id);
      continue;
    }
    assert.ok(Math.abs((m.cache_write_cost ?? 0) - (m.input_cost ?? NaN) * 1.25) < 1e-12, `${m.id}: cache_write_cost ${m.cache_write_cost}`);
    assert.equal(m.cache_write_1h_cost, undefined, m.id);
    const band = m.long_context;
    if (band !== undefined && band !== null) assert.ok(Math.abs((band.cache_write_cost ?? 0) - (band.input_cost ?? NaN) * 1.25) < 1e-12, `${m.id} band`);
  }
  assert.equal(openai.filter((m) => later.test(m.id)).length, 10);
  assert.deepEqual([byId('gpt-6.2-sol').cache_write_cost, byId('gpt-5.6-sol').long_context?.cache_write_cost], [0.0025, 0.0125]);
});

// What makes a write, for budget holds: Anthropic's API (and OpenRouter passing Claude requests on)
// caches only what a cache_control marker asks for; OpenAI caches every prompt by itself.
// @see https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
// @see https://openrouter.ai/docs/guides/best-practices/prompt-caching ("Anthropic ... require[s] you to enable it on a per-message basis")
test('every model with a write price says what makes a write: Claude a cache_control marker, OpenAI every prompt', () => {
  const writes = (m: (typeof models)[number]) => typeof m.cache_write_cost === 'number' || typeof m.long_context?.cache_write_cost === 'number';
  for (const m of models.filter(writes)) {
    const expected = m.provider === 'openai' ? 'always' : 'cache_control';
    assert.equal(m.cache_writes, expected, m.id);
    if (m.provider === 'openrouter') assert.match(m.id, /^anthropic\/claude/, `${m.id}: an OpenRouter model that is not Claude may cache by itself`);
  }
  for (const m of models.filter((entry) => entry.provider === 'anthropic')) assert.equal(m.cache_writes, 'cache_control', m.id);
  assert.deepEqual(models.filter((m) => m.cache_writes !== undefined && !writes(m) && m.provider !== 'anthropic').map((m) => m.id), []);
});

// Figures checked against the providers' pages on 2026-11-28 where the catalog had been wrong.
test('audited prices and windows: xAI Grok 4.20, DeepSeek V4 (peak rate)', () => {
  const expected: Record<string, [context: number, input: number, output: number, cached: number]> = {
    'grok-4.20-0309-reasoning': [1_000_000, 0.00125, 0.0025, 0.0002],
    'grok-4.20-0309-non-reasoning': [1_000_000, 0.00125, 0.0025, 0.0002],
    'deepseek-v4-pro': [1_048_576, 0.00132, 0.00396, 0.000044],
    'deepseek-v4-flash': [1_048_576, 0.0003, 0.0012, 0.000006],
  };
  for (const [id, [context, input, output, cached]] of Object.entries(expected)) {
    const entry = byId(id);
    assert.deepEqual(
      [entry.context_length, entry.input_cost, entry.output_cost, entry.cached_input_cost],
      [context, input, output, cached],
      id,
    );
  }
  assert.ok(byId('grok-4.20-0309-reasoning').capabilities.includes('structured_outputs'));
});

// DeepSeek's pricing page (2026-11-28): "Use deepseek-flash as the model name. The legacy names
// deepseek-v4-flash and deepseek-v4-flash-vision-exp are still accepted, but the corresponding models
// have been retired, their requests are served by DeepSeek-V4.1-Flash … and billed at Flash prices."
test('deepseek-flash, DeepSeek\'s name for its Flash model, is priced as deepseek-v4-flash', () => {
  const catalog = ModelCatalog.builtin();
  const entry = catalog.entryFor({ name: 'deepseek', kind: 'deepseek' }, 'deepseek-flash');
  assert.equal(entry?.id, 'deepseek-v4-flash');
  // 1M plain, 1M read and 1M out at the peak rates: $0.30 + $0.006 + $1.20.
  const cost = catalog.cost(entry, 2_000_000, 1_000_000, 1_000_000);
  assert.ok(cost !== undefined && Math.abs(cost - 1.506) < 1e-9, `cost ${cost}`);
});

test('a long-context band is dearer than the base rates and starts inside the window', () => {
  for (const m of models) {
    const band = m.long_context;
    if (band === undefined || band === null) continue;
    assert.ok(Number.isInteger(band.above_input_tokens) && band.above_input_tokens > 0, m.id);
    assert.ok(m.context_length === null || band.above_input_tokens < m.context_length, `${m.id}: band past the window`);
    assert.ok(m.input_cost !== null && band.input_cost >= m.input_cost, `${m.id}: band input`);
    assert.ok(m.output_cost !== null && band.output_cost >= m.output_cost, `${m.id}: band output`);
    const cached = band.cached_input_cost;
    if (cached !== undefined && cached !== null) assert.ok(cached <= band.input_cost && cached >= (m.cached_input_cost ?? 0), `${m.id}: band cached`);
  }
});

// Checked 2026-11-28. OpenAI's model pages: "Prompts with more than 272K input tokens are priced at 2x
// input and cache rates and 1.5x output for the full request" (GPT-5.4/5.5 and pro, GPT-5.6, and the
// GPT-6 Sol, GPT-6 Luna and GPT-6.2 Sol pages; LiteLLM's *_above_272k_tokens agree). GPT-6 Astra, 6.1 Sol
// and 6.1 Terra from two secondary sources each quoting OpenAI's page; GPT-6.2 Astra has none yet. Google: "prompts > 200k tokens" (LiteLLM gemini/* *_above_200k_tokens,
// and openrouter/google/gemini-3.1-pro-preview). Anthropic's pricing page: "Claude Haiku 5.5 (for
// prompts over 100,000 tokens)" $0.50 / $2.50, cache hits $0.05; Sonnet 4.5 and later Sonnets list no
// band (LiteLLM's openrouter/anthropic/claude-sonnet-4.5 does: OpenRouter's 1M window). xAI's model
// pages: "≥ 200k prompt tokens … Requests whose prompt reaches 200k tokens are billed at the higher
// rate for all tokens", so their bands start past 199,999.
test('long-context bands as the providers publish them', () => {
  const expected: Record<string, [above: number, input: number, output: number, cached: number | undefined, write?: number, write1h?: number]> = {
    'gpt-6.2-sol': [272_000, 0.004, 0.015, 0.0002, 0.005],
    'gpt-6.1-sol': [272_000, 0.004, 0.015, 0.0002, 0.005],
    'gpt-6.1-terra': [272_000, 0.002, 0.0075, 0.0001, 0.0025],
    'gpt-6-astra': [272_000, 0.02, 0.075, 0.002, 0.025],
    'gpt-6-sol': [272_000, 0.004, 0.015, 0.0004, 0.005],
    'gpt-6-luna': [272_000, 0.0002, 0.00075, 0.00002, 0.00025],
    'gpt-5.6-sol': [272_000, 0.01, 0.045, 0.001, 0.0125],
    'gpt-5.6-terra': [272_000, 0.004, 0.018, 0.0004, 0.005],
    'gpt-5.6-luna': [272_000, 0.0004, 0.0018, 0.00004, 0.0005],
    'gpt-5.5': [272_000, 0.01, 0.045, 0.001],
    'gpt-5.5-pro': [272_000, 0.06, 0.27, undefined],
    'gpt-5.4': [272_000, 0.005, 0.0225, 0.0005],
    'gpt-5.4-pro': [272_000, 0.06, 0.27, undefined],
    'gemini-3.1-pro-preview': [200_000, 0.004, 0.018, 0.0004],
    'gemini-3-pro-preview': [200_000, 0.004, 0.018, 0.0004],
    'gemini-2.5-pro': [200_000, 0.0025, 0.015, 0.00025],
    'google/gemini-3.1-pro-preview': [200_000, 0.004, 0.018, 0.0004],
    'anthropic/claude-sonnet-4.5': [200_000, 0.006, 0.0225, 0.0006, 0.0075],
    'claude-haiku-5-5': [100_000, 0.0005, 0.0025, 0.00005, 0.000625, 0.001],
    'grok-4.20-0309-reasoning': [199_999, 0.0025, 0.005, 0.0004],
    'grok-4.3': [199_999, 0.0025, 0.005, 0.0004],
    'grok-4.5': [199_999, 0.004, 0.012, 0.001],
  };
  for (const [id, [above, input, output, cached, write, write1h]] of Object.entries(expected)) {
    const band = byId(id).long_context;
    assert.deepEqual(
      band,
      {
        above_input_tokens: above,
        input_cost: input,
        output_cost: output,
        ...(cached === undefined ? {} : { cached_input_cost: cached }),
        ...(write === undefined ? {} : { cache_write_cost: write }),
        ...(write1h === undefined ? {} : { cache_write_1h_cost: write1h }),
      },
      id,
    );
  }
  // Only figures checked against a provider's page or LiteLLM carry a band.
  assert.deepEqual(models.filter((m) => m.long_context !== undefined).map((m) => m.id).sort(), Object.keys(expected).sort());
});
