// RELIABILITY §4b#4, the half after the 502: a provider that rejects the proxy's key (401/403)
// marks that deployment unhealthy at once (its circuit opens: a bad key does not mend itself in
// five more requests) and alerts the operator (the breaker's one warn line, naming the deployment
// and the cause, never the key). Its traffic moves to the group's other deployments meanwhile.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { assertError, configFile, post } from '../support/reliability-support.js';

async function deploymentOf(url: string, provider: string, deployment: string): Promise<{ status: string; circuit: string } | undefined> {
  const providers = (await (await fetch(`${url}/health/providers`)).json()) as Record<string, { deployments?: Record<string, { status: string; circuit: string }> }>;
  return providers[provider]?.deployments?.[deployment];
}

describe('§4b#4 a provider key rejected upstream', () => {
  for (const status of [401, 403]) {
    test(`HTTP ${status}: the deployment is down after one rejection, one warn line says so, the next requests go to the other deployment`, async () => {
      const [bad, good] = await Promise.all([startFakeOpenAi({ apiKey: undefined, reply: 'bad' }), startFakeOpenAi({ apiKey: undefined, reply: 'good' })]);
      const file = configFile(`providers:
  bad: { type: openai-compatible, base_url: "${bad.url}/v1", api_key: "${UPSTREAM_KEY}", discover: false }
  good: { type: openai-compatible, base_url: "${good.url}/v1", discover: false }
models:
  - name: pair
    deployments: [{ provider: bad, model: a, weight: 1000 }, { provider: good, model: b, weight: 1 }]
routing: { strategy: weighted-random, cooldown_s: 60 }
`);
      const gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
      try {
        const pair = () => post(gateway.url, JSON.stringify({ model: 'pair', messages: [{ role: 'user', content: 'hi' }] }));
        // Every call to `bad` is refused from here on, as with a revoked key.
        for (let index = 0; index < 20; index++) bad.enqueue({ kind: 'status', status, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${UPSTREAM_KEY}`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }) });
        // `bad` weighs 1000 to 1: the first request almost surely tries it first; either way it is served.
        for (let index = 0; index < 40 && bad.requests.length === 0; index++) assert.equal((await pair()).status, 200);
        assert.equal(bad.requests.length, 1, 'the bad deployment was tried');

        assert.equal((await deploymentOf(gateway.url, 'bad', 'bad/a'))?.circuit, 'open', 'one rejection opens the circuit');
        assert.equal((await deploymentOf(gateway.url, 'bad', 'bad/a'))?.status, 'down');
        const alerts = gateway.logs.filter((line) => /"level":(40|50)/.test(line) && line.includes('bad/a'));
        assert.equal(alerts.length, 1, gateway.logs.filter((line) => line.includes('bad/a')).join('\n'));
        assert.match(alerts[0] ?? '', /upstream_auth_error/);
        assert.ok(!gateway.logs.join('\n').includes(UPSTREAM_KEY), 'the key is in no log line');

        // While it is open, the group is served by `good` alone, without another call to `bad`.
        for (let index = 0; index < 10; index++) {
          const res = await pair();
          assert.equal(res.status, 200, res.body);
          assert.match(String(res.headers['x-llm-proxy-route']), /good\/b=200$/);
        }
        assert.equal(bad.requests.length, 1);
      } finally {
        await gateway.close();
        await bad.close();
        await good.close();
      }
    });
  }

  test('a single deployment with a rejected key still answers 502 upstream_auth_error (not 503) while its circuit is open', async () => {
    const fake = await startFakeOpenAi({ apiKey: undefined });
    const gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1`, LLM_PROXY_RPM: '0' });
    try {
      for (let index = 0; index < 2; index++) fake.enqueue({ kind: 'status', status: 401 });
      for (let index = 0; index < 2; index++) assertError(await post(gateway.url, JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] })), { status: 502, code: 'upstream_auth_error' });
      // The key fixed (the upstream accepts again): the last-resort call closes the circuit.
      const fixed = await post(gateway.url, JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] }));
      assert.equal(fixed.status, 200, fixed.body);
      assert.equal((await deploymentOf(gateway.url, 'openai', 'openai/gpt-4'))?.circuit, 'closed');
    } finally {
      await gateway.close();
      await fake.close();
    }
  });
});
