// RELIABILITY §4d#8: errors never include deployment lists. When every deployment of a group
// failed, the client is told how many attempts on how many deployments and what each got, but not
// which deployments or providers; the full list goes to the server log (one warn line, redacted).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { assertError, configFile, post } from '../support/reliability-support.js';

const NAMES = /alphaco|betaco|alpha-model|beta-model/;

describe('§4d#8 an exhausted failover names no deployment', () => {
  test('two deployments that both fail: the answer has counts and outcomes only, the warn line has the deployments', async () => {
    const [alpha, beta] = await Promise.all([startFakeOpenAi({ apiKey: undefined }), startFakeOpenAi({ apiKey: undefined })]);
    const file = configFile(`providers:
  alphaco: { type: openai-compatible, base_url: "${alpha.url}/v1", api_key: "${UPSTREAM_KEY}", discover: false }
  betaco: { type: openai-compatible, base_url: "${beta.url}/v1", discover: false }
model_catalog:
  alpha-model: { context_length: 20000 }
  beta-model: { context_length: 20000 }
models:
  - name: pair
    deployments: [{ provider: alphaco, model: alpha-model }, { provider: betaco, model: beta-model }]
routing: { retries: 1 }
`);
    const gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
    try {
      const ask = (stream: boolean) => post(gateway.url, JSON.stringify({ model: 'pair', stream, messages: [{ role: 'user', content: 'hi' }] }));
      for (const stream of [false, true]) {
        const logged = gateway.logs.length;
        alpha.enqueue({ kind: 'status', status: 500, body: JSON.stringify({ error: { message: `alpha broke (key ${UPSTREAM_KEY})` } }) });
        beta.enqueue({ kind: 'status', status: 503, body: JSON.stringify({ error: { message: 'beta broke' } }) });
        const res = await ask(stream);
        const error = assertError(res, { status: 502, code: 'upstream_error', type: 'api_error' });
        assert.match(error.message, /Tried 2 attempt\(s\) on 2 deployment\(s\): upstream_error, upstream_error\.$/, error.message);
        assert.doesNotMatch(res.body, NAMES, 'no provider or deployment in the answer');
        assert.equal(res.headers['x-llm-proxy-route'], undefined);

        const lines = gateway.logs.slice(logged).filter((line) => line.includes('every attempt failed'));
        assert.equal(lines.length, 1, gateway.logs.slice(logged).join('\n'));
        const line = JSON.parse(lines[0] ?? '{}') as { level: number; attempts: string; last: string; status: number };
        assert.equal(line.level, 40);
        assert.equal(line.status, 502);
        assert.match(line.attempts, /alphaco\/alpha-model=upstream_error/);
        assert.match(line.attempts, /betaco\/beta-model=upstream_error/);
        assert.match(line.last, /The provider '(alphaco|betaco)' failed/);
        assert.ok(!gateway.logs.join('\n').includes(UPSTREAM_KEY), 'the log goes through the redactor');
      }

      // Both rate limited: 429 with Retry-After, no names either.
      const logged = gateway.logs.length;
      alpha.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
      beta.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
      const limited = await ask(false);
      const error = assertError(limited, { status: 429, code: 'upstream_rate_limited', type: 'rate_limit_error' });
      assert.match(error.message, /^Every deployment of 'pair' is rate limited by its provider\. Tried 2 attempt\(s\) on 2 deployment\(s\): 429, 429\.$/);
      assert.doesNotMatch(limited.body, NAMES);
      const line = gateway.logs.slice(logged).find((entry) => entry.includes('every attempt failed')) ?? '';
      assert.match(line, /alphaco\/alpha-model=429/);
      assert.match(line, /betaco\/beta-model=429/);

      // The proxy's own refusal of a prompt over the group's window names none of its deployments either.
      const long = post(gateway.url, JSON.stringify({ model: 'pair', messages: [{ role: 'user', content: 'lorem ipsum dolor sit amet '.repeat(5000) }] }));
      const over = assertError(await long, { status: 400, code: 'context_length_exceeded', param: 'messages' });
      assert.match(over.message, /^The conversation is longer than the model's context window \((over )?\d+ prompt tokens/, over.message);
      assert.doesNotMatch(over.message, NAMES);
    } finally {
      await gateway.close();
      await alpha.close();
      await beta.close();
    }
  });
});
