import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { MemoryRateLimiter } from '../rate-limit/memory-rate-limiter.js';
import { IpcRateLimiter, type PrimaryLink } from './worker.js';

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
