import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CatalogEntry } from '../catalog/catalog-types.js';
import type { ChatCompletionRequest, CompletionUsage } from '../openai/types.js';
import { checkUsage, estimateAnswerTokens, estimatePromptTokens, shouldWarnUsage } from './usage-check.js';

const chat = (extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'Say hello to the whole wide world, please.' }],
  ...extra,
});
const entry = { context_length: 128_000, max_output_tokens: 16_384 } as CatalogEntry;
const usage = (prompt: unknown, completion: unknown, cached?: number): CompletionUsage =>
  ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: 0, ...(cached === undefined ? {} : { prompt_tokens_details: { cached_tokens: cached } }) }) as CompletionUsage;

/** The completion estimate the caller would give: a fixed 7, counting its calls. */
function completion() {
  const calls = { count: 0 };
  return { calls, estimate: (source: number) => (calls.count++, source) };
}

describe('checkUsage: a provider report is billed only when it is plausible (RELIABILITY 4b#13)', () => {
  test('a plausible report stands, and nothing is estimated or allocated for it', () => {
    const { calls, estimate } = completion();
    assert.equal(checkUsage(usage(12, 30, 4), chat({ max_tokens: 50 }), entry, estimate, 7), undefined);
    assert.equal(checkUsage(usage(12, 0), chat(), undefined, estimate, 7), undefined);
    // n choices of max_tokens each.
    assert.equal(checkUsage(usage(12, 300), chat({ max_tokens: 100, n: 3 }), entry, estimate, 7), undefined);
    assert.equal(calls.count, 0);
  });

  test('no report: both counts are the local estimate', () => {
    const { calls, estimate } = completion();
    const checked = checkUsage(undefined, chat(), entry, estimate, 7);
    assert.deepEqual(checked?.usage, { prompt_tokens: estimatePromptTokens(chat()), completion_tokens: 7, total_tokens: estimatePromptTokens(chat()) + 7 });
    assert.equal(checked?.estimated, true);
    assert.equal(checked?.problem, 'no usage reported');
    assert.equal(calls.count, 1);
  });

  test('negative, NaN, infinite or non-number counts are estimated: a budget is never credited', () => {
    for (const [prompt, output] of [[-500, -500], [Number.NaN, 3], [5, Number.POSITIVE_INFINITY], ['5', null], [undefined, 2]] as const) {
      const checked = checkUsage(usage(prompt, output), chat({ max_tokens: 50 }), entry, (source: number) => source, 7);
      assert.ok(checked !== undefined, `${String(prompt)}/${String(output)} stood`);
      assert.ok(checked.usage.prompt_tokens > 0 && checked.usage.completion_tokens >= 0);
      assert.equal(checked.usage.total_tokens, checked.usage.prompt_tokens + checked.usage.completion_tokens);
    }
    const negative = checkUsage(usage(-500, -500), chat(), entry, (source: number) => source, 7);
    assert.match(negative?.problem ?? '', /prompt_tokens -500, completion_tokens -500/);
  });

  test('a fractional count is no count: estimated, never stored as 3.5 tokens (PostgreSQL integer columns reject it and the row is dropped)', () => {
    const checked = checkUsage(usage(3.5, 3.5, 1.5), chat({ max_tokens: 50 }), entry, (source: number) => source, 7);
    assert.ok(checked !== undefined, 'a fractional report stood as reported');
    assert.deepEqual(checked.usage, { prompt_tokens: estimatePromptTokens(chat()), completion_tokens: 7, total_tokens: estimatePromptTokens(chat()) + 7 });
    assert.match(checked.problem, /prompt_tokens 3\.5, completion_tokens 3\.5/);
    // Only the cached part fractional: dropped like any cached count that is no count.
    const cached = checkUsage(usage(40, 5, 2.5), chat(), entry, (source: number) => source, 9);
    assert.deepEqual(cached?.usage, { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45 });
  });

  test('more output than max_tokens × n could give is estimated; the prompt and its cached part stay', () => {
    const checked = checkUsage(usage(40, 1_000_000, 8), chat({ max_tokens: 20 }), entry, (source: number) => source, 9);
    assert.deepEqual(checked?.usage, { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49, prompt_tokens_details: { cached_tokens: 8 } });
    assert.match(checked?.problem ?? '', /completion_tokens 1000000 over max_tokens × n/);
    // Without max_tokens, the catalog's output limit bounds it; without either, an absolute one.
    assert.ok(checkUsage(usage(40, 20_000), chat(), entry, (source: number) => source, 9) !== undefined);
    assert.equal(checkUsage(usage(40, 20_000), chat(), undefined, (source: number) => source, 9), undefined);
    assert.ok(checkUsage(usage(40, 1e15), chat(), undefined, (source: number) => source, 9) !== undefined);
  });

  test('a cached count that is no count or exceeds the prompt is dropped: the prompt is billed uncached, never credited', () => {
    for (const cached of [1e12, -1e9, 41, Number.NaN, 'x', { a: 1 }]) {
      const reported = { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45, prompt_tokens_details: { cached_tokens: cached } } as unknown as CompletionUsage;
      const checked = checkUsage(reported, chat(), entry, (source: number) => source, 9);
      assert.deepEqual(checked?.usage, { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45 }, String(cached));
      assert.match(checked?.problem ?? '', /cached_tokens .* not within prompt_tokens 40/);
    }
    assert.equal(checkUsage(usage(40, 5, 40), chat(), entry, (source: number) => source, 9), undefined);
    assert.equal(checkUsage({ prompt_tokens: 40, completion_tokens: 5, total_tokens: 45, prompt_tokens_details: {} }, chat(), entry, (source: number) => source, 9), undefined);
  });

  test('cache writes beyond the prompt (with the reads), or a 1-hour part beyond the writes, are dropped: billed as plain input', () => {
    const details = (writes: unknown, hour?: unknown) => ({ cached_tokens: 10, cache_write_tokens: writes, ...(hour === undefined ? {} : { cache_write_1h_tokens: hour }) });
    // A 1-hour part of '12' (a string, which the comparisons coerced) or 2.5 is no count either: found by usage-check.property.test.ts.
    for (const [writes, hour] of [[31, undefined], [-1, undefined], ['x', undefined], [Number.NaN, undefined], [20, 21], [20, -1], [20, '12'], [20, 2.5]] as const) {
      const reported = { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45, prompt_tokens_details: details(writes, hour) } as unknown as CompletionUsage;
      const checked = checkUsage(reported, chat(), entry, (source: number) => source, 9);
      assert.deepEqual(checked?.usage, { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45, prompt_tokens_details: { cached_tokens: 10 } }, `${writes} ${hour}`);
      assert.match(checked?.problem ?? '', /cache_write_tokens .* not within prompt_tokens 40/);
    }
    for (const [writes, hour] of [[30, undefined], [30, 30], [0, 0], [null, undefined]] as const) {
      const reported = { prompt_tokens: 40, completion_tokens: 5, total_tokens: 45, prompt_tokens_details: details(writes, hour) } as unknown as CompletionUsage;
      assert.equal(checkUsage(reported, chat(), entry, (source: number) => source, 9), undefined, `${writes} ${hour}`);
    }
  });

  // Found by usage-check.property.test.ts: the report stood, and the fraction was billed and stored.
  test('a fractional count is no count: estimated, never billed as the fraction', () => {
    const checked = checkUsage(usage(12.5, 30), chat({ max_tokens: 50 }), entry, (source: number) => source, 7);
    assert.equal(checked?.usage.prompt_tokens, estimatePromptTokens(chat()));
    assert.equal(checked?.usage.completion_tokens, 30);
    assert.match(checked?.problem ?? '', /prompt_tokens 12\.5/);
  });

  test('cache writes that stand keep their rate when another count fails', () => {
    const reported: CompletionUsage = { prompt_tokens: 40, completion_tokens: 1_000_000, total_tokens: 1_000_040, prompt_tokens_details: { cached_tokens: 10, cache_write_tokens: 20, cache_write_1h_tokens: 5 } };
    const checked = checkUsage(reported, chat({ max_tokens: 20 }), entry, (source: number) => source, 9);
    assert.deepEqual(checked?.usage, { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49, prompt_tokens_details: { cached_tokens: 10, cache_write_tokens: 20, cache_write_1h_tokens: 5 } });
  });

  test('web searches a report counts stand when a token count fails: they were run, and are billed per search beside the tokens', () => {
    const reported: CompletionUsage = { prompt_tokens: 40, completion_tokens: 1_000_000, total_tokens: 1_000_040, server_tool_use: { web_search_requests: 3 } };
    const checked = checkUsage(reported, chat({ max_tokens: 20 }), entry, (source: number) => source, 9);
    assert.deepEqual(checked?.usage, { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49, server_tool_use: { web_search_requests: 3 } });
  });

  test("a prompt larger than the model's window (with room for other tokenizers) is estimated, cached tokens with it", () => {
    const checked = checkUsage(usage(1e300, 5, 3), chat(), entry, (source: number) => source, 9);
    assert.equal(checked?.usage.prompt_tokens, estimatePromptTokens(chat()));
    assert.equal(checked?.usage.completion_tokens, 5);
    assert.equal(checked?.usage.prompt_tokens_details, undefined);
    assert.equal(checkUsage(usage(150_000, 5), chat(), entry, (source: number) => source, 9), undefined);
    assert.ok(checkUsage(usage(2e8, 5), chat(), undefined, (source: number) => source, 9) !== undefined);
  });
});

