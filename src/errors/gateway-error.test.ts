import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayError } from './gateway-error.js';

test('with(): a copy with the changed fields, every other field kept (provider, Retry-After, cause)', () => {
  const cause = new Error('socket hang up');
  const original = new GatewayError({ status: 429, type: 'rate_limit_error', code: 'upstream_rate_limited', message: "Bad 'tools[0].function.name'.", param: 'tools[0].function.name', provider: 'gemini', retryAfterMs: 1500, cause });
  const renamed = original.with({ message: "Bad 'tools[0].name'.", param: 'tools[0].name' });
  assert.notEqual(renamed, original);
  assert.deepEqual(
    [renamed.status, renamed.type, renamed.code, renamed.message, renamed.param, renamed.provider, renamed.retryable, renamed.retryAfterMs, renamed.cause],
    [429, 'rate_limit_error', 'upstream_rate_limited', "Bad 'tools[0].name'.", 'tools[0].name', 'gemini', false, 1500, cause],
  );
  const retryable = original.with({ retryable: true });
  assert.equal(retryable.retryable, true);
  assert.equal(retryable.message, original.message);
  assert.equal(retryable.param, original.param);
  assert.equal(original.with({ param: null }).param, null);
  assert.deepEqual(retryable.toBody(), original.toBody());
});
