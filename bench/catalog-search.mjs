#!/usr/bin/env node
// Model search benchmark: server-side time of one GET /api/models/search over a 5,000-model list.
//
//   npx tsc -p tsconfig.json && node bench/catalog-search.mjs [--models 5000] [--searches 10000] [--seed 1]
//
// Builds a synthetic list of Model views (12 providers, names, aliases, capabilities, costs and
// context windows, ~1 in 9 with unknown figures like a discovered model), compiles it once with
// compileModelIndex (what ModelDirectory does when the list changes; timed), then times `searchModels`
// (query-string parsing + search, exactly what the route runs before serialising) for a mix of
// queries: name searches, the USAGE.md advanced search, filters, sorts and pages. Each search is
// timed alone with process.hrtime.bigint(); the median and p99 are printed in microseconds.
// Serialising the answer is not included (it is Fastify's JSON.stringify of the returned page).

import { parseArgs } from 'node:util';
import { compileModelIndex, searchModels } from '../dist/src/catalog/model-search.js';
import { createModelView } from '../dist/src/catalog/model-view.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: '5000' },
    searches: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
  },
});
const MODEL_COUNT = Number(values.models);
const SEARCHES = Number(values.searches);

// A small deterministic PRNG (mulberry32), so runs are comparable.
let state = Number(values.seed) >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];

const PROVIDERS = ['openai', 'anthropic', 'gemini', 'mistral', 'groq', 'deepseek', 'together', 'openrouter', 'xai', 'fireworks', 'ollama', 'azure'];
const FAMILIES = ['gpt', 'claude', 'gemini', 'mistral', 'llama', 'qwen', 'deepseek', 'grok', 'phi', 'gemma', 'command', 'jamba'];
const SIZES = ['nano', 'mini', 'small', 'medium', 'large', 'pro', 'ultra', 'turbo', 'flash', 'haiku', 'sonnet', 'opus'];
const CAPABILITY_SETS = [
  ['chat', 'streaming'],
  ['chat', 'streaming', 'function_calling'],
  ['chat', 'streaming', 'vision', 'function_calling', 'json_mode'],
  ['chat', 'streaming', 'vision', 'function_calling', 'json_mode', 'structured_outputs', 'reasoning', 'prompt_caching'],
  ['embeddings'],
];
const CONTEXTS = [4096, 8192, 16_384, 32_768, 128_000, 200_000, 1_000_000, 2_000_000];

function syntheticModels(count) {
  const views = [];
  for (let i = 0; i < count; i++) {
    const family = pick(FAMILIES);
    const size = pick(SIZES);
    const id = `${family}-${(1 + (i % 7)) / 2}-${size}-${i}`;
    const provider = { name: PROVIDERS[i % PROVIDERS.length] };
    if (i % 9 === 0) {
      // Discovered only: what the provider reported and nulls elsewhere.
      views.push(createModelView({ id, provider, entry: undefined, discovered: { id, contextLength: random() < 0.5 ? pick(CONTEXTS) : undefined } }, false));
      continue;
    }
    const capabilities = pick(CAPABILITY_SETS);
    const chat = capabilities.includes('chat');
    const input = Math.round(random() * 15_000) / 1e6;
    const entry = {
      id,
      name: `${family.toUpperCase()} ${size} ${i}`,
      provider: 'openai',
      context_length: pick(CONTEXTS),
      max_output_tokens: pick([4096, 8192, 16_384, 65_536]),
      input_cost: i % 31 === 0 ? null : input,
      output_cost: i % 31 === 0 ? null : chat ? input * 4 : 0,
      cached_input_cost: input / 10,
      supports_chat: chat,
      supports_streaming: chat,
      capabilities,
      modalities: { input: ['text'], output: chat ? ['text'] : [] },
      aliases: i % 3 === 0 ? [`${id}-latest`, `${id}-2026-01-01`] : undefined,
      deprecated: i % 17 === 0,
      source: { url: `https://example.test/models/${id}`, date: '2026-01-01' },
    };
    const view = createModelView({ id, provider, entry, discovered: undefined }, false);
    view.aliases = entry.aliases ?? [];
    views.push(view);
  }
  return views;
}

