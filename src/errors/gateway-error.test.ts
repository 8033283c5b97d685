import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  contentPolicyRefusal,
  contextLengthExceeded,
  GatewayError,
  upstreamBadResponse,
  upstreamError,
  upstreamStreamError,
  upstreamTimeout,
  upstreamUnreachable,
} from './gateway-error.js';

test('with(): a copy with the changed fields, every other field kept (provider, Retry-After, cause)', () => {
  const cause = new Error('socket hang up');
  const original = new GatewayError({ status: 429, type: 'rate_limit_error', code: 'upstream_rate_limited', message: "Bad 'tools[0].function.name'.", param: 'tools[0].function.name', provider: 'gemini', retryAfterMs: 1500, cause, attempts: 'gemini/a=429' });
  const renamed = original.with({ message: "Bad 'tools[0].name'.", param: 'tools[0].name' });
  assert.notEqual(renamed, original);
  assert.equal(renamed.attempts, 'gemini/a=429');
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

test('messageWithoutProvider(): every factory that names a provider reads without it (RELIABILITY 4d#8)', () => {
  const named = [
    upstreamTimeout('acme', 'headers'),
    upstreamUnreachable('acme'),
    upstreamBadResponse('acme'),
    upstreamStreamError('acme', 'the connection broke'),
    contextLengthExceeded('acme', 'too long'),
    ...[401, 429, 408, 404, 413, 422, 500].map((status) => upstreamError(status, 'acme', 'boom')),
  ];
  for (const error of named) {
    assert.match(error.message, /'acme'/);
    const unnamed = error.messageWithoutProvider();
    assert.doesNotMatch(unnamed, /acme/, unnamed);
    assert.match(unnamed, /\b[Tt]he provider\b/, unnamed);
  }
  assert.equal(upstreamError(500, 'acme', 'boom').messageWithoutProvider(), 'The provider failed (HTTP 500): boom');
  assert.equal(upstreamStreamError('acme', 'it stalled').messageWithoutProvider(), 'The stream from the provider failed: it stalled.');
  assert.equal(contextLengthExceeded(undefined, 'too long').message, "The conversation is longer than the model's context window (too long)");
  const plain = new GatewayError({ status: 400, type: 'invalid_request_error', code: null, message: "The provider 'acme' is named by the client." });
  assert.equal(plain.messageWithoutProvider(), plain.message, 'without a provider nothing is changed');
});

test("upstreamError(413): the provider's limit on the request's size is a 413 request_too_large, the client's to fix (not retried)", () => {
  const error = upstreamError(413, 'acme', 'Request too large');
  assert.deepEqual([error.status, error.type, error.code, error.param, error.retryable], [413, 'invalid_request_error', 'request_too_large', null, false]);
  assert.equal(error.message, "The provider 'acme' refused the request as too large: Request too large");
});

test("contentPolicyRefusal: the provider's detail goes out as `innererror` in the error JSON, and survives with()", () => {
  const inner = { code: 'ResponsibleAIPolicyViolation', content_filter_result: { hate: { filtered: true, severity: 'high' } } };
  const error = contentPolicyRefusal('azure', 'content_filter', 'filtered', inner);
  assert.deepEqual(error.toBody().error.innererror, inner);
  assert.deepEqual(error.with({ message: 'renamed' }).toBody().error.innererror, inner);
  assert.equal('innererror' in contentPolicyRefusal('azure', 'content_filter', 'filtered').toBody().error, false, 'no detail, no field');
});
