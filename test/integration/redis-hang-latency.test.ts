// RELIABILITY §4b#15: Redis stops answering (CLIENT PAUSE ALL on a redis-server of this test's
// own) while a request calls it three times in a row: the request limit, the token limit, the
// Redis response cache. From the first request after the stall, none waits on Redis for more than
// one command timeout (250 ms): once a command on the connection has timed out, the request's next
// calls, and other requests', skip Redis at once instead of each waiting out a timeout of its own.
// §4b#16's recovery: once Redis answers again the opened breaker half-opens, closes, and the
// requests admitted alone meanwhile are counted in Redis once.
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { chat } from '../support/key-support.js';
import { startRedisServer, type RedisServer } from '../support/private-redis.js';
import { minuteWithRoom } from '../support/rate-limit-timing.js';

const server = await startRedisServer();
/** The connection's command timeout (src/store/redis-connection.ts). */
const REDIS_TIMEOUT_MS = 250;
/** Scheduling and the local fallback on a loaded machine; under a second timeout. */
const SLACK_MS = 200;
const PAUSE_MS = 2_500;
const RPM = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('§4b#15 Redis stalls under a request that calls it three times', { skip: typeof server === 'string' ? server : false }, () => {
  const redis = server as RedisServer;
  let upstream: FakeOpenAi;
  let admin: Redis;
  const gateways: Gateway[] = [];

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    admin = new Redis(redis.url);
  });
  after(async () => {
    for (const gateway of gateways) await gateway.close();
    admin?.disconnect();
    await upstream?.close();
    await redis.stop();
  });

  /** A gateway on the healthy Redis, and its slowest answer over a few requests there (its baseline). */
  async function healthyGateway(name: string, prepare?: (app: Gateway['app']) => void): Promise<{ gateway: Gateway; baseline: number }> {
    const gateway = await startGateway(
      {
        OPENAI_API_KEY: UPSTREAM_KEY,
        OPENAI_BASE_URL: `${upstream.url}/v1`,
        REDIS_URL: redis.url,
        LLM_PROXY_RPM: String(RPM),
        LLM_PROXY_TPM: '1000000',
        LLM_PROXY_CACHE: 'redis',
      },
      // Counters, cache entries and the instance count of its own: each test starts from none.
      { configure: (config) => void (config.storage.redis_prefix = `${name}:`), ...(prepare === undefined ? {} : { prepare }) },
    );
    gateways.push(gateway);
    // A test gateway does not wait for Redis at start as the server does (2 s at most): on a loaded
    // machine its first requests could otherwise go without it, and its ready check fall in the stall.
    await eventually(() => gateway.app.services.redis?.available() === true, 5_000);
    let baseline = 0;
    for (let index = 0; index < 8; index++) {
      const started = Date.now();
      const res = await chat(gateway.url, CLIENT_KEY, { messages: [{ role: 'user', content: `${name} warm ${index}` }] });
      // The first few warm the code paths up (a cold first request takes far longer than any later one).
      if (index >= 3) baseline = Math.max(baseline, Date.now() - started);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers.get('x-cache'), 'MISS');
    }
    assert.equal(gateway.app.services.redis?.breakerState, 'closed');
    return { gateway, baseline };
  }

  /** Stalls every client of the server for `ms` (the pausing client too: it cannot unpause early). */
  async function pause(ms = PAUSE_MS): Promise<number> {
    await admin.call('CLIENT', 'PAUSE', String(ms), 'ALL');
    return Date.now();
  }

  async function timed(gateway: Gateway, content: string): Promise<number> {
    const started = Date.now();
    const res = await chat(gateway.url, CLIENT_KEY, { messages: [{ role: 'user', content }] });
    assert.equal(res.status, 200, `${content}: ${JSON.stringify(res.body)}`);
    return Date.now() - started;
  }

  test('one request after another: each waits one timeout at most, the first included', { timeout: 20_000 }, async () => {
    const { gateway, baseline } = await healthyGateway('sequential');
    const paused = await pause();
    const times: number[] = [];
    // At most 400: a fast machine answered ~1,000 within the stall, and the key's 1,000 a minute then refused one.
    for (let index = 0; index < 400 && Date.now() - paused < PAUSE_MS - 600; index++) times.push(await timed(gateway, `sequential ${index}`));
    const bound = baseline + REDIS_TIMEOUT_MS + SLACK_MS;
    assert.ok(times.length >= 3, `requests made: ${times.join(',')}`);
    assert.ok(times.every((ms) => ms <= bound), `latencies ${times.join(',')} ms; baseline ${baseline} ms, bound ${bound} ms`);
    await sleep(PAUSE_MS - (Date.now() - paused) + 100);
    assert.equal(gateway.logs.filter((line) => line.includes('redis breaker opened')).length, 1, 'one line per breaker transition');
  });

  test('requests overlapping (one every 30 ms): each waits one timeout at most', { timeout: 20_000 }, async () => {
    // Measured in the Redis calls themselves, request by request: with ~8 requests in flight in this
    // one process, a request's end-to-end time is mostly its share of the CPU (at a load of 12 on 2
    // cores the same burst on a healthy Redis took up to 1.3 s a request, longer than during the
    // stall), which a bound over a one-at-a-time baseline cannot tell from a second timeout.
    const waits = new Map<IncomingMessage, { calls: number; timedOut: number; otherMs: number }>();
    const current = new AsyncLocalStorage<IncomingMessage>();
    const { gateway } = await healthyGateway('overlapping', (app) => {
      // Each request is handled in a context naming it, from before Fastify's first hook (the request limit's).
      const server = app.app.server;
      const handlers = server.listeners('request') as Array<(request: IncomingMessage, response: ServerResponse) => void>;
      server.removeAllListeners('request');
      server.on('request', (request: IncomingMessage, response: ServerResponse) => current.run(request, () => handlers.forEach((handler) => handler.call(server, request, response))));
      const connection = app.services.redis as NonNullable<typeof app.services.redis>;
      const run = connection.run.bind(connection);
      connection.run = async (operation) => {
        const request = current.getStore();
        if (request === undefined) return run(operation);
        const wait = waits.get(request) ?? { calls: 0, timedOut: 0, otherMs: 0 };
        waits.set(request, wait);
        wait.calls++;
        const started = performance.now();
        let timedOut = false;
        try {
          return await run(operation);
        } catch (error) {
          // ioredis's commandTimeout: the call went to Redis and waited it out (a skipped one fails with 'Redis is unavailable').
          timedOut = error instanceof Error && error.message === 'Command timed out';
          throw error;
        } finally {
          if (timedOut) wait.timedOut++;
          else wait.otherMs += performance.now() - started;
        }
      };
    });
    // The spy follows each request into its calls: the request limit, the token limit, the cache (a
    // loaded machine can time a healthy Redis out too, and the calls after that skip run() a moment).
    const warm = [...waits.values()].map((wait) => wait.calls);
    assert.ok(warm.length === 8 && warm.some((calls) => calls >= 3), `calls of the warm-up requests: ${warm.join(',')}`);
    waits.clear();
    const paused = await pause();
    const pending: Array<Promise<number>> = [];
    for (let index = 0; index < 20; index++) {
      pending.push(timed(gateway, `overlapping ${index}`));
      await sleep(30);
    }
    await Promise.all(pending);
    const seen = [...waits.values()];
    // Every request was seen (its cache lookup at least: a limit check skips run() while Redis is unavailable).
    assert.equal(seen.length, 20, `requests seen calling Redis: ${seen.length}`);
    // At most one call of each went to Redis and waited out its timeout: counted, so a loaded machine
    // (which makes that timer fire late) cannot blur one timeout into two.
    assert.ok(seen.every((wait) => wait.timedOut <= 1), `timed-out calls a request: ${seen.map((wait) => wait.timedOut).join(',')}`);
    assert.ok(seen.some((wait) => wait.timedOut === 1), 'the stall was met');
    // Its other calls skipped Redis at once, waiting on nothing (not the probe, not the stall's end):
    // together well under one timeout (tens of ms at a load of 15).
    const other = seen.map((wait) => Math.round(wait.otherMs));
    assert.ok(other.every((ms) => ms < REDIS_TIMEOUT_MS), `ms in the calls that did not time out, a request: ${other.join(',')}`);
    await sleep(PAUSE_MS - (Date.now() - paused) + 100);
    assert.equal(gateway.logs.filter((line) => line.includes('redis breaker opened')).length, 1, 'one line per breaker transition');
  });

  test('a stall shorter than the breaker takes to open: Redis is used again as soon as it answers, and the breaker never opened', { timeout: 20_000 }, async () => {
    const { gateway, baseline } = await healthyGateway('brief');
    const connection = gateway.app.services.redis;
    assert.ok(connection !== undefined);
    // Past the first timeout and the first probe, well before 5 failures (about 1.25 s) open the breaker.
    const paused = await pause(600);
    const times: number[] = [];
    for (let index = 0; Date.now() - paused < 500; index++) times.push(await timed(gateway, `brief ${index}`));
    const bound = baseline + REDIS_TIMEOUT_MS + SLACK_MS;
    assert.ok(times.every((ms) => ms <= bound), `latencies ${times.join(',')} ms; baseline ${baseline} ms, bound ${bound} ms`);
    await eventually(() => connection.available(), 2_000);
    assert.ok(Date.now() - paused < 1_200, `Redis used again ${Date.now() - paused} ms after the stall began`);
    // Read from Redis again: a warm-up request's answer is a hit.
    const again = await chat(gateway.url, CLIENT_KEY, { messages: [{ role: 'user', content: 'brief warm 0' }] });
    assert.equal(again.headers.get('x-cache'), 'HIT', 'answered from Redis');
    assert.equal(connection.breakerState, 'closed', gateway.logs.filter((line) => line.includes('redis')).join(''));
    assert.equal(gateway.logs.filter((line) => line.includes('redis breaker')).length, 0, 'the breaker never changed');
  });

  test('§4b#16 Redis back after the breaker opened: it half-opens after its cool-down and closes, one line each, and what was admitted alone is counted in Redis once', { timeout: 40_000 }, async () => {
    // Counted in one minute of Redis's: the remaining count below is then exact.
    await minuteWithRoom(15_000);
    const { gateway } = await healthyGateway('recovery');
    const connection = gateway.app.services.redis;
    assert.ok(connection !== undefined);
    let made = 8;
    const paused = await pause();
    while (Date.now() - paused < PAUSE_MS - 600) {
      await timed(gateway, `recovery ${made++}`);
      await sleep(50);
    }
    await eventually(() => connection.breakerState === 'open', 3_000);
    // Redis answers again once the pause ends; the breaker lets a call through after its 5 s cool-down.
    await sleep(PAUSE_MS - (Date.now() - paused) + 100);
    assert.equal(connection.breakerState, 'open', 'still cooling down');
    await eventually(() => connection.available(), 8_000);
    const res = await chat(gateway.url, CLIENT_KEY, { messages: [{ role: 'user', content: 'recovery after' }] });
    made++;
    assert.equal(res.status, 200);
    assert.equal(connection.breakerState, 'closed');
    const transitions = gateway.logs.filter((line) => line.includes('redis breaker')).map((line) => (JSON.parse(line) as { to: string }).to);
    assert.deepEqual(transitions, ['open', 'half-open', 'closed']);
    // Every request made is in Redis's count once (the ones admitted alone carried by this check),
    // the first stalled one's too: Redis ran its check when the pause ended, after the proxy had
    // given up on it and counted it alone, and the proxy took that back from what it carried.
    assert.equal(Number(res.headers.get('x-ratelimit-remaining')), RPM - made, `requests made: ${made}`);
  });
});
