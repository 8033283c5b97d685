// RELIABILITY §4d#10, the SSRF guard on admin-configured upstream URLs: a refused base_url stops
// the start (and a reload), and at connect time a name that resolves to a private address the
// provider may not reach is refused before any connection (DNS rebinding), while the provider's
// opt-in reaches it. Names are answered by an injected resolver: no test touches DNS.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dns, { type LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { loopbackOnly, MASTER_KEY, startGateway, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { send, startGatewayProcess } from '../support/gateway-process.js';
import { assertError, chat, configFile, post } from '../support/reliability-support.js';
import type { HostResolver } from '../../src/upstream/guarded-lookup.js';

/** A resolver answering from `table`, counting each lookup. */
function resolver(table: Record<string, string>): { resolve: HostResolver; lookups: string[] } {
  const lookups: string[] = [];
  return {
    lookups,
    resolve: (hostname, _family, callback) => {
      lookups.push(hostname);
      const address = table[hostname];
      if (address === undefined) {
        const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        error.code = 'ENOTFOUND';
        callback(error, []);
        return;
      }
      const answer: LookupAddress = { address, family: address.includes(':') ? 6 : 4 };
      callback(null, [answer]);
    },
  };
}

const GUARD_LINE = 'upstream connection refused by the SSRF guard';

