// A check Redis answers after the limiter gave up on it: Redis stalls (CLIENT PAUSE on a
// redis-server of this test's own), the check times out and is decided locally, then Redis runs it
// when the pause ends. The request, and what the check carried, must count once in Redis, not twice.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { MemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import { RedisRateLimiter } from '../../src/rate-limit/redis-rate-limiter.js';
import { RedisConnection } from '../../src/store/redis-connection.js';
import { eventually } from '../support/gateway-harness.js';
import { startRedisServer, type RedisServer } from '../support/private-redis.js';
import { WINDOW_MS, WINDOW_START } from '../support/rate-limit-timing.js';

const server = await startRedisServer();
const TIMEOUT_MS = 100;
const PAUSE_MS = 600;
const now = WINDOW_START + 1_000;

describe('a limiter check Redis runs after it timed out counts once', { skip: typeof server === 'string' ? server : false }, () => {
  const redis = server as RedisServer;
  let admin: Redis;
  let connection: RedisConnection;
  let prefix = 0;

  before(async () => {
    admin = new Redis(redis.url);
    // Its PINGs time out through the pause too: a high threshold keeps the breaker out of these tests.
    connection = new RedisConnection({ url: redis.url, commandTimeoutMs: TIMEOUT_MS, failureThreshold: 1_000 }, pino({ level: 'silent' }));
    await once(connection.client, 'ready');
  });
  after(async () => {
    await connection.close();
    admin.disconnect();
    await redis.stop();
  });

  function limiter(instances = 1): RedisRateLimiter {
    return new RedisRateLimiter(connection, new MemoryRateLimiter(WINDOW_MS), `t${prefix++}:`, WINDOW_MS, 'caller', undefined, { instances: () => instances });
  }

  /** Stalls Redis for PAUSE_MS; the admin client is paused too, so the pause cannot end early. */
  async function stall(): Promise<void> {
    await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
  }

  /** Waits for the connection's PING to be answered after the pause (every reply before it has come). */
  async function resumed(): Promise<void> {
    await eventually(() => connection.available(), 3_000);
  }

  test('a request: Redis counts the timed-out check, and it is not carried again', async () => {
    const rl = limiter();
    assert.equal((await rl.consume('k', 100, 1, now)).remaining, 99);
    await stall();
    const alone = await rl.consume('k', 100, 1, now);
    assert.ok(alone.allowed && alone.fallback !== undefined, 'decided locally');
    await resumed();
    assert.equal((await rl.consume('k', 100, 0, now)).remaining, 98, 'two requests made, two counted');
  });

  test('what a timed-out check carried is not carried a second time', async () => {
    const rl = limiter();
    assert.equal((await rl.consume('k', 100, 1, now)).remaining, 99);
    await stall();
    // One check times out; the two after it skip the stalled Redis: three admitted alone.
    for (let index = 0; index < 3; index++) assert.ok((await rl.consume('k', 100, 1, now)).fallback !== undefined);
    await resumed();
    // The first check after the pause carries the two admitted alone (the timed-out one Redis ran)... and stalls too.
    await stall();
    assert.ok((await rl.consume('k', 100, 1, now)).fallback !== undefined);
    await resumed();
    assert.equal((await rl.consume('k', 100, 0, now)).remaining, 95, 'five requests made, five counted');
  });

  test('tokens: a timed-out reservation Redis ran later ends at what the call used', async () => {
    const rl = limiter();
    await stall();
    const reserved = await rl.consume('tpm', 1_000, 800, now);
    assert.ok(reserved.allowed && reserved.fallback !== undefined);
    // Settled at 100 used while Redis is still paused.
    await rl.adjust('tpm', -700, reserved);
    await resumed();
    assert.equal((await rl.consume('tpm', 1_000, 0, now)).remaining, 900);
  });

  test('refused alone (its share is full) but counted by Redis when it ran: not counted', async () => {
    // Two instances: the share is 5, seeded with 2 of Redis's 4; 4 more do not fit it, but fit Redis's 10.
    const rl = limiter(2);
    assert.equal((await rl.consume('share', 10, 4, now)).remaining, 6);
    await stall();
    const refused = await rl.consume('share', 10, 4, now);
    assert.ok(!refused.allowed && refused.fallback !== undefined, 'refused locally');
    await resumed();
    assert.equal((await rl.consume('share', 10, 0, now)).remaining, 6, 'only the first 4');
  });
});
