// The key change bus's subscriber through Redis going away and coming back: announcements reach it
// again, and a bus closed while its connection is coming back leaves no promise unhandled.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { KeyChangeBus } from '../../src/keys/key-change-bus.js';
import { VirtualKeyService } from '../../src/keys/virtual-keys.js';
import { RedisConnection } from '../../src/store/redis-connection.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { createRedisPrefix, type RedisPrefix } from '../support/backing-services.js';
import { eventually } from '../support/gateway-harness.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';

const redis = await createRedisPrefix();
const logger = pino({ level: 'silent' });
/** What the ready check of a (re)connecting ioredis client sends: its reply makes the client ready. */
const READY_CHECK = '\r\ninfo\r\n';

describe('key change bus across a Redis reconnect', { skip: typeof redis === 'string' ? redis : false }, () => {
  const shared = redis as RedisPrefix;
  const channel = `${shared.prefix}key-changes`;
  let dir: string;
  let store: SqlStore;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-bus-'));
    store = new SqlStore({ dbPath: join(dir, 'keys.db') }, logger);
    await store.ready();
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    await shared.drop();
  });

  /** A bus on its own connection through a relay; `invalidated` lists the ids it was told of. */
  async function startBus(relay: TcpRelay) {
    // Commands wait long: a held reply (below) must not time out while the test acts.
    const connection = new RedisConnection({ url: relay.url, commandTimeoutMs: 10_000 }, logger);
    await once(connection.client, 'ready');
    const keys = new VirtualKeyService(store.keys, logger);
    const invalidated: string[] = [];
    keys.invalidate = (id: string) => void invalidated.push(id);
    keys.invalidateAll = () => void invalidated.push('*');
    // The poll is the bus's other path; kept out of the way, only the subscription is under test.
    const bus = new KeyChangeBus(keys, store.keys, logger, { redis: connection, channel, pollMs: 3_600_000 });
    bus.start();
    await waitForSubscribers(1);
    return { connection, bus, invalidated };
  }

  async function waitForSubscribers(count: number): Promise<void> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const [, subscribers] = (await shared.client.pubsub('NUMSUB', channel)) as [string, number];
      if (subscribers === count) return;
      assert.ok(Date.now() < deadline, `${subscribers} subscribers, not ${count}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const announce = (id: string) => shared.client.publish(channel, JSON.stringify({ origin: 'another-instance', id }));

  test('announcements reach the bus again once its connection is back, and the cache starts afresh', async () => {
    const relay = await startTcpRelay(shared.url);
    const { connection, bus, invalidated } = await startBus(relay);
    try {
      await announce('before');
      await eventually(() => invalidated.includes('before'));
      relay.cut();
      await waitForSubscribers(0);
      relay.restore();
      await waitForSubscribers(1);
      await eventually(() => invalidated.includes('*'), 5_000);
      await announce('after');
      await eventually(() => invalidated.includes('after'));
    } finally {
      await bus.close();
      await connection.close();
      await relay.close();
    }
  });

  test('closed while its connection is coming back (the ready check answered after the close): no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    const relay = await startTcpRelay(shared.url);
    const { connection, bus } = await startBus(relay);
    try {
      // Both connections (commands and the subscriber) reconnect; their ready checks stay unanswered.
      const reconnecting = relay.holdRepliesAfter(READY_CHECK, 2);
      relay.cut();
      relay.restore();
      await reconnecting;
      await bus.close();
      relay.release();
      // The subscriber's ready check answered after its close; the command connection's makes it ready.
      await eventually(() => connection.available(), 5_000);
      await waitForSubscribers(0);
      // An unhandled rejection is reported once the microtasks after it have run: a macrotask later.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off('unhandledRejection', listener);
      await connection.close();
      await relay.close();
    }
    assert.deepEqual(unhandled.map((reason) => (reason instanceof Error ? reason.message : reason)), []);
  });
});
