// The registry of open streams: a list where removal moves the last stream into the gap. Whatever
// the order of adds and removes, it holds exactly the open streams, and keepalives and shutdown
// reach each of them once.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import { shuttingDownError } from './graceful-shutdown.js';
import { StreamRegistry } from './stream-response.js';

/** Stands in for a ServerResponse: records what the registry writes and whether it was destroyed. */
function fakeResponse(): ServerResponse & { written: string[]; wasDestroyed: boolean } {
  const res = {
    written: [] as string[],
    wasDestroyed: false,
    destroyed: false,
    write(chunk: string) {
      res.written.push(chunk);
      return true;
    },
    destroy() {
      res.wasDestroyed = true;
      res.destroyed = true;
    },
  };
  return res as unknown as ServerResponse & { written: string[]; wasDestroyed: boolean };
}

describe('StreamRegistry', () => {
  test('adds and removes in any order: size and membership stay exact, a second remove is a no-op', () => {
    const registry = new StreamRegistry(60_000);
    try {
      let seed = 7;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      const open = new Set<ReturnType<StreamRegistry['add']>>();
      for (let step = 0; step < 5000; step++) {
        if (open.size === 0 || random() < 0.55) open.add(registry.add(fakeResponse()));
        else {
          const victims = [...open];
          const victim = victims[Math.floor(random() * victims.length)]!;
          open.delete(victim);
          registry.remove(victim);
          registry.remove(victim);
        }
        assert.equal(registry.size, open.size);
      }
      // Every stream still open is reached exactly once by a shutdown; removed ones are not.
      const aborted: unknown[] = [];
      for (const stream of open) stream.abort = () => aborted.push(stream);
      assert.equal(registry.interrupt(shuttingDownError()), open.size);
      assert.equal(aborted.length, open.size);
      assert.deepEqual(new Set(aborted), open);
    } finally {
      registry.close();
    }
  });

  test('shutdown: aborts that remove their stream at once do not make the loop skip one; a blocked client is dropped', () => {
    const registry = new StreamRegistry(60_000);
    try {
      const reached: number[] = [];
      const streams = [0, 1, 2, 3].map((index) => {
        const stream = registry.add(fakeResponse(), () => {
          reached.push(index);
          registry.remove(stream);
        });
        return stream;
      });
      streams[2]!.blocked = true;
      const error = shuttingDownError();
      assert.equal(registry.interrupt(error), 4);
      assert.deepEqual(reached.sort(), [0, 1, 3]);
      assert.equal((streams[2]!.res as unknown as { wasDestroyed: boolean }).wasDestroyed, true);
      for (const stream of streams) assert.equal(stream.interrupted, error);
      assert.equal(registry.size, 1);
    } finally {
      registry.close();
    }
  });

  test('keepalives go to idle streams only, not to blocked, recently written or destroyed ones', async () => {
    const registry = new StreamRegistry(300);
    try {
      const idle = registry.add(fakeResponse());
      const blocked = registry.add(fakeResponse());
      blocked.blocked = true;
      const busy = registry.add(fakeResponse());
      const gone = registry.add(fakeResponse());
      gone.res.destroy();
      const removed = registry.add(fakeResponse());
      registry.remove(removed);
      const writtenTo = (stream: typeof idle) => (stream.res as unknown as { written: string[] }).written;
      const keepBusy = setInterval(() => (busy.lastWrite = Date.now()), 20);
      await new Promise((resolve) => setTimeout(resolve, 700));
      clearInterval(keepBusy);
      assert.ok(writtenTo(idle).length >= 1, 'the idle stream got a keepalive');
      assert.ok(writtenTo(idle).every((chunk) => chunk === ': keepalive\n\n'));
      for (const stream of [blocked, busy, gone, removed]) assert.deepEqual(writtenTo(stream), []);
    } finally {
      registry.close();
    }
  });
});
