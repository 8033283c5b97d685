// The shared Redis connection names what keeps it from connecting (a wrong password, a database
// number the server lacks, TLS to a plain port) once per outage, with REDIS_URL's password masked,
// and never uses a connection whose SELECT failed: ioredis would go on in database 0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { MemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import { RedisRateLimiter } from '../../src/rate-limit/redis-rate-limiter.js';
import { RedisConnection } from '../../src/store/redis-connection.js';
import { fakeRedis, type FakeRedis } from '../support/fake-redis.js';
import { eventually } from '../support/gateway-harness.js';
import { startRedisServer, type RedisServer } from '../support/private-redis.js';

const PASSWORD = 'pw-planted-7f3a9c1e';

/** A connection to a fake Redis with these replies, at the URL `url` makes of its port; its log lines are collected. */
async function withConnection(
  replies: FakeRedis['replies'],
  url: (port: number) => string,
  check: (connection: RedisConnection, lines: string[], fake: FakeRedis) => Promise<void>,
): Promise<void> {
  const fake = await fakeRedis(replies);
  const lines: string[] = [];
  const connection = new RedisConnection({ url: url(fake.port) }, pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }));
  try {
    await check(connection, lines, fake);
    assert.ok(!lines.join('').includes(PASSWORD), 'the password was logged');
  } finally {
    await connection.close();
    await fake.close();
  }
}

describe('Redis connection problems are named once, without the password', () => {
  test('a refused password: one warning over several reconnects, then "redis connected" when it is accepted', async () => {
    const wrongPass = '-WRONGPASS invalid username-password pair or user is disabled.\r\n';
    await withConnection({ auth: wrongPass, select: '+OK\r\n' }, (port) => `redis://:${PASSWORD}@127.0.0.1:${port}`, async (connection, lines, fake) => {
      // ioredis retries after 200, 400, 600 ms: three refusals at least.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const warnings = lines.filter((line) => line.includes('redis connection failed'));
      assert.equal(warnings.length, 1, lines.join(''));
      assert.match(warnings[0] as string, /WRONGPASS/);
      assert.ok((warnings[0] as string).includes(`redis://:****@127.0.0.1:${fake.port}`), warnings[0]);
      assert.equal(connection.available(), false);
      fake.replies.auth = '+OK\r\n';
      await eventually(() => connection.available(), 5_000);
      assert.equal(lines.filter((line) => line.includes('redis connected')).length, 1, lines.join(''));
    });
  });

  test('a database number the server lacks: Redis is not used (not database 0), and the reason is logged', async () => {
    const outOfRange = '-ERR DB index is out of range\r\n';
    await withConnection({ auth: '+OK\r\n', select: outOfRange }, (port) => `redis://:${PASSWORD}@127.0.0.1:${port}/99`, async (connection, lines) => {
      // ioredis becomes ready after a failed SELECT, in database 0.
      await eventually(() => connection.client.status === 'ready', 3_000);
      assert.equal(connection.available(), false);
      const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:');
      const decision = await limiter.consume('k', 5, 1, Date.now());
      assert.ok(decision.fallback !== undefined, 'counted by the per-instance fallback');
      const warnings = lines.filter((line) => line.includes('redis connection failed'));
      assert.equal(warnings.length, 1, lines.join(''));
      assert.match(warnings[0] as string, /DB index is out of range/);
      assert.match(warnings[0] as string, /database number in REDIS_URL/);
      assert.equal(lines.filter((line) => line.includes('redis connected')).length, 0);
    });
  });

  test('rediss:// to a port that does not speak TLS: the warning says so', async () => {
    await withConnection({}, (port) => `rediss://:${PASSWORD}@127.0.0.1:${port}`, async (connection, lines, fake) => {
      await eventually(() => lines.some((line) => line.includes('redis connection failed')), 5_000);
      const warning = lines.find((line) => line.includes('redis connection failed')) as string;
      assert.match(warning, /does that port speak TLS/);
      assert.ok(warning.includes(`rediss://:****@127.0.0.1:${fake.port}`), warning);
      assert.equal(connection.available(), false);
    });
  });
});

describe('a stalled connection is skipped until Redis answers, whatever the answer', () => {
  test('a PING refused (NOPERM) still ends the stall: Redis answered', async (t) => {
    const server = await startRedisServer();
    if (typeof server === 'string') return t.skip(server);
    const redis = server as RedisServer;
    const admin = new Redis(redis.url);
    const connection = new RedisConnection({ url: `redis://limited:pw@127.0.0.1:${redis.port}`, commandTimeoutMs: 100 }, pino({ level: 'silent' }));
    try {
      await admin.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', '+@all', '-ping');
      await eventually(() => connection.available(), 3_000);
      await admin.call('CLIENT', 'PAUSE', '300', 'ALL');
      await assert.rejects(connection.run((client) => client.get('k')), /timed out/);
      assert.equal(connection.available(), false, 'skipped while stalled');
      await assert.rejects(connection.run((client) => client.get('k')), /unavailable/);
      // Once the pause ends the connection's PING gets -NOPERM: an answer all the same.
      await eventually(() => connection.available(), 2_000);
      assert.equal(await connection.run((client) => client.get('k')), null);
      assert.equal(connection.breakerState, 'closed');
    } finally {
      await connection.close();
      admin.disconnect();
      await redis.stop();
    }
  });
});
