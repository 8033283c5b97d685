// RELIABILITY §4b#5: connection refused and a TLS failure fail over at once (no back-off wait, no
// retry of the dead deployment first), count against the failed deployment's breaker, and end in
// 502 when nothing else can serve. All on 127.0.0.1: a port nobody listens on, and an https:// URL
// pointed at a plain-HTTP listener (the TLS handshake fails). Name resolution is not exercised: it
// would ask the system's resolver.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { startGateway } from '../support/gateway-harness.js';
import { freePort } from '../support/gateway-process.js';
import { assertError, configFile, post } from '../support/reliability-support.js';

async function deploymentOf(url: string, provider: string, deployment: string): Promise<{ failures: number; circuit: string } | undefined> {
  const providers = (await (await fetch(`${url}/health/providers`)).json()) as Record<string, { deployments?: Record<string, { failures: number; circuit: string }> }>;
  return providers[provider]?.deployments?.[deployment];
}

describe('§4b#5 transport failures', () => {
  test('a refused and a TLS-failing deployment: the next deployment serves at once; each failure counts against its own breaker; none left → 502', async () => {
    const good = await startFakeOpenAi({ apiKey: undefined, reply: 'good' });
    // Plain HTTP: an https:// client's handshake gets an HTTP answer, not a ServerHello.
    const plain = createServer((_req, res) => res.end('not tls'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const refusedPort = await freePort();
    const file = configFile(`providers:
  refused: { type: openai-compatible, base_url: "http://127.0.0.1:${refusedPort}/v1", discover: false }
  tls: { type: openai-compatible, base_url: "https://127.0.0.1:${(plain.address() as AddressInfo).port}/v1", discover: false }
  good: { type: openai-compatible, base_url: "${good.url}/v1", discover: false }
models:
  - name: refused-first
    deployments: [{ provider: refused, model: a, weight: 1000 }, { provider: good, model: c, weight: 1 }]
  - name: tls-first
    deployments: [{ provider: tls, model: b, weight: 1000 }, { provider: good, model: c, weight: 1 }]
  - name: dead
    deployments: [{ provider: refused, model: a }, { provider: tls, model: b }]
routing: { retries: 2 }
`);
    const gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' });
    try {
      const ask = (model: string) => post(gateway.url, JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }));
      for (const [group, provider, deployment] of [['refused-first', 'refused', 'refused/a'], ['tls-first', 'tls', 'tls/b']] as const) {
        // Weighted 1000 to 1, the failing deployment is almost surely tried first; until it is, `good` serves.
        let route = '';
        for (let index = 0; index < 20 && !route.startsWith(deployment); index++) {
          const started = Date.now();
          const served = await ask(group);
          assert.equal(served.status, 200, served.body);
          assert.ok(Date.now() - started < 2000, `${group}: served after ${Date.now() - started} ms`);
          route = String(served.headers['x-llm-proxy-route']);
        }
        // Tried once, then straight to the next deployment.
        assert.equal(route, `${deployment}=upstream_unreachable, good/c=200`);
        assert.equal((await deploymentOf(gateway.url, provider, deployment))?.failures, 1, `${deployment} counted the failure`);
      }

      const failed = await ask('dead');
      const error = assertError(failed, { status: 502, code: 'upstream_unreachable', type: 'api_error' });
      assert.ok(!error.message.includes('127.0.0.1') && !error.message.includes(String(refusedPort)), error.message);
    } finally {
      await gateway.close();
      await good.close();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });
});
