// The shared Redis connection names what keeps it from connecting (a wrong password, a database
// number the server lacks, TLS to a plain port) once per outage, with REDIS_URL's password masked,
// and never uses a connection whose SELECT failed: ioredis would go on in database 0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { MemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import { RedisRateLimiter } from '../../src/rate-limit/redis-rate-limiter.js';
import { RedisConnection } from '../../src/store/redis-connection.js';
import { fakeRedis } from '../support/fake-redis.js';
import { eventually } from '../support/gateway-harness.js';

const PASSWORD = 'pw-planted-7f3a9c1e';
function capture() {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  return { lines, logger };
}

describe('Redis connection problems are named once, without the password', () => {
  test('a refused password: one warning over several reconnects, then "redis connected" when it is accepted', async () => {
    const fake = await fakeRedis({ auth: '-WRONGPASS invalid username-password pair or user is disabled.\r\n', select: '+OK\r\n' });
    const { lines, logger } = capture();
    const connection = new RedisConnection({ url: `redis://:${PASSWORD}@127.0.0.1:${fake.port}` }, logger);
    try {
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
      assert.ok(!lines.join('').includes(PASSWORD), 'the password was logged');
    } finally {
      await connection.close();
      await fake.close();
    }
  });

  test('a database number the server lacks: Redis is not used (not database 0), and the reason is logged', async () => {
    const fake = await fakeRedis({ auth: '+OK\r\n', select: '-ERR DB index is out of range\r\n' });
    const { lines, logger } = capture();
    const connection = new RedisConnection({ url: `redis://:${PASSWORD}@127.0.0.1:${fake.port}/99` }, logger);
    try {
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
      assert.ok(!lines.join('').includes(PASSWORD), 'the password was logged');
      assert.equal(lines.filter((line) => line.includes('redis connected')).length, 0);
    } finally {
      await connection.close();
      await fake.close();
    }
  });

  test('rediss:// to a port that does not speak TLS: the warning says so', async () => {
    const fake = await fakeRedis({ auth: '+OK\r\n', select: '+OK\r\n' });
    const { lines, logger } = capture();
    const connection = new RedisConnection({ url: `rediss://:${PASSWORD}@127.0.0.1:${fake.port}` }, logger);
    try {
      await eventually(() => lines.some((line) => line.includes('redis connection failed')), 5_000);
      const warning = lines.find((line) => line.includes('redis connection failed')) as string;
      assert.match(warning, /does that port speak TLS/);
      assert.ok(warning.includes(`rediss://:****@127.0.0.1:${fake.port}`), warning);
      assert.ok(!lines.join('').includes(PASSWORD), 'the password was logged');
      assert.equal(connection.available(), false);
    } finally {
      await connection.close();
      await fake.close();
    }
  });
});
