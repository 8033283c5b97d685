import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { MemoryRateLimiter } from '../rate-limit/memory-rate-limiter.js';
import type { PrimaryMessage, WorkerMessage } from './messages.js';
import { IpcRateLimiter, PrimaryLink, type PrimaryChannel } from './worker.js';

/** The primary's end of the link, in process: its limiter answers while `answering`, and takes the adjust notices. */
function fakePrimary() {
  const limiter = new MemoryRateLimiter();
  const state = { answering: true };
  const link: Pick<PrimaryLink, 'ask' | 'notify'> & { connected: boolean } = {
    connected: true,
    ask: async (question) => {
      if (!state.answering) throw new Error('the primary process did not answer in time');
      if (question.t !== 'rl.consume') throw new Error(`unexpected question ${question.t}`);
      return limiter.consume(question.key, question.limit, question.cost, question.now);
    },
    notify: (message) => {
      if (message.t === 'rl.adjust') limiter.adjust(message.key, message.delta, { windowStart: message.windowStart });
    },
  };
  return { limiter, state, link };
}

test('a reservation is settled by the counter that made it: the worker\'s own while the primary was silent, the primary\'s otherwise', async () => {
  const primary = fakePrimary();
  const limiter = new IpcRateLimiter(primary.link, () => pino({ level: 'silent' }));
  const now = 1_800_000_000_000 + 10_000;
  const ownRemaining = async () => {
    primary.state.answering = false;
    const { remaining } = await limiter.consume('drift', 100, 0, now);
    primary.state.answering = true;
    return remaining;
  };

  primary.state.answering = false;
  const counted = await limiter.consume('drift', 100, 80, now);
  primary.state.answering = true;
  const atPrimary = await limiter.consume('drift', 100, 50, now);
  assert.equal(atPrimary.remaining, 50, 'counted by the primary, where the worker\'s 80 are not');

  limiter.adjust('drift', -70, counted);
  limiter.adjust('drift', -40, atPrimary);
  assert.equal(await ownRemaining(), 90, 'the worker\'s counter: 80 − 70');
  assert.equal(primary.limiter.consume('drift', 100, 0, now).remaining, 90, 'the primary\'s: 50 − 40');
});

/**
 * A primary at the other end of a real PrimaryLink that answers rate-limit questions as the
 * primary does (its own MemoryRateLimiter), `delayMs` late, and takes notices in the order sent.
 */
function slowPrimary(delayMs: number) {
  const limiter = new MemoryRateLimiter();
  const toWorker = new EventEmitter();
  const state = { delayMs, answered: 0 };
  const channel: PrimaryChannel = {
    connected: true,
    on: (event, listener) => toWorker.on(event, listener),
    once: (event, listener) => toWorker.once(event, listener),
    send: (message: WorkerMessage, callback) => {
      callback(null);
      if (message.t === 'rl.adjust') limiter.adjust(message.key, message.delta, { windowStart: message.windowStart });
      if (message.t !== 'rl.consume') return;
      setTimeout(() => {
        const reply: PrimaryMessage = { llmp: 1, t: 'reply', id: message.id, value: limiter.consume(message.key, message.limit, message.cost, message.now) };
        state.answered++;
        toWorker.emit('message', reply);
      }, state.delayMs);
    },
  };
  return { limiter, state, link: new PrimaryLink(channel, 50) };
}

test('a count the primary answers after the worker gave up on it is taken back there: the request counts once, in the worker', async () => {
  const primary = slowPrimary(150);
  const limiter = new IpcRateLimiter(primary.link, () => pino({ level: 'silent' }));
  const now = 1_800_000_000_000 + 10_000;

  const alone = await limiter.consume('late', 10, 3, now);
  assert.equal(alone.remaining, 7);
  assert.notEqual(alone.fallback, undefined, 'counted by the worker: the primary did not answer within the wait');
  await sleep(250);
  assert.equal(primary.state.answered, 1, 'the primary answered, late');
  assert.equal(primary.limiter.consume('late', 10, 0, now).remaining, 10, 'the primary\'s late count was withdrawn');

  primary.state.delayMs = 0;
  const shared = await limiter.consume('late', 10, 4, now);
  assert.equal(shared.fallback, undefined);
  await sleep(20);
  assert.equal(primary.limiter.consume('late', 10, 0, now).remaining, 6, 'an answer in time stays counted');
});

test('a ping from the primary is answered with a pong of the same id, by the link itself (no handler needed): only a stuck event loop leaves it unanswered', () => {
  const toWorker = new EventEmitter();
  const sent: WorkerMessage[] = [];
  const channel: PrimaryChannel = {
    connected: true,
    on: (event, listener) => toWorker.on(event, listener),
    once: (event, listener) => toWorker.once(event, listener),
    send: (message, callback) => {
      sent.push(message);
      callback(null);
    },
  };
  new PrimaryLink(channel);
  const ping: PrimaryMessage = { llmp: 1, t: 'ping', id: 7 };
  toWorker.emit('message', ping);
  assert.deepEqual(sent, [{ llmp: 1, t: 'pong', id: 7 }]);
});