describe('local estimates', () => {
  test("an image counts by OpenAI's tile formula, never by its base64 length", () => {
    const image = `data:image/jpeg;base64,${'A'.repeat(400_000)}`;
    const tokens = estimatePromptTokens(chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: image } }] }] }));
    assert.ok(tokens > 765 && tokens < 800, String(tokens));
  });

  test('answers: chat content, tool calls and refusals of every choice; legacy text; Anthropic blocks; bytes otherwise', () => {
    const chatAnswer = { choices: [{ message: { content: 'x'.repeat(40) } }, { message: { content: null, refusal: 'y'.repeat(8), tool_calls: [{ function: { name: 'f', arguments: '{}' } }] } }] };
    assert.equal(estimateAnswerTokens(JSON.stringify(chatAnswer)), Math.ceil((40 + 8 + JSON.stringify(chatAnswer.choices[1]?.message.tool_calls).length) / 4));
    assert.equal(estimateAnswerTokens(Buffer.from(JSON.stringify({ choices: [{ text: 'z'.repeat(20) }] }))), 5);
    assert.equal(estimateAnswerTokens(JSON.stringify({ content: [{ type: 'text', text: 'w'.repeat(16) }, { type: 'tool_use', input: { a: 1 } }] })), Math.ceil((16 + 7) / 4));
    assert.equal(estimateAnswerTokens('not json at all'), 4);
  });

  test('an answer nested too deep for JSON.stringify is estimated, not thrown (the usage record is written after it)', () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const answer = `{"choices":[{"message":{"content":"${'x'.repeat(8)}","tool_calls":${deep},"function_call":${deep}}}],"content":[{"type":"tool_use","input":${deep}}]}`;
    assert.equal(estimateAnswerTokens(answer), 2);
  });

  test('a provider with usage problems is logged at most once a minute', () => {
    assert.equal(shouldWarnUsage('flaky', 1_000), true);
    assert.equal(shouldWarnUsage('flaky', 30_000), false);
    assert.equal(shouldWarnUsage('other', 30_000), true);
    assert.equal(shouldWarnUsage('flaky', 61_001), true);
  });
});
