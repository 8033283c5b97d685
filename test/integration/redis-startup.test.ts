// `node dist/src/main.js` with a REDIS_URL it cannot use (a refused password, a database number the
// server lacks): the process starts and serves, its output names the problem once, and the password
// in REDIS_URL appears nowhere in it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fakeRedis, type FakeRedis } from '../support/fake-redis.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { send, startGatewayProcess } from '../support/gateway-process.js';

const PASSWORD = 'redis-pw-planted-41c9e2';

describe('start-up with a Redis it cannot use', () => {
  let upstream: FakeOpenAi;
  let redis: FakeRedis;
  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    redis = await fakeRedis({ auth: '+OK\r\n', select: '+OK\r\n' });
  });
  after(async () => {
    await redis?.close();
    await upstream?.close();
  });

  for (const [problem, replies, path, expected] of [
    ['a refused password', { auth: '-WRONGPASS invalid username-password pair or user is disabled.\r\n', select: '+OK\r\n' }, '', /WRONGPASS/],
    ['a database number the server lacks', { auth: '+OK\r\n', select: '-ERR DB index is out of range\r\n' }, '/99', /DB index is out of range.*database number in REDIS_URL/],
  ] as const) {
    test(`${problem}: named once in the output, the password nowhere; requests are answered`, async () => {
      redis.replies = { ...replies };
      const env = { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_MASTER_KEY: MASTER_KEY, REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${redis.port}${path}` };
      const proxy = await startGatewayProcess(env, '');
      try {
        await proxy.waitFor('redis connection failed');
        const answer = await send(proxy.url, '/v1/chat/completions', {
          headers: { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
        });
        assert.equal(answer.status, 200, answer.body);
        // Several reconnects (200, 400, 600 ms apart) have failed by now: still one line.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        const output = proxy.output();
        const warnings = output.split('\n').filter((line) => line.includes('redis connection failed'));
        assert.equal(warnings.length, 1, output.slice(-3000));
        assert.match(warnings[0] as string, expected);
        assert.ok((warnings[0] as string).includes(`redis://:****@127.0.0.1:${redis.port}${path}`), warnings[0]);
        assert.ok(!output.includes(PASSWORD), 'REDIS_URL\'s password was printed');
      } finally {
        await proxy.cleanup();
      }
    });
  }
});