/** Query strings as Fastify hands them to the route (every value a string). */
const QUERIES = [
  { q: 'gpt-4' },
  { q: 'claude', provider: 'anthropic', supports_chat: 'True', min_context: '100000' },
  { q: 'sonnet' },
  { q: 'LLAMA', limit: '20' },
  { q: 'latest' },
  { q: 'no-such-model-anywhere' },
  { provider: 'openai' },
  { provider: 'groq', sort: 'input_cost', limit: '10' },
  { supports_chat: 'true', min_context: '128000', sort: 'cost', limit: '1' },
  { capability: 'vision,function_calling', supports_chat: '1' },
  { capability: 'reasoning', sort: '-context_length', limit: '25', offset: '50' },
  { max_input_cost: '0.001', sort: 'input_cost', limit: '50' },
  { sort: 'name', limit: '100', offset: '1000' },
  { supports_chat: 'False' },
  { deprecated: 'false', supports_streaming: 'true', min_context: '32768', max_input_cost: '0.005', sort: '-cost', limit: '20' },
  { q: 'gemini', capability: 'vision', sort: 'output_cost' },
  { q: 'mini', provider: 'mistral', limit: '5' },
  {},
];

const views = syntheticModels(MODEL_COUNT);
const compileStarted = process.hrtime.bigint();
const index = compileModelIndex(views);
const compileMs = Number(process.hrtime.bigint() - compileStarted) / 1e6;

// Warm-up: JIT, and the sorted orders the index builds on first use of each sort field.
const warmStarted = process.hrtime.bigint();
for (let i = 0; i < 1000; i++) searchModels(index, QUERIES[i % QUERIES.length]);
const warmMs = Number(process.hrtime.bigint() - warmStarted) / 1e6;

const samples = new Float64Array(SEARCHES);
const perQuery = QUERIES.map(() => []);
let matched = 0;
for (let i = 0; i < SEARCHES; i++) {
  const which = Math.floor(random() * QUERIES.length);
  const query = QUERIES[which];
  const started = process.hrtime.bigint();
  const result = searchModels(index, query);
  const micros = Number(process.hrtime.bigint() - started) / 1e3;
  samples[i] = micros;
  perQuery[which].push(micros);
  matched += result.count;
}

const sorted = Float64Array.from(samples).sort();
const quantile = (values, q) => values[Math.min(values.length - 1, Math.floor(q * values.length))];
const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
const fmt = (value) => value.toFixed(1).padStart(8);

console.log(`catalog search: ${MODEL_COUNT} models, ${SEARCHES} searches over ${QUERIES.length} query shapes (node ${process.version})`);
console.log(`  compile index (once per list change): ${compileMs.toFixed(1)} ms; warm-up 1000 searches (incl. building 6 sorted orders): ${warmMs.toFixed(1)} ms`);
console.log(`  per search (parse + search), microseconds:`);
console.log(`    median ${fmt(quantile(sorted, 0.5))}   p99 ${fmt(quantile(sorted, 0.99))}   mean ${fmt(mean)}   max ${fmt(sorted[sorted.length - 1])}`);
console.log('  per query shape (median / p99 us, matches):');
QUERIES.forEach((query, which) => {
  const values = Float64Array.from(perQuery[which]).sort();
  if (values.length === 0) return;
  const count = searchModels(index, query).count;
  console.log(`    ${fmt(quantile(values, 0.5))} ${fmt(quantile(values, 0.99))} ${String(count).padStart(6)}  ${new URLSearchParams(query).toString() || '(no filter)'}`);
});
console.log(`  (checksum: ${matched} matches in total)`);
