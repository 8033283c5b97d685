// Two instances on one Redis (a redis-server of this test's own), which is then killed: each
// instance counts its share of a limit (limit ÷ the 2 instances counted in Redis), so a key gets
// its limit across both within the minute, not twice it, and the headers show the share. A
// `--workers` cluster is one instance (its primary registers), and leaves the count when it stops.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, CLIENT_KEY, eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { send, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { chat } from '../support/key-support.js';
import { startRedisServer, type RedisServer } from '../support/private-redis.js';
import { minuteWithRoom } from '../support/rate-limit-timing.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';

/** A second static key (`static-2` on both instances), for the token limit. */
const TOKEN_KEY = 'second-client-key';
const server = await startRedisServer();
const clusterServer = typeof server === 'string' ? server : await startRedisServer();
const midMinuteServer = typeof server === 'string' ? server : await startRedisServer();
const returnServer = typeof server === 'string' ? server : await startRedisServer();

/** Two instances on `redisUrl`, CLIENT_KEY limited to 20 requests a minute, once each counts both in Redis. */
async function twoInstances(redisUrl: string): Promise<{ a: Gateway; b: Gateway; close(): Promise<void> }> {
  const upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
  const env = { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '20', LLM_PROXY_API_KEYS: CLIENT_KEY, REDIS_URL: redisUrl };
  const a = await startGateway(env);
  const b = await startGateway(env);
  await eventually(() => a.app.services.shared.fleet?.instances() === 2 && b.app.services.shared.fleet?.instances() === 2, 10_000);
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await upstream.close();
    },
  };
}

/** `count` requests of CLIENT_KEY, alternately to `a` and `b`, one at a time: how many were admitted. */
async function admitted(a: Gateway, b: Gateway, count: number): Promise<number> {
  let ok = 0;
  for (let index = 0; index < count; index++) {
    const response = await fetch(`${(index % 2 === 0 ? a : b).url}/v1/models`, { headers: authHeaders() });
    if (response.status === 200) ok++;
  }
  return ok;
}

const bothAvailable = (a: Gateway, b: Gateway, available: boolean) => a.app.services.redis?.available() === available && b.app.services.redis?.available() === available;

