// Property test of the usage check before billing (RELIABILITY 4b#13): whatever usage a provider
// reports (missing, null, negative, fractional, huge, strings, cache counts past the prompt), what is
// billed has counts that are whole, non-negative and within the call's limits, reads and writes
// within the prompt, and a cost at catalog prices that is never negative or NaN.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { callCost } from '../catalog/call-cost.js';
import type { CatalogEntry } from '../catalog/catalog-types.js';
import type { ChatCompletionRequest, CompletionUsage } from '../openai/types.js';
import { field, shaped, tokenCount } from '../../test/providers/wire-arbitraries.js';
import { checkUsage } from './usage-check.js';

const count = fc.oneof({ weight: 4, arbitrary: tokenCount }, { weight: 1, arbitrary: fc.constantFrom<unknown>('12', null, true, -0.5) });
const reported = fc.option(
  shaped({
    prompt_tokens: field(count),
    completion_tokens: field(count),
    total_tokens: field(count),
    prompt_tokens_details: field(shaped({ cached_tokens: field(count), cache_write_tokens: field(count), cache_write_1h_tokens: field(count) })),
  }),
  { nil: undefined, freq: 10 },
);

const entry: CatalogEntry = {
  id: 'm',
  name: 'M',
  provider: 'anthropic',
  context_length: 200_000,
  max_output_tokens: 8_192,
  input_cost: 3,
  output_cost: 15,
  cached_input_cost: 0.3,
  cache_write_cost: 3.75,
  cache_write_1h_cost: 6,
  supports_chat: true,
  supports_streaming: true,
} as CatalogEntry;

function wholeCount(value: unknown, path: string): number {
  assert.ok(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0, `${path} billed as ${String(value)}`);
  return value as number;
}

describe('checkUsage, property-based', () => {
  it('any reported usage → billed counts that are whole, within the limits and the prompt, at a cost that is a number ≥ 0', () => {
    fc.assert(
      fc.property(reported, fc.constantFrom<number | undefined>(undefined, 100), fc.constantFrom(1, 3), fc.boolean(), (usage, maxTokens, n, known) => {
        const chat: ChatCompletionRequest = { model: 'm', messages: [{ role: 'user', content: 'Hello there, how are you?' }], n, ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }) };
        const catalogEntry = known ? entry : undefined;
        const checked = checkUsage(usage as CompletionUsage | undefined, chat, catalogEntry, (estimate: number) => estimate, 7);
        const billed = (checked?.usage ?? usage) as CompletionUsage;
        const prompt = wholeCount(billed.prompt_tokens, 'prompt_tokens');
        const completion = wholeCount(billed.completion_tokens, 'completion_tokens');
        if (known) assert.ok(prompt <= 200_000 * 1.25 + 1_000, `prompt ${prompt} past the window`);
        if (maxTokens !== undefined) assert.ok(completion <= maxTokens * n + 64, `completion ${completion} past max_tokens × n`);
        const details = billed.prompt_tokens_details;
        const cached = details?.cached_tokens ?? 0;
        const writes = details?.cache_write_tokens ?? 0;
        const hour = details?.cache_write_1h_tokens ?? 0;
        wholeCount(cached, 'cached_tokens');
        wholeCount(writes, 'cache_write_tokens');
        if (writes > 0) assert.ok(wholeCount(hour, 'cache_write_1h_tokens') <= writes, '1-hour writes past the writes');
        assert.ok(cached + writes <= prompt, `cached ${cached} + written ${writes} past prompt ${prompt}`);
        const cost = callCost(entry, prompt, completion, cached, writes, hour);
        assert.ok(cost !== undefined && Number.isFinite(cost) && cost >= 0, `cost ${String(cost)}`);
      }),
      { numRuns: 800, seed: 20261128 },
    );
  });
});
