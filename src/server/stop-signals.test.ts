import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { onStopSignals, REPEAT_WINDOW_MS, type SignalTarget, type StopSignal } from './stop-signals.js';

/** A process that records what it raised on itself, on a clock the test moves. */
function fakeProcess() {
  const emitter = new EventEmitter();
  const raised: StopSignal[] = [];
  const clock = { now: 0 };
  const target: SignalTarget = {
    on: (signal, listener) => emitter.on(signal, listener),
    off: (signal, listener) => emitter.off(signal, listener),
    raise: (signal) => raised.push(signal),
  };
  const started: StopSignal[] = [];
  /** What happened at the forced exit, in order: the caller's last words, then the raise. */
  const lastWords: string[] = [];
  onStopSignals((signal) => started.push(signal), () => lastWords.push(`spooled (raised so far: ${raised.length})`), target, () => clock.now);
  return { emitter, raised, clock, started, lastWords };
}

test('copies of the stop within the window start one drain and end nothing', () => {
  const fake = fakeProcess();
  fake.emitter.emit('SIGTERM');
  fake.clock.now = 5;
  fake.emitter.emit('SIGTERM');
  fake.clock.now = REPEAT_WINDOW_MS - 1;
  // A cluster worker under Ctrl-C: SIGINT from the terminal, SIGTERM from its primary.
  fake.emitter.emit('SIGINT');
  assert.deepEqual(fake.started, ['SIGTERM']);
  assert.deepEqual(fake.raised, []);
  assert.deepEqual(fake.lastWords, []);
});

test('a stop signal after the window ends the process by that signal, with no listener left to take it', () => {
  const fake = fakeProcess();
  fake.emitter.emit('SIGINT');
  fake.clock.now = REPEAT_WINDOW_MS;
  fake.emitter.emit('SIGINT');
  assert.deepEqual(fake.started, ['SIGINT']);
  assert.deepEqual(fake.raised, ['SIGINT']);
  // The usage spool is written before the signal that ends the process is raised.
  assert.deepEqual(fake.lastWords, ['spooled (raised so far: 0)']);
  assert.equal(fake.emitter.listenerCount('SIGINT') + fake.emitter.listenerCount('SIGTERM'), 0);
});
