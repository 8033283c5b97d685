// RELIABILITY §4b#13, the alert: a provider's unusable usage reports (negative, missing, beyond
// max_tokens × n) are billed from the local estimate (reliability-faults.test.ts) and alerted on:
// one warn line per provider a minute, naming the problem, and a counter on /metrics for every one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MASTER_KEY } from '../support/gateway-harness.js';
import { call, chat, post, withStack } from '../support/reliability-support.js';

describe('§4b#13 unusable usage reports are alerted on', () => {
  test('one warn line for three bad reports in a row; llm_proxy_usage_estimated_total counts all three', async () => {
    await withStack({}, async ({ fake, gateway, url }) => {
      const answer = (usage: unknown) =>
        JSON.stringify({ id: 'u', object: 'chat.completion', created: 1, model: 'gpt-4', choices: [{ index: 0, message: { role: 'assistant', content: 'fine' }, finish_reason: 'stop' }], usage });
      for (const usage of [{ prompt_tokens: -5, completion_tokens: -5, total_tokens: -10 }, { prompt_tokens: 9, completion_tokens: 1e9, total_tokens: 1e9 }, { prompt_tokens: 'x' }]) {
        fake.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: answer(usage) });
        assert.equal((await post(url, chat({ max_tokens: 20 }))).status, 200);
      }
      // A good report is not counted.
      fake.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: answer({ prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 }) });
      assert.equal((await post(url, chat({ max_tokens: 20 }))).status, 200);

      const warnings = gateway.logs.filter((line) => line.includes('usage report not usable'));
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0] ?? '', /"level":40/);
      assert.match(warnings[0] ?? '', /"provider":"openai"/);
      assert.match(warnings[0] ?? '', /"problem":"[^"]+"/);
      const metrics = await call(url, { method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${MASTER_KEY}` } });
      assert.match(metrics.body, /^llm_proxy_usage_estimated_total\{provider="openai",endpoint="chat\.completions"\} 3$/m);
    });
  });
});
