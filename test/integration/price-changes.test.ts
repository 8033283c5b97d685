// Announced price changes over HTTP: a change whose day has begun bills the call and shows as the
// model's price; one still ahead is listed under `price_changes` and bills nothing yet. (The exact
// boundary, to the millisecond, is tested on src/catalog/call-cost.ts with the clock given.)
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, MASTER_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { callJson, chat, createKey } from '../support/key-support.js';

const PAST = { from: '2020-01-01', input_cost: 0.01, output_cost: 0.03 };
const AHEAD = { from: '2999-01-01', input_cost: 1, output_cost: 1 };

describe('announced price changes in usage records and /api/models', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, models: ['gpt-4o'] });
    const file = join(mkdtempSync(join(tmpdir(), 'llm-proxy-prices-')), 'config.yaml');
    writeFileSync(
      file,
      `model_catalog:\n  gpt-4o:\n    price_changes:\n      - ${JSON.stringify(AHEAD)}\n      - ${JSON.stringify(PAST)}\n`,
    );
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('a call is billed at the change in force; the model shows it, and lists only the change ahead', async () => {
    const usage = { prompt_tokens: 1000, completion_tokens: 100, total_tokens: 1100 };
    upstream.enqueue({
      kind: 'raw',
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({ id: 'chatcmpl-p', object: 'chat.completion', created: 1_700_000_000, model: 'gpt-4o', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage }),
    });
    const { id, key } = await createKey(gateway.url, { name: 'dated-prices', max_budget: 10 });
    const answer = await chat(gateway.url, key, { model: 'gpt-4o', max_tokens: 200 });
    assert.equal(answer.status, 200, answer.text);
    await eventually(() => gateway.usage.recent().some((record) => record.keyId === id));
    const record = gateway.usage.recent().find((entry) => entry.keyId === id);
    const expected = (1000 * PAST.input_cost + 100 * PAST.output_cost) / 1000;
    assert.ok(Math.abs((record?.cost ?? 0) - expected) < 1e-12, `${record?.cost} ≠ ${expected}`);

    const { status, body } = await callJson(gateway.url, 'GET', '/api/models/gpt-4o', MASTER_KEY);
    assert.equal(status, 200);
    const model = body.model as Record<string, unknown>;
    assert.deepEqual([model.input_cost, model.output_cost, model.price_changes], [PAST.input_cost, PAST.output_cost, [AHEAD]]);
  });
});
