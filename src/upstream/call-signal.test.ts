import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallAbort, delay } from './call-signal.js';

test('CallAbort: each listener runs once, on the first abort; removed listeners and later adds never run', () => {
  const abort = new CallAbort();
  const heard: string[] = [];
  const removed = () => heard.push('removed');
  abort.addEventListener('abort', () => heard.push('a'));
  abort.addEventListener('abort', removed);
  abort.addEventListener('abort', () => heard.push('b'), { once: true });
  abort.removeEventListener('abort', removed);
  assert.equal(abort.aborted, false);
  abort.abort();
  abort.abort(new Error('second'));
  abort.addEventListener('abort', () => heard.push('late'));
  assert.deepEqual(heard, ['a', 'b']);
  assert.equal(abort.aborted, true);
  assert.ok(abort.reason instanceof Error, 'the default reason is an Error');
  assert.equal((abort.reason as Error).name, 'AbortError');
});

test('delay: resolves after the time; rejects with the reason when the signal aborts first, and at once when it already has', async () => {
  const quiet = new CallAbort();
  await delay(5, quiet);
  const abort = new CallAbort();
  const reason = new Error('client left');
  const waiting = delay(60_000, abort);
  abort.abort(reason);
  await assert.rejects(waiting, (error) => error === reason);
  await assert.rejects(delay(1, abort), (error) => error === reason);
  // An AbortSignal is a CallSignal too.
  const controller = new AbortController();
  const real = delay(60_000, controller.signal);
  controller.abort(reason);
  await assert.rejects(real, (error) => error === reason);
});
