// A provider that refuses the proxy's account for billing (HTTP 402: Anthropic's billing_error,
// DeepSeek's and OpenRouter's balances; OpenAI's 429 insufficient_quota, which no wait mends) is the
// operator's problem, not the client's request: 502 upstream_billing_error, the deployment's circuit
// opens at once (as for a rejected key), and the group's other deployments serve meanwhile.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startFakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeGemini } from '../support/fake-gemini.js';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { assertError, configFile, post } from '../support/reliability-support.js';

const CASES = [
  { name: 'HTTP 402 (a balance run out)', status: 402, body: { error: { message: 'Insufficient Balance', type: 'unknown_error', param: null, code: 'invalid_request_error' } } },
  {
    name: "OpenAI's 429 insufficient_quota",
    status: 429,
    body: { error: { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', param: null, code: 'insufficient_quota' } },
  },
];

const chat = (model: string) => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });

describe('a provider account refused for billing or quota', () => {
  for (const { name, status, body } of CASES) {
    test(`${name}: 502 upstream_billing_error alone; in a group the next deployment answers and the refused one is left alone`, async () => {
      const [broke, good] = await Promise.all([startFakeOpenAi({ apiKey: undefined, reply: 'broke' }), startFakeOpenAi({ apiKey: undefined, reply: 'good' })]);
      const file = configFile(`providers:
  broke: { type: openai-compatible, base_url: "${broke.url}/v1", api_key: "${UPSTREAM_KEY}", discover: false }
  good: { type: openai-compatible, base_url: "${good.url}/v1", discover: false }
models:
  - name: alone
    deployments: [{ provider: broke, model: a }]
  - name: pair
    deployments: [{ provider: broke, model: a, weight: 1000 }, { provider: good, model: b, weight: 1 }]
routing: { strategy: weighted-random, cooldown_s: 60 }
`);
      const gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
      try {
        for (let index = 0; index < 20; index++) broke.enqueue({ kind: 'status', status, body: JSON.stringify(body) });
        const refused = await post(gateway.url, chat('alone'));
        assertError(refused, { status: 502, code: 'upstream_billing_error' });
        assert.match(refused.body, /operator must fix the provider account/);
        assert.equal(broke.requests.length, 1, 'not retried: no wait mends a balance');
        assert.equal(refused.headers['retry-after'], undefined, 'the client is not told to wait it out');

        // Its circuit opened at once (one health per deployment, whatever group names it): the group
        // that weighs it 1000 to 1 is served by `good` without another call to it.
        for (let index = 0; index < 5; index++) {
          const res = await post(gateway.url, chat('pair'));
          assert.equal(res.status, 200, res.body);
          assert.match(String(res.headers['x-llm-proxy-route']), /good\/b=200$/);
        }
        assert.equal(broke.requests.length, 1, 'no call after its circuit opened');
        const alerts = gateway.logs.filter((line) => /"level":(40|50)/.test(line) && line.includes('circuit open') && line.includes('upstream_billing_error'));
        assert.equal(alerts.length, 1, gateway.logs.filter((line) => line.includes('broke/a')).join('\n'));
        assert.ok(!gateway.logs.join('\n').includes(UPSTREAM_KEY), 'the key is in no log line');
      } finally {
        await gateway.close();
        await broke.close();
        await good.close();
      }
    });
  }
});

describe("Anthropic's account out of credit (HTTP 400 invalid_request_error \"Your credit balance is too low\")", () => {
  test('is the 502 upstream_billing_error it means, not the client\'s 400: its circuit opens and the group\'s other deployment serves', async () => {
    const [broke, good] = await Promise.all([startFakeAnthropic(), startFakeOpenAi({ apiKey: undefined, reply: 'good' })]);
    const file = configFile(`providers:
  broke: { type: anthropic, base_url: "${broke.url}", api_key: "${UPSTREAM_KEY}", discover: false }
  good: { type: openai-compatible, base_url: "${good.url}/v1", discover: false }
models:
  - name: alone
    deployments: [{ provider: broke, model: claude-sonnet-4-5 }]
  - name: pair
    deployments: [{ provider: broke, model: claude-sonnet-4-5, weight: 1000 }, { provider: good, model: b, weight: 1 }]
routing: { strategy: weighted-random, cooldown_s: 60 }
`);
    const gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
    try {
      const body = { type: 'error', error: { type: 'invalid_request_error', message: 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.' }, request_id: 'req_011CbrFTcXhtiMzr3s6EocF7' };
      for (let index = 0; index < 20; index++) broke.enqueue({ kind: 'error', status: 400, body });
      const refused = await post(gateway.url, chat('alone'));
      assertError(refused, { status: 502, code: 'upstream_billing_error' });
      assert.match(refused.body, /credit balance is too low/);
      for (let index = 0; index < 3; index++) {
        const res = await post(gateway.url, chat('pair'));
        assert.equal(res.status, 200, res.body);
        assert.match(String(res.headers['x-llm-proxy-route']), /good\/b=200$/);
      }
      assert.equal(broke.requests.filter((request) => request.path === '/v1/messages').length, 1, 'no call after its circuit opened');
    } finally {
      await gateway.close();
      await broke.close();
      await good.close();
    }
  });
});

describe('Gemini refusing the project (HTTP 400 FAILED_PRECONDITION "free tier is not available in your country. Please enable billing")', () => {
  test("is the 502 upstream_billing_error it means, not the client's 400: its circuit opens and the group's other deployment serves", async () => {
    const [broke, good] = await Promise.all([startFakeGemini(), startFakeOpenAi({ apiKey: undefined, reply: 'good' })]);
    const file = configFile(`providers:
  broke: { type: gemini, base_url: "${broke.url}", api_key: "${UPSTREAM_KEY}", discover: false }
  good: { type: openai-compatible, base_url: "${good.url}/v1", discover: false }
models:
  - name: alone
    deployments: [{ provider: broke, model: gemini-2.5-flash }]
  - name: pair
    deployments: [{ provider: broke, model: gemini-2.5-flash, weight: 1000 }, { provider: good, model: b, weight: 1 }]
routing: { strategy: weighted-random, cooldown_s: 60 }
`);
    const gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
    try {
      for (let index = 0; index < 20; index++) broke.enqueue({ kind: 'error', status: 400, fixture: 'failed-precondition' });
      const refused = await post(gateway.url, chat('alone'));
      assertError(refused, { status: 502, code: 'upstream_billing_error' });
      assert.match(refused.body, /enable billing/);
      assert.equal(broke.requests.length, 1, 'not retried: no wait mends it');
      for (let index = 0; index < 3; index++) {
        const res = await post(gateway.url, chat('pair'));
        assert.equal(res.status, 200, res.body);
        assert.match(String(res.headers['x-llm-proxy-route']), /good\/b=200$/);
      }
      assert.equal(broke.requests.length, 1, 'no call after its circuit opened');
    } finally {
      await gateway.close();
      await broke.close();
      await good.close();
    }
  });
});