// Each block has its own Redis server and instances, and mostly waits (for a minute with room, a breaker's
// cool-down): run at once, the file takes about its slowest block instead of their sum. Within a block,
// its tests stay one at a time, in order (they share its instances' counts).
describe('Redis outage: each instance its share', { concurrency: true }, () => {
  describe('Redis killed under two instances', { concurrency: 1, skip: typeof server === 'string' ? server : false }, () => {
    const redis = server as RedisServer;
    let upstream: FakeOpenAi;
    let a: Gateway;
    let b: Gateway;

    before(async () => {
      upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
      const env = { OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '20', LLM_PROXY_TPM: '3000', LLM_PROXY_API_KEYS: `${CLIENT_KEY},${TOKEN_KEY}`, REDIS_URL: redis.url };
      a = await startGateway(env);
      b = await startGateway(env);
      // Each has counted both in Redis (at start and on every heartbeat).
      await eventually(() => a.app.services.shared.fleet?.instances() === 2 && b.app.services.shared.fleet?.instances() === 2, 10_000);
      await redis.stop();
      await eventually(() => a.app.services.redis?.available() === false && b.app.services.redis?.available() === false, 5_000);
    });
    after(async () => {
      await a?.close();
      await b?.close();
      await upstream?.close();
      await redis.stop();
    });

    test('a key limited to 20 a minute gets 20 over both, not 40; each shows its share of 10 in X-RateLimit-Limit', async () => {
      const statuses: number[] = [];
      const limits = new Set<string | null>();
      for (let index = 0; index < 40; index++) {
        const response = await fetch(`${(index % 2 === 0 ? a : b).url}/v1/models`, { headers: authHeaders() });
        const text = await response.text();
        statuses.push(response.status);
        // The refusal names the limit it counted, and why it is not the key's whole one.
        if (response.status === 429) assert.match(text, /10 requests per minute for this key \(this instance's share of 20 while the shared counter is unavailable\)/);
        limits.add(response.headers.get('x-ratelimit-limit'));
        if (index === 0) assert.equal(response.headers.get('x-ratelimit-remaining'), '9');
      }
      assert.equal(statuses.filter((status) => status === 200).length, 20, statuses.join(','));
      assert.equal(statuses.filter((status) => status === 429).length, 20, statuses.join(','));
      assert.deepEqual([...limits], ['10']);
    });

    test('token limits too: X-RateLimit-Limit-Tokens shows the share of 3000, 1500', async () => {
      for (const gateway of [a, b]) {
        const answered = await chat(gateway.url, TOKEN_KEY, { max_tokens: 50 });
        assert.equal(answered.status, 200, answered.text);
        assert.equal(answered.headers.get('x-ratelimit-limit-tokens'), '1500');
        assert.equal(answered.headers.get('x-ratelimit-limit-requests'), '10');
      }
    });
  });

  describe('Redis killed mid-minute under two instances', { concurrency: 1, skip: typeof midMinuteServer === 'string' ? midMinuteServer : false }, () => {
    const redis = midMinuteServer as RedisServer;
    let fleet: Awaited<ReturnType<typeof twoInstances>>;

    before(async () => {
      fleet = await twoInstances(redis.url);
    });
    after(async () => {
      await fleet?.close();
      await redis.stop();
    });

    test('the minute Redis goes away admits the limit in all, not the limit again: each starts from its share of what Redis counted', async () => {
      // All of it within one minute: a new minute would weigh the last one, not count it.
      await minuteWithRoom(15_000);
      const { a, b } = fleet;
      assert.equal(await admitted(a, b, 12), 12);
      await redis.stop();
      await eventually(() => bothAvailable(a, b, false), 5_000);
      // 20 - 12 = 8 left, 4 for each (its share of 10 less its half of the 12); from zero each admitted 10.
      assert.equal(await admitted(a, b, 40), 8);
    });
  });

  describe('Redis cut and back within a minute under two instances', { concurrency: 1, skip: typeof returnServer === 'string' ? returnServer : false }, () => {
    const redis = returnServer as RedisServer;
    let relay: TcpRelay;
    let fleet: Awaited<ReturnType<typeof twoInstances>>;

    before(async () => {
      // Through a relay the test cuts and restores: Redis keeps its counts meanwhile, as one briefly unreachable does.
      relay = await startTcpRelay(redis.url);
      fleet = await twoInstances(relay.url);
    });
    after(async () => {
      await fleet?.close();
      await relay?.close();
      await redis.stop();
    });

    test('once Redis is back, what the instances admitted alone weighs there: the minute admits about the limit, not its remainder again', async () => {
      // All of it within one minute: the breaker lets a probe through 5 s after it opens.
      await minuteWithRoom(30_000);
      const { a, b } = fleet;
      assert.equal(await admitted(a, b, 12), 12);
      relay.cut();
      await eventually(() => bothAvailable(a, b, false), 5_000);
      assert.equal(await admitted(a, b, 40), 8);
      relay.restore();
      await eventually(() => bothAvailable(a, b, true), 10_000);
      // a's first check carries its 4 (16 in Redis) and is admitted before b's 4 land: 1 over, where
      // nothing carried admitted Redis's remaining 8 (28 in the minute).
      assert.equal(await admitted(a, b, 40), 1);
    });
  });

  describe('a --workers cluster is one instance', { concurrency: 1, skip: typeof clusterServer === 'string' ? clusterServer : false }, () => {
    const redis = clusterServer as RedisServer;
    const members = () => counter.zcard('llm-proxy:instances');
    let counter: Redis;
    let single: Gateway;
    let cluster: GatewayProcess | undefined;
    const startCluster = () =>
      startGatewayProcess({ LLM_PROXY_API_KEYS: CLIENT_KEY, LLM_PROXY_RPM: '20', REDIS_URL: redis.url }, 'server:\n  shutdown_timeout_s: 5\nrouting:\n  discovery_interval_s: 0\n', ['--workers', '2']);

    before(async () => {
      counter = new Redis(redis.url, { maxRetriesPerRequest: 0 });
      counter.on('error', () => undefined);
      single = await startGateway({ LLM_PROXY_RPM: '20', REDIS_URL: redis.url });
    });
    after(async () => {
      await cluster?.cleanup();
      await single?.close();
      counter.disconnect();
      await redis.stop();
    });

    test('counted once beside a single instance, and counted out at once by a graceful stop', async () => {
      const first = await startCluster();
      try {
        await eventually(() => single.app.services.shared.fleet?.instances() === 2, 10_000);
        assert.equal(await members(), 2, 'the single instance and the cluster, not its two workers');
        first.child.kill('SIGTERM');
        assert.equal(await first.exited, 0);
        assert.equal(await members(), 1);
      } finally {
        await first.cleanup();
      }
    });

    test('Redis killed: the cluster\'s workers together admit the share of one instance', async () => {
      cluster = await startCluster();
      // The primary counts 2 at start and tells its workers; the single instance at its next heartbeat.
      await eventually(() => single.app.services.shared.fleet?.instances() === 2, 10_000);
      await eventually(() => single.app.services.redis?.available() === true);
      await redis.stop();
      await eventually(() => single.app.services.redis?.available() === false, 5_000);
      const statuses: number[] = [];
      const limits = new Set<string | string[] | undefined>();
      for (let index = 0; index < 20; index++) {
        const answer = await send(cluster.url, '/v1/models', { headers: authHeaders() });
        statuses.push(answer.status);
        limits.add(answer.headers['x-ratelimit-limit']);
      }
      for (let index = 0; index < 20; index++) statuses.push((await fetch(`${single.url}/v1/models`, { headers: authHeaders() })).status);
      assert.equal(statuses.slice(0, 20).filter((status) => status === 200).length, 10, statuses.join(','));
      assert.equal(statuses.filter((status) => status === 200).length, 20, statuses.join(','));
      assert.deepEqual([...limits], ['10']);
      const served = (worker: number) => cluster?.output().split('\n').some((line) => line.includes('"path":"/v1/models"') && line.includes(`"worker":${worker}`)) === true;
      assert.ok(served(0) && served(1), 'both workers answered');
    });
  });
});
