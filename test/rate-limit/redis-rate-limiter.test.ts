// The Redis limiter: the memory limiter's decisions, atomic under concurrency, and a per-instance
// fallback when Redis refuses connections, never answers, or hangs after connecting.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { MemoryRateLimiter } from '../../src/rate-limit/memory-rate-limiter.js';
import { RedisRateLimiter } from '../../src/rate-limit/redis-rate-limiter.js';
import { RedisConnection } from '../../src/store/redis-connection.js';
import { createRedisPrefix, type RedisPrefix } from '../support/backing-services.js';
import { fakeRedis } from '../support/fake-redis.js';
import { eventually } from '../support/gateway-harness.js';
import { checkSettlements, checkWaits, replaySequence, TIMING_CASES, WINDOW_MS, WINDOW_START } from '../support/rate-limit-timing.js';
import { startTcpRelay } from '../support/tcp-relay.js';

const redis = await createRedisPrefix();

describe('Redis rate limiter on a real Redis', { skip: typeof redis === 'string' ? redis : false }, () => {
  const shared = redis as RedisPrefix;
  // These compare decisions, not timeouts: a check the shared Redis answers slowly on a loaded machine
  // (past the 250 ms default) would be decided by the fallback instead, and stall the connection for
  // the next test. Going away is staged by cutting a relay, which fails commands at once.
  const connect = (url: string) => new RedisConnection({ url, commandTimeoutMs: 10_000 }, pino({ level: 'silent' }));
  let connection: RedisConnection;

  before(async () => {
    connection = connect(shared.url);
    await once(connection.client, 'ready');
  });
  after(async () => {
    await connection.close();
    await shared.drop();
  });

  test('the same decisions as the memory limiter within a window', async () => {
    const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), shared.prefix);
    const memory = new MemoryRateLimiter();
    const now = Date.now();
    for (const cost of [1, 2, 1, 3, 1, 1]) {
      const fromRedis = await limiter.consume('same', 5, cost, now);
      const fromMemory = memory.consume('same', 5, cost, now);
      assert.equal(fromRedis.allowed, fromMemory.allowed, `cost ${cost}`);
      assert.equal(fromRedis.remaining, fromMemory.remaining, `cost ${cost}`);
      // Redis's clock and this one differ by the round trip, so the waits are compared on a shared clock below.
      assert.ok(fromRedis.resetMs > 0 && fromRedis.resetMs <= 2 * 60_000);
    }
  });

  test('Retry-After is exact to the second and the ms, as in memory', async () => {
    const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), shared.prefix, WINDOW_MS, 'caller');
    const waits = await checkWaits(limiter, 'case:');
    assert.deepEqual(waits, TIMING_CASES.map((timing) => timing.waitMs));
  });

  test('the same decisions and waits as the memory limiter over several windows', async () => {
    const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), shared.prefix, WINDOW_MS, 'caller');
    const fromRedis = await replaySequence(limiter, 'sequence');
    const fromMemory = await replaySequence(new MemoryRateLimiter(WINDOW_MS), 'sequence');
    assert.ok(fromMemory.some(([allowed]) => allowed) && fromMemory.some(([allowed]) => !allowed));
    assert.deepEqual(fromRedis, fromMemory);
  });

  test('a settlement lands in its reservation\'s window, as in memory', async () => {
    const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), shared.prefix, WINDOW_MS, 'caller');
    await checkSettlements(limiter, 'settle:');
  });

  test('the window a settlement names is Redis\'s, whatever the caller\'s clock says', async () => {
    const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), shared.prefix, WINDOW_MS);
    // A caller's clock far from Redis's: the decision still names the window Redis counted in.
    const decision = await limiter.consume('clock', 100, 80, WINDOW_START);
    assert.equal(decision.windowStart % WINDOW_MS, 0);
    assert.ok(Math.abs(decision.windowStart - Date.now()) < 2 * WINDOW_MS, String(decision.windowStart));
    await limiter.adjust('clock', -70, decision);
    assert.equal((await limiter.consume('clock', 100, 0, WINDOW_START)).remaining, 90);
  });

  test('a reservation is settled by the counter that made it, whether Redis was away then or is away now', async () => {
    // The limiter under test reaches Redis through a relay the test cuts; `direct` reads the shared counter.
    const relay = await startTcpRelay(shared.url);
    const throughRelay = connect(relay.url);
    const local = new MemoryRateLimiter(WINDOW_MS);
    const limiter = new RedisRateLimiter(throughRelay, local, shared.prefix, WINDOW_MS, 'caller');
    const direct = new RedisRateLimiter(connection, new MemoryRateLimiter(WINDOW_MS), shared.prefix, WINDOW_MS, 'caller');
    const now = WINDOW_START + 10_000;
    const away = async () => {
      relay.cut();
      await eventually(() => !throughRelay.available());
    };
    const back = async () => {
      relay.restore();
      await eventually(() => throughRelay.available(), 5_000);
    };
    try {
      await once(throughRelay.client, 'ready');
      await away();
      const counted = await limiter.consume('drift', 100, 80, now);
      assert.equal(counted.allowed, true);
      assert.equal(local.consume('drift', 100, 0, now).remaining, 20, 'counted locally');
      await back();
      const inRedis = await limiter.consume('drift', 100, 15, now);
      assert.equal(inRedis.remaining, 5, 'counted in Redis, with the local 80 carried there');
      // Settled while Redis is away: the local counter never held these 15, so it keeps its 80.
      await away();
      await limiter.adjust('drift', -10, inRedis);
      // Settled once Redis is back: the local reservation's refund goes to the local counter
      // (its 80, already carried, stay in Redis).
      await back();
      await limiter.adjust('drift', -70, counted);
      assert.equal(local.consume('drift', 100, 0, now).remaining, 90, 'local: 80 − 70');
      assert.equal((await direct.consume('drift', 100, 0, now)).remaining, 5, 'Redis: the 80 carried and the 15 reserved there, untouched');
    } finally {
      await throughRelay.close();
      await relay.close();
    }
  });

  test('Redis gone mid-minute: the local counter starts from this instance\'s share of the counts Redis last gave (this minute and the last)', async () => {
    const relay = await startTcpRelay(shared.url);
    const throughRelay = connect(relay.url);
    const local = new MemoryRateLimiter();
    const limiter = new RedisRateLimiter(throughRelay, local, shared.prefix, 60_000, 'caller', undefined, { instances: () => 2 });
    const minute = 100_000 * 60_000;
    try {
      await once(throughRelay.client, 'ready');
      assert.equal((await limiter.consume('seeded', 1_000, 400, minute - 30_000)).allowed, true);
      // Half-way through the next minute: 200 now, the last minute's 400 weighing 200.
      assert.equal((await limiter.consume('seeded', 1_000, 200, minute + 30_000)).remaining, 600);
      relay.cut();
      await eventually(() => !throughRelay.available());
      // The share is 500; from 100 now and 200 last minute (half of 200 and 400) it has 500 − 100 − 100 − 1 left, not 499.
      const decision = await limiter.consume('seeded', 1_000, 1, minute + 30_000);
      assert.deepEqual([decision.allowed, decision.limit, decision.remaining], [true, 500, 299]);
      assert.equal((await limiter.consume('seeded', 1_000, 300, minute + 30_000)).allowed, false);
    } finally {
      await throughRelay.close();
      await relay.close();
    }
  });

  test('Redis back: a key\'s first check adds what this instance admitted alone meanwhile, less refunds, not its seeded part, once', async () => {
    const relay = await startTcpRelay(shared.url);
    const throughRelay = connect(relay.url);
    const limiter = new RedisRateLimiter(throughRelay, new MemoryRateLimiter(), shared.prefix, WINDOW_MS, 'caller', undefined, { instances: () => 2 });
    const direct = new RedisRateLimiter(connection, new MemoryRateLimiter(), shared.prefix, WINDOW_MS, 'caller');
    const now = WINDOW_START + 1_000;
    try {
      await once(throughRelay.client, 'ready');
      assert.equal((await limiter.consume('carried', 100, 40, now)).allowed, true);
      relay.cut();
      await eventually(() => !throughRelay.available());
      // The share is 50, from 20 (half of Redis's 40): 20 and 10 more fit; 5 of the 10 given back.
      assert.equal((await limiter.consume('carried', 100, 20, now + 1_000)).allowed, true);
      const refunded = await limiter.consume('carried', 100, 10, now + 2_000);
      assert.deepEqual([refunded.allowed, refunded.remaining], [true, 0]);
      await limiter.adjust('carried', -5, refunded);
      relay.restore();
      await eventually(() => throughRelay.available(), 5_000);
      // 40 + 25 carried + 1: 34 left, not 59.
      assert.equal((await limiter.consume('carried', 100, 1, now + 3_000)).remaining, 34);
      assert.equal((await limiter.consume('carried', 100, 0, now + 3_000)).remaining, 34, 'carried once');
      assert.equal((await direct.consume('carried', 100, 0, now + 3_000)).remaining, 34);
      // Half-way through the next minute the 66 weigh 33 (uncarried, 41 weighed 20.5: 79 left).
      assert.equal((await direct.consume('carried', 100, 0, WINDOW_START + WINDOW_MS + 30_000)).remaining, 67);
    } finally {
      await throughRelay.close();
      await relay.close();
    }
  });

  test('atomic: 60 concurrent checks against a limit of 20 admit exactly 20', async () => {
    const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), shared.prefix);
    const decisions = await Promise.all(Array.from({ length: 60 }, () => limiter.consume('race', 20, 1, Date.now())));
    assert.equal(decisions.filter((decision) => decision.allowed).length, 20);
  });

  test('adjust gives tokens back (never below zero) and takes the excess', async () => {
    const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), shared.prefix);
    const reserved = await limiter.consume('tokens', 100, 80, Date.now());
    assert.equal(reserved.remaining, 20);
    await limiter.adjust('tokens', -70, reserved);
    const more = await limiter.consume('tokens', 100, 10, Date.now());
    assert.equal(more.remaining, 80);
    await limiter.adjust('tokens', -1_000, more);
    assert.equal((await limiter.consume('tokens', 100, 0, Date.now())).remaining, 100);
  });
});

