// The instance count that divides limits while Redis is away: the share itself, and the heartbeat
// against a redis-server of the test's own (skipped with a message when there is none on PATH).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { RedisConnection } from '../store/redis-connection.js';
import { eventually } from '../../test/support/gateway-harness.js';
import { startRedisServer, type RedisServer } from '../../test/support/private-redis.js';
import { instanceShare, InstanceRegistry } from './instance-registry.js';

const silent = pino({ level: 'silent' });

test('the share: limit ÷ instances, rounded up, at least 1; no limit stays no limit', () => {
  assert.equal(instanceShare(20, 1), 20);
  assert.equal(instanceShare(20, 2), 10);
  assert.equal(instanceShare(20, 3), 7);
  assert.equal(instanceShare(1, 3), 1);
  assert.equal(instanceShare(100_000, 3), 33_334);
  assert.equal(instanceShare(0, 3), 0);
  assert.equal(instanceShare(20, 0), 20);
});

test('Redis never reached: 1 instance, or storage.expected_instances', async () => {
  // Port 1 refuses at once: the heartbeat is skipped, nothing is read.
  const connection = new RedisConnection({ url: 'redis://127.0.0.1:1' }, silent);
  const alone = new InstanceRegistry(connection, { prefix: 'x:' });
  const expected = new InstanceRegistry(connection, { prefix: 'x:', floor: 3 });
  try {
    alone.start();
    expected.start();
    await alone.beat();
    assert.equal(alone.instances(), 1);
    assert.equal(expected.instances(), 3);
  } finally {
    await alone.close();
    await expected.close();
    await connection.close();
  }
});

const server = await startRedisServer();

describe('heartbeat on a private redis-server', { skip: typeof server === 'string' ? server : false }, () => {
  const redis = server as RedisServer;
  const connections: RedisConnection[] = [];
  const connect = async (): Promise<RedisConnection> => {
    const connection = new RedisConnection({ url: redis.url }, silent);
    connections.push(connection);
    await once(connection.client, 'ready');
    return connection;
  };
  let prefix = 0;
  const nextPrefix = () => `t${++prefix}:`;

  before(async () => {
    await connect();
  });
  after(async () => {
    for (const connection of connections) await connection.close();
    await redis.stop();
  });

  test('each registered instance is counted once; a graceful stop is counted out at the next heartbeat', async () => {
    const options = { prefix: nextPrefix(), heartbeatMs: 60_000 };
    const one = new InstanceRegistry(await connect(), options);
    const two = new InstanceRegistry(await connect(), options);
    const three = new InstanceRegistry(await connect(), options);
    for (const registry of [one, two, three]) await registry.beat();
    await one.beat();
    await one.beat();
    assert.deepEqual([one.instances(), two.instances(), three.instances()], [3, 2, 3]);
    await three.close();
    await one.beat();
    assert.equal(one.instances(), 2);
    await two.close();
    await one.close();
    const [client] = connections as [RedisConnection];
    assert.equal(await client.client.exists(`${options.prefix}instances`), 0, 'the last one out leaves nothing behind');
  });

  test('an instance that stops renewing (killed) is dropped after three heartbeats; the set expires with the last', async () => {
    const options = { prefix: nextPrefix(), heartbeatMs: 100 };
    const lasting = new InstanceRegistry(await connect(), options);
    const killed = new InstanceRegistry(await connect(), options);
    try {
      await killed.beat();
      lasting.start();
      await eventually(() => lasting.instances() === 2);
      // Killed: no close, no more heartbeats.
      await eventually(() => lasting.instances() === 1, 2_000);
      const [client] = connections as [RedisConnection];
      const ttl = await client.client.pttl(`${options.prefix}instances`);
      assert.ok(ttl > 0 && ttl <= 300, `expires with the last member: ${ttl} ms`);
    } finally {
      await lasting.close();
    }
  });

  test('the count is read at start, not a heartbeat later; the floor wins over a smaller count only', async () => {
    const options = { prefix: nextPrefix(), heartbeatMs: 60_000 };
    await new InstanceRegistry(await connect(), options).beat();
    const starting = new InstanceRegistry(await connect(), options);
    const changes: number[] = [];
    const floored = new InstanceRegistry(await connect(), { ...options, floor: 4, onChange: (count) => changes.push(count) });
    try {
      starting.start();
      await eventually(() => starting.instances() === 2, 1_000);
      await floored.beat();
      assert.equal(floored.instances(), 4, 'counted 3, floor 4');
      for (let index = 0; index < 2; index++) await new InstanceRegistry(await connect(), options).beat();
      await floored.beat();
      assert.equal(floored.instances(), 5);
      assert.deepEqual(changes, [5], 'told of a change only once the count passed its floor');
    } finally {
      await starting.close();
      await floored.close();
    }
  });

  test('Redis gone: the last count is kept', async () => {
    const options = { prefix: nextPrefix(), heartbeatMs: 60_000 };
    const own = await startRedisServer();
    assert.ok(typeof own !== 'string', String(own));
    const connection = new RedisConnection({ url: own.url }, silent);
    const first = new InstanceRegistry(connection, options);
    const second = new InstanceRegistry(connection, options);
    try {
      await once(connection.client, 'ready');
      await second.beat();
      await first.beat();
      assert.equal(first.instances(), 2);
      await own.stop();
      for (let index = 0; index < 6; index++) await first.beat();
      assert.equal(first.instances(), 2);
    } finally {
      await first.close();
      await second.close();
      await connection.close();
    }
  });
});
