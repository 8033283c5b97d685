import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openRouterUsage } from '../../test/support/openrouter-usage.js';
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

// OpenRouter's chat usage (test/support/openrouter-usage.ts), from a call that searched twice.
const OPENROUTER_USAGE = openRouterUsage(2);

test("OpenRouter's server_tool_use_details.web_search_requests is read as the searches billed (its tool-call counts are not)", () => {
  const read = readReportedUsage(OPENROUTER_USAGE);
  assert.deepEqual(read?.server_tool_use, { web_search_requests: 2 });
  assert.equal(read?.prompt_tokens, 1210);
  assert.equal((OPENROUTER_USAGE as Record<string, unknown>).server_tool_use, undefined, 'the report as sent is not changed');
  // No search run: nothing to bill, and the report stands as it is.
  const none = { ...OPENROUTER_USAGE, server_tool_use_details: { tool_calls_requested: 1, tool_calls_executed: 1, web_search_requests: 0 } };
  assert.equal(readReportedUsage(none), none);
  const nulls = { ...OPENROUTER_USAGE, server_tool_use_details: null };
  assert.equal(readReportedUsage(nulls), nulls);
});

test('both fields count the same searches: the larger is billed, not their sum', () => {
  const both = { ...OPENROUTER_USAGE, server_tool_use: { web_search_requests: 1 } };
  assert.deepEqual(readReportedUsage(both)?.server_tool_use, { web_search_requests: 2 });
  const litellm = { ...OPENROUTER_USAGE, server_tool_use: { web_search_requests: 4 } };
  assert.equal(readReportedUsage(litellm), litellm);
});