function silentServer(onSocket: (socket: Socket) => void): Promise<{ server: Server; url: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets })),
  );
}

async function closeServer(fake: { server: Server; sockets: Set<Socket> }): Promise<void> {
  for (const socket of fake.sockets) socket.destroy();
  await new Promise((resolve) => fake.server.close(resolve));
}

describe('Redis away: each instance limits on its own and requests keep flowing', () => {
  // A command timeout far longer than these calls may take on a loaded machine: a call that waited
  // on Redis at all would wait out one, and fail the bound of half of it for all the calls together.
  const commandTimeoutMs = 10_000;

  test('connection refused', async () => {
    const probe = await silentServer(() => undefined);
    const url = probe.url;
    await closeServer(probe);
    const connection = new RedisConnection({ url, commandTimeoutMs }, pino({ level: 'silent' }));
    try {
      const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:');
      const started = Date.now();
      const allowed = [];
      for (let index = 0; index < 5; index++) allowed.push((await limiter.consume('k', 3, 1, Date.now())).allowed);
      assert.deepEqual(allowed, [true, true, true, false, false]);
      assert.ok(Date.now() - started < commandTimeoutMs / 2, `took ${Date.now() - started} ms`);
    } finally {
      await connection.close();
    }
  });

  test('accepts the connection but never answers', async () => {
    const fake = await silentServer(() => undefined);
    const connection = new RedisConnection({ url: fake.url, commandTimeoutMs }, pino({ level: 'silent' }));
    try {
      const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:');
      const started = Date.now();
      for (let index = 0; index < 3; index++) assert.equal((await limiter.consume('k', 2, 1, Date.now())).allowed, index < 2);
      assert.ok(Date.now() - started < commandTimeoutMs / 2, `took ${Date.now() - started} ms`);
    } finally {
      await connection.close();
      await closeServer(fake);
    }
  });

  test('connects, then hangs: the first call times out, later calls skip Redis at once, the breaker opens once', { timeout: 60_000 }, async () => {
    // Answers the connection handshake (CLIENT SETINFO, the INFO ready check), then never again (like CLIENT PAUSE).
    const fake = await fakeRedis({}, { hangAfterReady: true });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    // Long beside a call that skips Redis (the memory limiter: well under a millisecond), so a call that
    // waited on Redis at all would show; the proof is the count of commands below, the times a check.
    const commandTimeoutMs = 500;
    const connection = new RedisConnection({ url: `redis://127.0.0.1:${fake.port}`, commandTimeoutMs }, logger);
    try {
      await once(connection.client, 'ready');
      const handshake = fake.commands.length;
      const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:');
      const timings: number[] = [];
      const decisions = [];
      for (let index = 0; index < 12; index++) {
        const started = Date.now();
        decisions.push(await limiter.consume('k', 100, 1, Date.now()));
        timings.push(Date.now() - started);
      }
      assert.ok(
        decisions.every((decision) => decision.allowed && decision.fallback !== undefined),
        'requests keep flowing, counted by this instance',
      );
      // One timeout, not one a call until the breaker opens: a caller calling several times in a row
      // (a request's limits, then the cache) waits one timeout in all. Redis got the first call's check
      // and nothing from the other eleven; the PINGs are the connection asking whether Redis answers again.
      const sent = fake.commands.slice(handshake).map((command) => command.name);
      assert.deepEqual(
        sent.filter((name) => name !== 'ping'),
        ['evalsha'],
        `commands Redis received: ${sent.join(',')}`,
      );
      // A lower bound holds on any machine: the first call waited out its timeout. The upper ones only
      // say no call hung, or waited a timeout (a loaded machine takes a few ms, not hundreds).
      const [first = 0, ...later] = timings;
      assert.ok(first >= commandTimeoutMs - 10 && first < commandTimeoutMs + 5_000, `timed out call: ${timings.join(',')}`);
      assert.ok(later.every((ms) => ms < commandTimeoutMs / 2), `later calls skip Redis: ${timings.join(',')}`);
      // The connection's PINGs go on timing out: with the first call, 5 failures open the breaker.
      await eventually(() => connection.breakerState === 'open', 5 * commandTimeoutMs + 10_000);
      assert.equal(lines.filter((line) => line.includes('redis breaker opened')).length, 1);
    } finally {
      await connection.close();
      await fake.close();
    }
  });
});

