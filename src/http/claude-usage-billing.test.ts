// Claude's usage fields that change what a call is billed: compaction iterations (left out of the
// top-level counts), fast mode and US-only inference. Recorded payloads, as Anthropic's docs show them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../logging/logger.js';
import type { BudgetLedger } from '../rate-limit/budget-ledger.js';
import { ChatAdmission } from '../rate-limit/chat-admission.js';
import type { RateLimiter } from '../rate-limit/memory-rate-limiter.js';
import { messagesProtocol } from '../anthropic-api/native-messages.js';
import { ModelCatalog } from '../catalog/model-catalog.js';
import type { ChatCompletionRequest, CompletionUsage } from '../openai/types.js';
import { convertAnthropicUsage } from '../providers/anthropic/convert-response.js';
import type { Route } from '../routing/model-router.js';
import type { StreamStats } from '../routing/chat-call-types.js';
import { checkUsage } from '../usage/usage-check.js';
import { usageCost } from './usage-record.js';

const catalog = ModelCatalog.builtin();
const opus = catalog.entries.find((entry) => entry.id === 'claude-opus-4-8');
const AT = Date.parse('2026-11-29T00:00:00Z');
const near = (actual: number | undefined, expected: number): void => {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${String(actual)} != ${expected}`);
};

/** The compaction docs' example answer: the top-level counts are the message iteration's only. */
const COMPACTED = {
  input_tokens: 23_000,
  output_tokens: 1_000,
  iterations: [
    { type: 'compaction', input_tokens: 180_000, output_tokens: 3_500, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    { type: 'message', input_tokens: 23_000, output_tokens: 1_000, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
  ],
};

describe('Claude compaction iterations', () => {
  test('a compaction entry is kept apart from the top-level counts, with its cache reads and writes', () => {
    const usage = convertAnthropicUsage({
      ...COMPACTED,
      iterations: [
        { type: 'compaction', input_tokens: 170_000, output_tokens: 3_500, cache_read_input_tokens: 10_000, cache_creation_input_tokens: 0 },
        { type: 'message', input_tokens: 23_000, output_tokens: 1_000 },
        { type: 'compaction', input_tokens: 1_000, output_tokens: 500, cache_creation_input_tokens: 200, cache_creation: { ephemeral_1h_input_tokens: 200 } },
      ],
    });
    assert.equal(usage.prompt_tokens, 23_000);
    assert.equal(usage.completion_tokens, 1_000);
    assert.deepEqual(usage.compaction, { prompt_tokens: 181_200, completion_tokens: 4_000, cached_tokens: 10_000, cache_write_tokens: 200, cache_write_1h_tokens: 200 });
  });

  test('without a compaction entry there is nothing more to bill', () => {
    assert.equal(convertAnthropicUsage({ input_tokens: 5, output_tokens: 1, iterations: [{ type: 'message', input_tokens: 5, output_tokens: 1 }] }).compaction, undefined);
    assert.equal(convertAnthropicUsage({ input_tokens: 5, output_tokens: 1 }).compaction, undefined);
  });

  test('a whole answer bills its compaction at the model rates, beside the top-level counts', () => {
    const usage = convertAnthropicUsage(COMPACTED);
    // Opus 4.8: $5 / $25 per MTok. (23,000 + 180,000) in, (1,000 + 3,500) out.
    near(usageCost(catalog, opus, usage, AT), (203_000 * 5 + 4_500 * 25) / 1e6);
  });

  test('a stream bills the iterations its last message_delta reports', () => {
    const stats: StreamStats = { usage: undefined, finished: false, contentStarted: false, chunks: 0, model: undefined };
    const protocol = messagesProtocol({}, {}, 'req-1');
    const route = { provider: { name: 'anthropic' }, upstreamModel: 'claude-opus-4-8', entry: opus } as unknown as Route;
    protocol.readEvent({ event: 'message_start', data: JSON.stringify({ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', model: 'claude-opus-4-8', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 23_000, output_tokens: 1 } } }) }, stats, route);
    protocol.readEvent({ event: 'message_delta', data: JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1_000, iterations: COMPACTED.iterations } }) }, stats, route);
    assert.deepEqual(stats.usage?.compaction, { prompt_tokens: 180_000, completion_tokens: 3_500, cached_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 0 });
    near(usageCost(catalog, opus, stats.usage as CompletionUsage, AT), (203_000 * 5 + 4_500 * 25) / 1e6);
  });

  test('a usage whose counts fail the check keeps its compaction', () => {
    const usage = convertAnthropicUsage(COMPACTED);
    const compaction = usage.compaction;
    // Changed in place: the billing fields are not enumerable, so a spread copy would not carry them.
    usage.completion_tokens = -1;
    const checked = checkUsage(usage, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2_000 } as ChatCompletionRequest, opus, () => 7, undefined);
    assert.deepEqual(checked?.usage.compaction, compaction);
  });
});

const entry = (id: string) => catalog.entries.find((candidate) => candidate.id === id);

describe('Claude fast mode and US-only inference', () => {
  test('the answer says how it ran: usage.speed fast and a non-global inference_geo are kept', () => {
    const usage = convertAnthropicUsage({ input_tokens: 10, output_tokens: 2, speed: 'fast', inference_geo: 'us' });
    assert.equal(usage.speed, 'fast');
    assert.equal(usage.inference_geo, 'us');
    const plain = convertAnthropicUsage({ input_tokens: 10, output_tokens: 2, speed: 'standard', inference_geo: 'global' });
    assert.equal(plain.speed, undefined);
    assert.equal(plain.inference_geo, undefined);
  });

  test('fast mode bills every rate at the fast price: Opus 5.5 $8 / $40, a cache hit $0.40 per MTok', () => {
    const usage = convertAnthropicUsage({ input_tokens: 1_000, output_tokens: 100, cache_read_input_tokens: 500, speed: 'fast' });
    near(usageCost(catalog, entry('claude-opus-5-5'), usage, AT), (1_000 * 8 + 100 * 40 + 500 * 0.4) / 1e6);
    // Opus 5 and Opus 4.8: $10 / $50.
    near(usageCost(catalog, entry('claude-opus-5'), usage, AT), (1_000 * 10 + 100 * 50 + 500 * 1) / 1e6);
  });

  test('US-only inference is 1.1x on Claude 4.6 and later, stacked on fast mode; earlier models are billed as they were', () => {
    const us = convertAnthropicUsage({ input_tokens: 1_000, output_tokens: 100, cache_creation_input_tokens: 200, inference_geo: 'us' });
    near(usageCost(catalog, entry('claude-sonnet-4-6'), us, AT), ((1_000 * 3 + 100 * 15 + 200 * 3.75) * 1.1) / 1e6);
    const both = convertAnthropicUsage({ input_tokens: 1_000, output_tokens: 100, inference_geo: 'us', speed: 'fast' });
    near(usageCost(catalog, entry('claude-opus-4-8'), both, AT), ((1_000 * 5 + 100 * 25) * 2 * 1.1) / 1e6);
    near(usageCost(catalog, entry('claude-haiku-4-5-20251001'), us, AT), (1_000 * 1 + 100 * 5 + 200 * 1.25) / 1e6);
    // Opus 4.6 runs a fast request at standard speed and rates.
    near(usageCost(catalog, entry('claude-opus-4-6'), convertAnthropicUsage({ input_tokens: 1_000, output_tokens: 0, speed: 'fast' }), AT), 5_000 / 1e6);
    // A geography the catalog does not price, or an inherited property's name, changes nothing.
    near(usageCost(catalog, entry('claude-opus-4-6'), convertAnthropicUsage({ input_tokens: 1_000, output_tokens: 0, inference_geo: 'constructor' }), AT), 5_000 / 1e6);
  });

  test('the multiplier applies to compaction iterations too, not to web search fees', () => {
    const usage = convertAnthropicUsage({ ...COMPACTED, speed: 'fast', server_tool_use: { web_search_requests: 2 } });
    near(usageCost(catalog, opus, usage, AT), ((203_000 * 5 + 4_500 * 25) * 2) / 1e6 + 0.02);
  });

  test('a usage whose counts fail the check keeps its speed and geography', () => {
    const usage = convertAnthropicUsage({ input_tokens: 10, output_tokens: 2, speed: 'fast', inference_geo: 'us' });
    usage.completion_tokens = -1;
    const checked = checkUsage(usage, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 } as ChatCompletionRequest, opus, () => 7, undefined);
    assert.equal(checked?.usage.speed, 'fast');
    assert.equal(checked?.usage.inference_geo, 'us');
  });
});

describe('the budget hold of a Claude call', () => {
  async function held(model: string, nativeBody: unknown): Promise<number> {
    const holds: number[] = [];
    const admission = new ChatAdmission({
      rateLimiter: {} as RateLimiter,
      ledger: { hold: (_key: string, _id: string, amount: number) => (holds.push(amount), Promise.resolve('local')) } as unknown as BudgetLedger,
      catalog,
      defaultTpm: 0,
      logger: {} as Logger,
    });
    const request = { principal: { keyId: 'k', maxBudget: 100 } } as unknown as FastifyRequest;
    const reply = { header: () => undefined, raw: { once: () => undefined } } as unknown as FastifyReply;
    const route = { provider: { name: 'anthropic', codec: { passthrough: false } }, upstreamModel: model, model, entry: entry(model) } as unknown as Route;
    await admission.reserve(request, reply, { model, messages: [{ role: 'user', content: 'hello there' }], max_tokens: 1_000 }, [route], nativeBody);
    return holds[0] as number;
  }

  test('fast mode doubles it on a model with a fast price; a named geography is held at its multiplier', async () => {
    const global = await held('claude-opus-5-5', { speed: 'standard', inference_geo: 'global' });
    near(await held('claude-opus-5-5', { speed: 'fast', inference_geo: 'global' }), global * 2);
    near(await held('claude-opus-5-5', { speed: 'fast', inference_geo: 'us' }), global * 2.2);
    near(await held('claude-opus-4-6', { speed: 'fast', inference_geo: 'global' }), await held('claude-opus-4-6', { inference_geo: 'global' }));
  });

  test('without inference_geo the workspace default may be US-only: held at 1.1x', async () => {
    near(await held('claude-sonnet-4-6', {}), (await held('claude-sonnet-4-6', { inference_geo: 'global' })) * 1.1);
    near(await held('claude-sonnet-4-6', undefined), (await held('claude-sonnet-4-6', { inference_geo: 'global' })) * 1.1);
    near(await held('claude-haiku-4-5-20251001', {}), await held('claude-haiku-4-5-20251001', { inference_geo: 'global' }));
  });
});

describe('Claude iterations on other models: advisors and server-side fallbacks', () => {
  const ADVISED = {
    input_tokens: 3_000,
    output_tokens: 300,
    iterations: [
      { type: 'message', model: 'claude-sonnet-4-6', input_tokens: 1_000, output_tokens: 100 },
      { type: 'advisor_message', model: 'claude-opus-4-8', input_tokens: 1_000, output_tokens: 1_000, cache_read_input_tokens: 100 },
      { type: 'advisor_message', model: 'claude-opus-4-8', input_tokens: 500, output_tokens: 500 },
      { type: 'message', model: 'claude-sonnet-4-6', input_tokens: 2_000, output_tokens: 200 },
    ],
  };
  const sonnet = entry('claude-sonnet-4-6');
  const entryOf = (model: string) => catalog.get(model);

  test('summed per model and kind, cache reads inside the prompt as CompletionUsage counts them', () => {
    const usage = convertAnthropicUsage(ADVISED);
    assert.deepEqual(usage.model_iterations, [
      { model: 'claude-sonnet-4-6', counted: true, prompt_tokens: 3_000, completion_tokens: 300, cached_tokens: 0, cache_write_tokens: 0, cache_write_1h_tokens: 0 },
      { model: 'claude-opus-4-8', counted: false, prompt_tokens: 1_600, completion_tokens: 1_500, cached_tokens: 100, cache_write_tokens: 0, cache_write_1h_tokens: 0 },
    ]);
    assert.equal(convertAnthropicUsage({ input_tokens: 5, output_tokens: 1, iterations: [{ type: 'message', input_tokens: 5, output_tokens: 1 }] }).model_iterations, undefined);
  });

  test("an advisor at its model's rates (Opus 4.8's cache read at $0.50); one the catalog does not price at the executor's", () => {
    const usage = convertAnthropicUsage(ADVISED);
    near(usageCost(catalog, sonnet, usage, AT, entryOf), (3_000 * 3 + 300 * 15 + 1_500 * 5 + 100 * 0.5 + 1_500 * 25) / 1e6);
    const unknown = convertAnthropicUsage({ ...ADVISED, iterations: [{ type: 'advisor_message', model: 'claude-mystery-9', input_tokens: 1_000, output_tokens: 1_000 }] });
    near(usageCost(catalog, sonnet, unknown, AT, entryOf), (4_000 * 3 + 1_300 * 15) / 1e6);
  });

  test("the MCP connector's loop: its message iterations are inside the top-level counts, billed once at the model's rates", () => {
    // Two samplings around one mcp_tool_use / mcp_tool_result; the second reads the first's context again.
    const usage = convertAnthropicUsage({
      input_tokens: 2_300,
      output_tokens: 150,
      iterations: [
        { type: 'message', model: 'claude-sonnet-4-6', input_tokens: 1_000, output_tokens: 50 },
        { type: 'message', model: 'claude-sonnet-4-6', input_tokens: 1_300, output_tokens: 100 },
      ],
    });
    near(usageCost(catalog, sonnet, usage, AT, entryOf), (2_300 * 3 + 150 * 15) / 1e6);
  });

  test('fast mode is the executor’s: an advisor is billed at standard speed, US-only inference applies to both', () => {
    const usage = convertAnthropicUsage({ ...ADVISED, speed: 'fast', inference_geo: 'us', iterations: [{ type: 'advisor_message', model: 'claude-opus-4-8', input_tokens: 1_000, output_tokens: 1_000 }] });
    const opus48 = entry('claude-opus-4-8');
    near(usageCost(catalog, opus48, usage, AT, entryOf), ((3_000 * 5 + 300 * 25) * 2 * 1.1 + (1_000 * 5 + 1_000 * 25) * 1.1) / 1e6);
  });
});
