import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallAbort, delay, toAbortSignal } from './call-signal.js';

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

test('toAbortSignal: aborts with the call signal and its reason; already aborted stays so; an AbortSignal is itself', () => {
  const abort = new CallAbort();
  const signal = toAbortSignal(abort);
  assert.equal(signal.aborted, false);
  const reason = new Error('client left');
  abort.abort(reason);
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, reason);
  const gone = new CallAbort();
  gone.abort(reason);
  assert.equal(toAbortSignal(gone).aborted, true);
  const real = new AbortController().signal;
  assert.equal(toAbortSignal(real), real);
});
