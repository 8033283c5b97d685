// A `provider/model` request is described, limited and billed by figures that belong to that
// provider: the operator's, then the provider's own list, never another provider's catalog entry
// that happens to share the model's name.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, eventually, fakeProviderEnv, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { configFile } from '../support/reliability-support.js';
import type { ModelView } from '../../src/catalog/model-view.js';
import type { UsageRecord } from '../../src/usage/usage-recorder.js';

describe("route figures: another provider's catalog entry never prices a provider/model route", () => {
  let openai: FakeOpenAi;
  let groq: FakeOpenAi;
  let azure: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    openai = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4o', 'gpt-4o-mini'] });
    // Groq's list reports gpt-4o with a window of its own; gpt-4o-mini and gpt-4.1 it does not report.
    groq = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4o', 'llama-3.1-8b-instant'], listFields: { 'gpt-4o': { context_length: 8000 } } });
    azure = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({
      ...fakeProviderEnv({ openai, groq, azure }),
      LLM_PROXY_CONFIG: configFile(`
model_catalog:
  groq/gpt-4.1: { context_length: 50000, max_output_tokens: 4000, input_cost: 0.5, output_cost: 1.5 }
routing: { retries: 0 }
`),
      LLM_PROXY_RPM: '0',
    });
    await gateway.app.services.discovery.refreshAll();
  });
  after(async () => {
    await gateway.close();
    await openai.close();
    await groq.close();
    await azure.close();
  });

  async function details(model: string): Promise<{ status: number; model: ModelView | undefined }> {
    const response = await fetch(`${gateway.url}/api/models/${model}`, { headers: { Authorization: `Bearer ${CLIENT_KEY}` } });
    const body = (await response.json()) as { model?: ModelView };
    return { status: response.status, model: body.model };
  }

  /** A chat request; its status, error code and (for a 200) its usage record. */
  async function chat(model: string, extra: Record<string, unknown> = {}): Promise<{ status: number; code: string | undefined; record: UsageRecord | undefined }> {
    const count = gateway.usage.recent().length;
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${CLIENT_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
    });
    const body = (await response.json()) as { error?: { code: string } };
    if (response.status !== 200) return { status: response.status, code: body.error?.code, record: undefined };
    await eventually(() => gateway.usage.recent().length > count);
    return { status: 200, code: undefined, record: gateway.usage.recent().at(-1) };
  }

  const priced = (record: UsageRecord | undefined, input: number, output: number) =>
    ((record?.promptTokens ?? 0) * input + (record?.completionTokens ?? 0) * output) / 1000;

  test("a model the provider does not report and the operator did not describe: no figures, no price, no one else's limits", async () => {
    const mini = gateway.app.services.catalog.get('gpt-4o-mini');
    assert.equal(mini?.provider, 'openai');
    assert.equal((await details('groq/gpt-4o-mini')).status, 404);
    const { status, record } = await chat('groq/gpt-4o-mini');
    assert.equal(status, 200);
    assert.equal(record?.provider, 'groq');
    assert.equal(record?.cost, undefined, "not OpenAI's gpt-4o-mini price");
    // OpenAI's 16,384-token output limit is not Groq's.
    assert.equal((await chat('groq/gpt-4o-mini', { max_tokens: (mini?.max_output_tokens ?? 0) + 1000 })).status, 200);
  });

  test("a model the provider's list reports: its window, no price; the context policy uses the same window", async () => {
    const view = await details('groq/gpt-4o');
    assert.equal(view.status, 200);
    assert.equal(view.model?.provider, 'groq');
    assert.equal(view.model?.context_length, 8000, "Groq's window, not OpenAI's 128,000");
    assert.equal(view.model?.input_cost, null);
    assert.equal(view.model?.output_cost, null);
    const { status, record } = await chat('groq/gpt-4o');
    assert.equal(status, 200);
    assert.equal(record?.cost, undefined);
    const over = await chat('groq/gpt-4o', { max_tokens: 9000 });
    assert.deepEqual([over.status, over.code], [400, 'context_length_exceeded']);
    // OpenAI's own gpt-4o keeps OpenAI's figures.
    const openaiEntry = gateway.app.services.catalog.get('gpt-4o');
    const native = await chat('openai/gpt-4o', { max_tokens: 9000 });
    assert.equal(native.status, 200);
    assert.equal(native.record?.cost, priced(native.record, openaiEntry?.input_cost ?? NaN, openaiEntry?.output_cost ?? NaN));
  });

  test('figures the operator gave for provider/model describe, limit and price it', async () => {
    const view = await details('groq/gpt-4.1');
    assert.equal(view.status, 200);
    assert.equal(view.model?.context_length, 50000);
    assert.equal(view.model?.input_cost, 0.5);
    const { status, record } = await chat('groq/gpt-4.1');
    assert.equal(status, 200);
    assert.equal(record?.cost, priced(record, 0.5, 1.5));
    const over = await chat('groq/gpt-4.1', { max_tokens: 4001 });
    assert.deepEqual([over.status, over.code], [400, 'invalid_value']);
    // OpenAI's gpt-4.1 is untouched by Groq's figures.
    assert.notEqual(gateway.app.services.catalog.get('gpt-4.1')?.input_cost, 0.5);
  });

  test("the provider's own catalog entry still prices its model", async () => {
    const entry = gateway.app.services.catalog.get('llama-3.1-8b-instant');
    assert.equal(entry?.provider, 'groq');
    const { status, record } = await chat('groq/llama-3.1-8b-instant');
    assert.equal(status, 200);
    assert.equal(record?.cost, priced(record, entry?.input_cost ?? NaN, entry?.output_cost ?? NaN));
  });

  test("Azure's deployment of an OpenAI model is priced as OpenAI's: Azure resells those models under their names", async () => {
    const entry = gateway.app.services.catalog.get('gpt-4o-mini');
    const { status, record } = await chat('azure/gpt-4o-mini');
    assert.equal(status, 200);
    assert.equal(record?.provider, 'azure');
    assert.equal(record?.cost, priced(record, entry?.input_cost ?? NaN, entry?.output_cost ?? NaN));
  });
});