describe('SSRF guard at connect time', () => {
  let fake: FakeOpenAi;
  /** A bare listener counting TCP connections: the refused calls must open none. */
  let listener: Server;
  let connections = 0;

  before(async () => {
    fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    listener = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await fake.close();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  });

  test('a name that resolves to a private address is refused with the 502 unreachable error, and nothing is contacted', async () => {
    const port = (listener.address() as AddressInfo).port;
    for (const [host, address] of [['rebind.example', '10.0.0.5'], ['loop.example', '127.0.0.1'], ['meta.example', '169.254.169.254']] as const) {
      const names = resolver({ [host]: address });
      const gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `https://${host}:${port}/v1?sig=url-secret`, LLM_PROXY_RPM: '0' }, { resolveHost: names.resolve });
      try {
        for (const stream of [false, true]) {
          const error = assertError(await post(gateway.url, chat({ stream })), { status: 502, code: 'upstream_unreachable' });
          assert.match(error.message, /^The provider 'openai' could not be reached\./);
          assert.ok(!error.message.includes(host) && !error.message.includes(address), error.message);
        }
        assert.ok(names.lookups.length > 0 && names.lookups.every((name) => name === host), names.lookups.join());
        const lines = gateway.logs.filter((line) => line.includes(GUARD_LINE));
        // One refusal per request: the guard would refuse the address again, so it is not retried.
        assert.equal(lines.length, 2, gateway.logs.join('\n'));
        const logged = JSON.parse(lines[0] as string) as { host: string; addresses: string[]; reason: string };
        assert.equal(logged.host, host);
        assert.deepEqual(logged.addresses, [address]);
        assert.match(logged.reason, new RegExp(`${address.replaceAll('.', '\\.')} is a private destination`));
        for (const line of lines) assert.ok(!line.includes('url-secret') && !line.includes('/v1'), line);
      } finally {
        await gateway.close();
      }
    }
    assert.equal(connections, 0, 'the guard refused before connecting');
  });

  test('with the provider\'s opt-in the same name reaches its private address; a kept-alive connection is not looked up again', async () => {
    const port = new URL(fake.url).port;
    const names = resolver({ 'rebind.example': '127.0.0.1' });
    const gateway = await startGateway(
      { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `http://rebind.example:${port}/v1`, LLM_PROXY_PRIVATE_UPSTREAMS: 'openai', LLM_PROXY_RPM: '0' },
      { resolveHost: names.resolve },
    );
    try {
      const before = fake.requests.length;
      for (let call = 0; call < 3; call++) {
        const answer = await post(gateway.url, chat());
        assert.equal(answer.status, 200, answer.body);
      }
      assert.equal(fake.requests.length - before, 3);
      assert.deepEqual(names.lookups, ['rebind.example'], 'one lookup, for the one connection');
      assert.ok(!gateway.logs.some((line) => line.includes(GUARD_LINE)));
    } finally {
      await gateway.close();
    }
  });

  test('a deployment the guard refused is not retried, even with retries left, and the fallback serves', async () => {
    const port = new URL(fake.url).port;
    const names = resolver({ 'rebind.example': '10.0.0.5' });
    const file = configFile(`providers:
  inside: { type: openai-compatible, base_url: "https://rebind.example:${port}/v1", api_key: "${UPSTREAM_KEY}", discover: false }
  outside: { type: openai-compatible, base_url: "${fake.url}/v1", api_key: "${UPSTREAM_KEY}", discover: false }
models:
  - { name: pair, deployments: [{ provider: inside, model: gpt-4o-mini }], fallbacks: [spare], retries: 2 }
  - { name: spare, deployments: [{ provider: outside, model: gpt-4o-mini }] }
`);
    const gateway = await startGateway({ LLM_PROXY_CONFIG: file, LLM_PROXY_RPM: '0' }, { resolveHost: names.resolve });
    try {
      for (const stream of [false, true]) {
        const answer = await post(gateway.url, JSON.stringify({ model: 'pair', stream, messages: [{ role: 'user', content: 'hi' }] }));
        assert.equal(answer.status, 200, answer.body);
        assert.match(String(answer.headers['x-llm-proxy-route']), /^inside\/gpt-4o-mini=upstream_unreachable, outside\/gpt-4o-mini=200$/);
      }
      assert.equal(gateway.logs.filter((line) => line.includes(GUARD_LINE)).length, 2, 'one refusal per request, no retry of it');
    } finally {
      await gateway.close();
    }
  });

  test('the test harness itself: a name that resolves beyond 127.0.0.1 is refused, so no test reaches a real provider', async () => {
    const lookup = dns.lookup;
    // Names as they resolve where there is a network: api.openai.com to a public address.
    const table: Record<string, string> = { 'public.example': '93.184.215.14', 'near.example': '127.0.0.1' };
    dns.lookup = ((hostname: string, ...rest: unknown[]) => {
      const callback = rest[rest.length - 1] as (error: null, addresses: LookupAddress[]) => void;
      const address = table[hostname];
      if (address !== undefined) callback(null, [{ address, family: 4 }]);
      else Reflect.apply(lookup, dns, [hostname, ...rest]);
    }) as typeof dns.lookup;
    const resolve = (name: string) => new Promise<{ error: NodeJS.ErrnoException | null; addresses: LookupAddress[] }>((done) => loopbackOnly(name, 0, (error, addresses) => done({ error, addresses })));
    try {
      const refused = await resolve('public.example');
      assert.equal(refused.error?.code, 'ENOTFOUND');
      assert.match(refused.error?.message ?? '', /public\.example resolves beyond 127\.0\.0\.1/);
      assert.deepEqual(refused.addresses, []);
      assert.deepEqual((await resolve('near.example')).addresses, [{ address: '127.0.0.1', family: 4 }]);
    } finally {
      dns.lookup = lookup;
    }
  });

  test('loopback written as such (127.0.0.1, as every test and the benchmark use) is never looked up', async () => {
    const names = resolver({});
    const gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1`, LLM_PROXY_RPM: '0' }, { resolveHost: names.resolve });
    try {
      assert.equal((await post(gateway.url, chat())).status, 200);
      assert.deepEqual(names.lookups, []);
    } finally {
      await gateway.close();
    }
  });
});

describe('SSRF guard at start and on reload', () => {
  test('a refused base_url stops the start with the provider, the variable, the reason and the fix', () => {
    const result = spawnSync(process.execPath, ['dist/src/main.js'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LLM_PROXY_API_KEYS: 'client-key', OLLAMA_BASE_URL: 'http://ollama:11434' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(result.status, 1, result.stderr);
    assert.equal(
      result.stderr,
      "llm-proxy: providers.ollama.base_url (or OLLAMA_BASE_URL): the upstream URL guard refuses provider 'ollama': http:// to ollama would send the provider's key in clear text, and the name may lead into a private network; " +
        'use https:// to a public host, or, if this provider is on your own network on purpose, set providers.ollama.allow_private_network: true in the config file (or LLM_PROXY_PRIVATE_UPSTREAMS=ollama).\n',
    );
  });

  test('a reload to a refused base_url is refused like any bad config, and the running config stays', async () => {
    const gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY }, 'routing: { discovery_interval_s: 0 }\n');
    try {
      gateway.writeConfig('providers:\n  gpu: { type: openai-compatible, base_url: "http://192.168.1.20:8000/v1", discover: false }\n');
      const answer = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}` } });
      assert.equal(answer.status, 400, answer.body);
      const error = (JSON.parse(answer.body) as { error: { message: string; param: string | null; code: string } }).error;
      assert.equal(error.code, 'invalid_config');
      assert.equal(error.param, 'providers.gpu.base_url');
      assert.match(error.message, /192\.168\.1\.20 is a private destination \(192\.168\.0\.0\/16, private network\).*allow_private_network: true/);

      gateway.writeConfig('providers:\n  gpu: { type: openai-compatible, base_url: "http://192.168.1.20:8000/v1", discover: false, allow_private_network: true }\n');
      const accepted = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}` } });
      assert.equal(accepted.status, 200, accepted.body);
    } finally {
      await gateway.cleanup();
    }
  });
});
