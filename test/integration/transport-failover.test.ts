// RELIABILITY §4b#5: connection refused and a TLS failure fail over at once (no back-off wait, no
// retry of the dead deployment first), count against the failed deployment's breaker, and end in
// 502 when nothing else can serve. All on 127.0.0.1: a port nobody listens on, an https:// URL
// pointed at a plain-HTTP listener (the TLS handshake fails), and a name the test's resolver does not
// know (ENOTFOUND, as a DNS failure; the system's resolver is never asked).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { loopbackOnly, startGateway } from '../support/gateway-harness.js';
import { freePort } from '../support/gateway-process.js';
import { assertError, configFile, post } from '../support/reliability-support.js';

async function deploymentOf(url: string, provider: string, deployment: string): Promise<{ failures: number; circuit: string } | undefined> {
  const providers = (await (await fetch(`${url}/health/providers`)).json()) as Record<string, { deployments?: Record<string, { failures: number; circuit: string }> }>;
  return providers[provider]?.deployments?.[deployment];
}

/** A name no resolver answers (RFC 6761 reserves .invalid). */
const UNKNOWN_HOST = 'upstream.invalid';

describe('§4b#5 transport failures', () => {
  test('a refused, a TLS-failing and an unresolvable deployment: the next deployment serves at once; each failure counts against its own breaker; none left → 502', async () => {
    const good = await startFakeOpenAi({ apiKey: undefined, reply: 'good' });
    // Plain HTTP: an https:// client's handshake gets an HTTP answer, not a ServerHello.
    const plain = createServer((_req, res) => res.end('not tls'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const refusedPort = await freePort();
    const file = configFile(`providers:
  refused: { type: openai-compatible, base_url: "http://127.0.0.1:${refusedPort}/v1", discover: false }
  tls: { type: openai-compatible, base_url: "https://127.0.0.1:${(plain.address() as AddressInfo).port}/v1", discover: false }
  nxdomain: { type: openai-compatible, base_url: "https://${UNKNOWN_HOST}:${refusedPort}/v1", discover: false }
  good: { type: openai-compatible, base_url: "${good.url}/v1", discover: false }
models:
  - name: refused-first
    deployments: [{ provider: refused, model: a, weight: 1000 }, { provider: good, model: c, weight: 1 }]
  - name: tls-first
    deployments: [{ provider: tls, model: b, weight: 1000 }, { provider: good, model: c, weight: 1 }]
  - name: nxdomain-first
    deployments: [{ provider: nxdomain, model: d, weight: 1000 }, { provider: good, model: c, weight: 1 }]
  - name: dead
    deployments: [{ provider: refused, model: a }, { provider: tls, model: b }, { provider: nxdomain, model: d }]
routing: { retries: 2 }
`);
    const lookups: string[] = [];
    const gateway = await startGateway(
      { LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' },
      {
        resolveHost: (hostname, family, callback) => {
          lookups.push(hostname);
          if (hostname !== UNKNOWN_HOST) return loopbackOnly(hostname, family, callback);
          const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          error.code = 'ENOTFOUND';
          callback(error, []);
        },
      },
    );
    try {
      const ask = (model: string) => post(gateway.url, JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }));
      for (const [group, provider, deployment] of [['refused-first', 'refused', 'refused/a'], ['tls-first', 'tls', 'tls/b'], ['nxdomain-first', 'nxdomain', 'nxdomain/d']] as const) {
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
      assert.ok(!error.message.includes('127.0.0.1') && !error.message.includes(String(refusedPort)) && !error.message.includes(UNKNOWN_HOST), error.message);
      assert.ok(lookups.includes(UNKNOWN_HOST), 'the name was looked up, by the test\'s resolver');
    } finally {
      await gateway.close();
      await good.close();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });
});
