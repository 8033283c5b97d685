// RELIABILITY §4b#16: Redis down when the instance starts, then back. The instance boots and serves
// (counting limits on its own), connects once Redis is reachable, says each change once in the log,
// and what it admitted alone is counted in Redis once: neither forgotten nor counted twice.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { chat } from '../support/key-support.js';
import { startRedisServer, type RedisServer } from '../support/private-redis.js';
import { minuteWithRoom } from '../support/rate-limit-timing.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';

const server = await startRedisServer();
const LIMIT = 5;


async function statuses(gateway: Gateway, count: number): Promise<number[]> {
  const answers: number[] = [];
  for (let index = 0; index < count; index++) answers.push((await chat(gateway.url, CLIENT_KEY)).status);
  return answers;
}

describe('§4b#16 Redis down at boot, then back', { skip: typeof server === 'string' ? server : false }, () => {
  const redis = server as RedisServer;
  let relay: TcpRelay;
  let upstream: FakeOpenAi;
  const gateways: Gateway[] = [];
  const env = () => ({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: String(LIMIT), REDIS_URL: relay.url });

  before(async () => {
    relay = await startTcpRelay(redis.url);
    // Cut before the instance exists: its first connection is refused.
    relay.cut();
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
  });
  after(async () => {
    for (const gateway of gateways) await gateway.close();
    await upstream?.close();
    await relay?.close();
    await redis.stop();
  });

  test('boots and serves degraded; once Redis is reachable it is used, and the outage admissions weigh there once', async () => {
    await minuteWithRoom(20_000);
    const a = await startGateway(env());
    gateways.push(a);
    assert.equal(a.app.services.redis?.available(), false, 'Redis is away at boot');
    // Served while Redis is away, counted by the instance itself (one instance: the whole limit).
    assert.deepEqual(await statuses(a, 3), [200, 200, 200]);
    await eventually(() => a.logs.some((line) => line.includes('redis connection failed')), 2_000);
    // Long enough for several reconnect attempts (200, 400, 600 ms apart) to fail.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    relay.restore();
    await eventually(() => a.app.services.redis?.available() === true, 5_000);
    // 3 admitted alone plus 2 through Redis is the limit: the 3 were carried once, not dropped (5 more)
    // and not twice (none more).
    assert.deepEqual(await statuses(a, 4), [200, 200, 429, 429]);
    // Another instance, starting now, reads the same minute from Redis: nothing left.
    const b = await startGateway(env());
    gateways.push(b);
    await eventually(() => b.app.services.redis?.available() === true, 5_000);
    assert.deepEqual(await statuses(b, 2), [429, 429]);

    const lines = (pattern: string) => a.logs.filter((line) => line.includes(pattern));
    // Each reason once however many reconnects failed (a relay that drops the connection gives two:
    // the ready check's write EPIPE and the offline command refused), not one line per attempt.
    const reasons = lines('redis connection failed').map((line) => (JSON.parse(line) as { err: string }).err);
    assert.ok(reasons.length >= 1 && reasons.length <= 2, reasons.join(' | '));
    assert.equal(new Set(reasons).size, reasons.length, `a reason repeated: ${reasons.join(' | ')}`);
    assert.equal(lines('redis connected').length, 1, 'the recovery said once');
    assert.equal(lines('redis breaker').length, 0, 'no command failed: nothing was sent while it was away');
  });
});
