import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readReportedUsage } from './reported-usage.js';

test("DeepSeek's prompt_cache_hit_tokens is read as the cached prompt tokens", () => {
  const deepseek = { prompt_tokens: 1000, completion_tokens: 20, total_tokens: 1020, prompt_cache_hit_tokens: 896, prompt_cache_miss_tokens: 104, completion_tokens_details: { reasoning_tokens: 0 } };
  assert.deepEqual(readReportedUsage(deepseek)?.prompt_tokens_details, { cached_tokens: 896 });
  assert.equal((deepseek as Record<string, unknown>).prompt_tokens_details, undefined, 'the report as sent is not changed');
});

test("OpenAI's own field wins; a report without the field is returned as it is", () => {
  const both = { prompt_tokens: 100, completion_tokens: 1, prompt_cache_hit_tokens: 64, prompt_tokens_details: { cached_tokens: 32, audio_tokens: 0 } };
  assert.equal(readReportedUsage(both), both);
  const plain = { prompt_tokens: 100, completion_tokens: 1 };
  assert.equal(readReportedUsage(plain), plain);
  const details = { prompt_tokens: 100, completion_tokens: 1, prompt_cache_hit_tokens: 50, prompt_tokens_details: { audio_tokens: 3 } };
  assert.deepEqual(readReportedUsage(details)?.prompt_tokens_details, { audio_tokens: 3, cached_tokens: 50 });
});

test('no token counts, no usage', () => {
  assert.equal(readReportedUsage({ prompt_cache_hit_tokens: 5 }), undefined);
  assert.equal(readReportedUsage(null), undefined);
});

test("xAI's reasoning_tokens, which it counts beside completion_tokens (its total says so), are billed as completion", () => {
  // xAI's own example: 32 + 9 + 94 = 135.
  const xai = { prompt_tokens: 32, completion_tokens: 9, total_tokens: 135, prompt_tokens_details: { text_tokens: 32, cached_tokens: 6 }, completion_tokens_details: { reasoning_tokens: 94 } };
  const read = readReportedUsage(xai);
  assert.equal(read?.completion_tokens, 103);
  assert.equal(read?.total_tokens, 135);
  assert.deepEqual(read?.prompt_tokens_details, { text_tokens: 32, cached_tokens: 6 });
  assert.equal(xai.completion_tokens, 9, 'the report as sent is not changed');
});

test("OpenAI's reasoning_tokens are inside completion_tokens: the report stands as it is", () => {
  const openai = { prompt_tokens: 32, completion_tokens: 103, total_tokens: 135, completion_tokens_details: { reasoning_tokens: 94 } };
  assert.equal(readReportedUsage(openai), openai);
  const noTotal = { prompt_tokens: 32, completion_tokens: 9, completion_tokens_details: { reasoning_tokens: 94 } };
  assert.equal(readReportedUsage(noTotal), noTotal);
});