describe('Redis reachable but refusing the counter\'s writes (full under noeviction, a read-only replica)', () => {
  test('limits count per instance, said once in the log however many checks fail, and once when Redis counts again', async () => {
    const fake = await fakeRedis({ evalsha: "-OOM command not allowed when used memory > 'maxmemory'.\r\n", get: '$-1\r\n' });
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const connection = new RedisConnection({ url: `redis://127.0.0.1:${fake.port}` }, logger);
    try {
      await once(connection.client, 'ready');
      const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:', 60_000, 'redis', logger);
      for (let index = 0; index < 12; index++) {
        // The cache's reads keep succeeding in between, so the breaker never opens.
        assert.equal(await connection.run((client) => client.get('x:cache')), null);
        const decision = await limiter.consume('k', 100, 1, Date.now());
        assert.equal(decision.allowed, true);
        assert.ok(decision.fallback !== undefined, 'counted per instance');
      }
      assert.equal(connection.breakerState, 'closed');
      const failed = lines.filter((line) => line.includes('rate-limit check failed'));
      assert.equal(failed.length, 1, lines.join(''));
      assert.match(failed[0] as string, /OOM/);
      fake.replies.evalsha = '*6\r\n:1\r\n:99\r\n:0\r\n:0\r\n:1\r\n:0\r\n';
      const shared = await limiter.consume('k', 100, 1, Date.now());
      assert.equal(shared.fallback, undefined, 'counted in Redis');
      await limiter.consume('k', 100, 1, Date.now());
      assert.equal(lines.filter((line) => line.includes('rate limits shared in redis again')).length, 1, lines.join(''));
    } finally {
      await connection.close();
      await fake.close();
    }
  });
});

