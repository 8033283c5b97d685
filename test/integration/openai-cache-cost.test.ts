// OpenAI prompt-cache writes over HTTP: GPT-5.6 and later models bill the tokens a call writes to the
// cache at 1.25x input ("For GPT-5.6 models and later model families, cache writes cost 1.25× the
// uncached input token rate", developers.openai.com/api/docs/guides/prompt-caching), reported as
// `prompt_tokens_details.cache_write_tokens` beside `cached_tokens`. Each input token takes one rate
// ("input tokens use the uncached-input, cached-input, or cache-write rate"), so the rest of the prompt
// is plain input. The answer passes through unchanged; its usage record and the key's budget carry the
// write rate, plain and streamed, and at the long-context band's rates past 272K.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, chat, createKey, settledSpend } from '../support/key-support.js';

/** gpt-6.2-sol per 1K tokens (its model page: $2 input, $0.10 cached, $2.50 cache writes, $10 output per 1M). */
const SOL = { input: 0.002, read: 0.0001, write: 0.0025, output: 0.01 };
/** gpt-5.6-sol's band above 272K prompt tokens: 2x input, cached and write rates, 1.5x output. */
const BAND = { input: 0.01, read: 0.001, write: 0.0125, output: 0.045 };

const USAGE: Record<string, Record<string, unknown>> = {
  'gpt-6.2-sol': { prompt_tokens: 10_000, completion_tokens: 50, total_tokens: 10_050, prompt_tokens_details: { cached_tokens: 2000, cache_write_tokens: 6000 } },
  'gpt-5.6-sol': { prompt_tokens: 300_000, completion_tokens: 20, total_tokens: 300_020, prompt_tokens_details: { cached_tokens: 100_000, cache_write_tokens: 150_000 } },
};
const EXPECTED: Record<string, number> = {
  'gpt-6.2-sol': (2000 * SOL.input + 2000 * SOL.read + 6000 * SOL.write + 50 * SOL.output) / 1000,
  'gpt-5.6-sol': (50_000 * BAND.input + 100_000 * BAND.read + 150_000 * BAND.write + 20 * BAND.output) / 1000,
};
/** What the gpt-6.2-sol call was billed when its writes counted as plain input. */
const AS_INPUT = (8000 * SOL.input + 2000 * SOL.read + 50 * SOL.output) / 1000;

/** The usage of the stream's last `data:` frame that carries one. */
function streamedUsage(text: string): unknown {
  let usage: unknown;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const frame = JSON.parse(line.slice(6)) as { usage?: unknown };
    if (frame.usage !== undefined && frame.usage !== null) usage = frame.usage;
  }
  return usage;
}

describe('OpenAI prompt-cache writes in usage records and budgets', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: Object.keys(USAGE), usage: (body) => USAGE[String(body.model)] });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  for (const model of Object.keys(USAGE)) {
    test(`${model}: plain and streamed, each call costs the write rate and the key is charged as much`, async () => {
      const expected = EXPECTED[model] as number;
      const { id, key } = await createKey(gateway.url, { name: `writer-${model}`, max_budget: 100 });
      const plain = await chat(gateway.url, key, { model, max_tokens: 100 });
      assert.equal(plain.status, 200, plain.text);
      assert.deepEqual(plain.body.usage, USAGE[model], 'the usage reaches the client as OpenAI sent it');
      const stream = await chat(gateway.url, key, { model, max_tokens: 100, stream: true, stream_options: { include_usage: true } });
      assert.equal(stream.status, 200, stream.text);
      assert.deepEqual(streamedUsage(stream.text), USAGE[model]);

      const ours = () => gateway.usage.recent().filter((record) => record.keyId === id);
      await eventually(() => ours().length >= 2);
      for (const record of ours()) {
        assert.equal(record.estimated, false, `${record.stream ? 'streamed' : 'plain'}: not estimated`);
        assert.ok(Math.abs((record.cost ?? 0) - expected) < 1e-12, `${record.stream ? 'streamed' : 'plain'}: ${record.cost} ≠ ${expected}`);
      }
      const spend = await settledSpend(gateway.url, id, 2 * expected, 1e-9);
      assert.ok(Math.abs(spend - 2 * expected) < 1e-9, `spend ${spend} ≠ ${2 * expected}`);
    });
  }

  test('the write price is what tells the two apart, and /api/models shows it', async () => {
    assert.ok(EXPECTED['gpt-6.2-sol'] as number > AS_INPUT * 1.15, 'the fixture must tell writes from plain input');
    const { status, body } = await callJson(gateway.url, 'GET', '/api/models/gpt-6.2-sol', MASTER_KEY);
    assert.equal(status, 200);
    const model = body.model as Record<string, unknown>;
    assert.deepEqual([model.input_cost, model.cached_input_cost, model.cache_write_cost], [SOL.input, SOL.read, SOL.write]);
  });
});
