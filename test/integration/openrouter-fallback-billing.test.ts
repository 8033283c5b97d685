// OpenRouter bills a call with model fallbacks (`models: [...]`) at the rates of the model that
// answered, which its answer's `model` names. The proxy charges the key the same: the usage record is
// costed at that model's catalog rates and names it as the upstream model, streamed or not. Other
// providers, whose answers name dated snapshots of the model asked for, are billed as routed.
// @see https://openrouter.ai/docs/guides/routing/model-fallbacks (Pricing)
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, fakeProviderEnv, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, createKey, settledSpend } from '../support/key-support.js';
import type { UsageRecord } from '../../src/usage/usage-recorder.js';

const MINI = 'openrouter/openai/gpt-4o-mini';
const OPUS = 'anthropic/claude-opus-4.7';
const QUESTION = [{ role: 'user', content: 'Hello' }];
const USAGE = { prompt_tokens: 1000, completion_tokens: 1000, total_tokens: 2000 };
// 1,000 tokens in and out: GPT-4o mini $0.00015 + $0.0006; Claude Opus 4.7 $0.005 + $0.025; GPT-4o $0.0025 + $0.01.
const MINI_COST = 0.00075;
const OPUS_COST = 0.03;

describe('a call OpenRouter answers with a fallback model is billed at that model', () => {
  let openrouter: FakeOpenAi;
  let openai: FakeOpenAi;
  let gateway: Gateway;
  /** The model the fakes' next answers name (undefined: the one asked for). */
  let answering: string | undefined;

  before(async () => {
    const answerModel = () => answering;
    const usage = () => USAGE;
    [openrouter, openai] = await Promise.all([
      startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['openai/gpt-4o-mini', OPUS, 'openrouter/auto'], answerModel, usage }),
      startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4o-mini', 'gpt-4o'], answerModel, usage }),
    ]);
    gateway = await startGateway({ ...fakeProviderEnv({ openrouter, openai }), LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  });
  beforeEach(() => {
    answering = undefined;
    openrouter.reset();
    openai.reset();
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([openrouter?.close(), openai?.close()]);
  });

  /** One call with a new key (a budget, so it is held and charged); its usage record and the key's spend once settled. */
  async function call(sent: Record<string, unknown>, expected: number): Promise<{ record: UsageRecord; spend: number }> {
    const { id, key } = await createKey(gateway.url, { name: `fallback-billing-${Math.random()}`, max_budget: 1 });
    const response = await callJson(gateway.url, 'POST', '/v1/chat/completions', key, { max_tokens: 1000, messages: QUESTION, ...sent });
    assert.equal(response.status, 200, response.text.slice(0, 300));
    if (sent.stream === true) assert.match(response.text, /data: \[DONE\]/);
    await eventually(() => gateway.usage.recent().some((record) => record.keyId === id), 5000);
    const record = gateway.usage.recent().find((entry) => entry.keyId === id) as UsageRecord;
    return { record, spend: await settledSpend(gateway.url, id, expected, 1e-9) };
  }

  function assertBilled(billed: { record: UsageRecord; spend: number }, cost: number, upstreamModel: string): void {
    const { record, spend } = billed;
    assert.ok(Math.abs((record.cost ?? -1) - cost) < 1e-12, `recorded ${record.cost}, expected ${cost}`);
    assert.ok(Math.abs(spend - cost) < 1e-12, `key spend ${spend}, expected ${cost}`);
    assert.equal(record.upstreamModel, upstreamModel);
  }

  for (const stream of [false, true]) {
    const kind = stream ? 'streamed' : 'not streamed';

    test(`an answer from a dearer fallback is billed at its rates and names it (${kind})`, async () => {
      answering = OPUS;
      const billed = await call({ model: MINI, models: [OPUS], stream }, OPUS_COST);
      assertBilled(billed, OPUS_COST, OPUS);
      // The client's model stays the record's `model`; OpenRouter got the list as sent.
      assert.equal(billed.record.model, MINI);
      assert.deepEqual(openrouter.requests[0]?.body?.models, [OPUS]);
    });

    test(`an answer from the requested model is billed at its rates (${kind})`, async () => {
      answering = 'openai/gpt-4o-mini';
      assertBilled(await call({ model: MINI, models: [OPUS], stream }, MINI_COST), MINI_COST, 'openai/gpt-4o-mini');
    });

    test(`a model OpenRouter picked (the Auto Router, a preset) is billed at its rates and named (${kind})`, async () => {
      answering = OPUS;
      assertBilled(await call({ model: 'openrouter/openrouter/auto', stream }, OPUS_COST), OPUS_COST, OPUS);
      assertBilled(await call({ model: MINI, preset: 'email-copywriter', stream }, OPUS_COST), OPUS_COST, OPUS);
    });

    test(`an answer naming a model the catalog does not price is billed at the requested model's rates (${kind})`, async () => {
      answering = 'example/unpriced-model';
      assertBilled(await call({ model: MINI, models: ['example/unpriced-model'], stream }, MINI_COST), MINI_COST, 'openai/gpt-4o-mini');
    });

    test(`without a fallback list, the answer's model is not read for billing (${kind})`, async () => {
      answering = OPUS;
      assertBilled(await call({ model: MINI, stream }, MINI_COST), MINI_COST, 'openai/gpt-4o-mini');
    });

    test(`another provider's answer naming another model is billed as routed, even with a models field (${kind})`, async () => {
      answering = 'gpt-4o';
      assertBilled(await call({ model: 'gpt-4o-mini', models: ['gpt-4o'], stream }, MINI_COST), MINI_COST, 'gpt-4o-mini');
      assert.equal(openai.requests.length, 1);
    });
  }
});