describe('Redis away: each instance admits its share of a limit (limit ÷ the instances counted in Redis)', () => {
  let connection: RedisConnection;
  before(async () => {
    const probe = await silentServer(() => undefined);
    await closeServer(probe);
    connection = new RedisConnection({ url: probe.url }, pino({ level: 'silent' }));
  });
  after(async () => {
    await connection.close();
  });
  const fleetOf = (instances: number) => ({ instances: () => instances });
  const admitted = async (limiter: RedisRateLimiter, key: string, limit: number): Promise<number> => {
    let count = 0;
    for (let index = 0; index < limit + 5; index++) if ((await limiter.consume(key, limit, 1, WINDOW_START)).allowed) count++;
    return count;
  };

  test('requests: 20 a minute is 20, 10 and 7 for 1, 2 and 3 instances; a limit of 1 stays 1 with 3', async () => {
    const counts = [];
    for (const instances of [1, 2, 3]) {
      const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:', 60_000, 'redis', undefined, fleetOf(instances));
      counts.push(await admitted(limiter, 'rpm', 20));
    }
    assert.deepEqual(counts, [20, 10, 7]);
    const one = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:', 60_000, 'redis', undefined, fleetOf(3));
    assert.equal(await admitted(one, 'rpm', 1), 1);
    const unknown = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:');
    assert.equal(await admitted(unknown, 'rpm', 20), 20, 'no count given: the full limit');
  });

  test('the decision (X-RateLimit-Limit and Remaining) is the share', async () => {
    const limiter = new RedisRateLimiter(connection, new MemoryRateLimiter(), 'x:', 60_000, 'redis', undefined, fleetOf(2));
    const decision = await limiter.consume('headers', 20, 1, WINDOW_START);
    assert.deepEqual([decision.allowed, decision.limit, decision.remaining], [true, 10, 9]);
  });

  test('tokens: the share of the limit; a reservation above the share fits an empty window and settles exactly', async () => {
    const local = new MemoryRateLimiter();
    const limiter = new RedisRateLimiter(connection, local, 'x:', 60_000, 'redis', undefined, fleetOf(3));
    const now = WINDOW_START + 1_000;
    const small = await limiter.consume('tpm-a', 1_000, 300, now);
    assert.deepEqual([small.allowed, small.limit, small.remaining], [true, 334, 34]);
    assert.equal((await limiter.consume('tpm-a', 1_000, 50, now)).allowed, false);
    // 600 asked of a share of 334: counted as 334 (a request larger than the limit is let through on an empty window).
    const large = await limiter.consume('tpm-b', 1_000, 600, now);
    assert.deepEqual([large.allowed, large.remaining], [true, 0]);
    assert.equal((await limiter.consume('tpm-b', 1_000, 1, now)).allowed, false);
    const used = (key: string) => 1_000 - local.consume(key, 1_000, 0, now).remaining;
    assert.equal(used('tpm-b'), 334);
    // Settled at 400 used: the delta is relative to the 600 asked, the counter ends at what was used.
    await limiter.adjust('tpm-b', 400 - 600, large);
    assert.equal(used('tpm-b'), 400);
    const another = await new RedisRateLimiter(connection, local, 'x:', 60_000, 'redis', undefined, fleetOf(3)).consume('tpm-c', 1_000, 600, now);
    await limiter.adjust('tpm-c', -600, another);
    assert.equal(used('tpm-c'), 0, 'given back whole');
    const exact = await limiter.consume('tpm-d', 1_000, 600, now);
    await limiter.adjust('tpm-d', 0, exact);
    assert.equal(used('tpm-d'), 600, 'used all it asked: the part not counted is counted now');
  });
});
