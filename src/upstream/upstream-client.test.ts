import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { Redactor } from '../logging/redactor.js';
import { retryAfterMs, UpstreamClient } from './upstream-client.js';

function client(): UpstreamClient {
  return new UpstreamClient({ connectTimeoutMs: 10_000, ttfbTimeoutMs: 120_000, idleTimeoutMs: 120_000, maxResponseBytes: 1024 }, new Redactor([]));
}

test('a group connect timeout other than the default gets one Agent of its own, made once', async () => {
  const upstream = client();
  assert.equal(upstream.agentFor(10_000), upstream.agent, 'the default value is the main Agent');
  const quick = upstream.agentFor(200);
  assert.notEqual(quick, upstream.agent);
  assert.equal(upstream.agentFor(200), quick, 'reused, not made per call');
  assert.notEqual(upstream.agentFor(3_000), quick);
  await upstream.close();
});

test('close() closes the per-group Agents too, and makes no new one afterwards', async () => {
  const upstream = client();
  const quick = upstream.agentFor(200);
  await upstream.close();
  assert.equal(upstream.agent.closed, true);
  assert.equal(quick.closed, true);
  assert.equal(upstream.agentFor(500), upstream.agent, 'a late call meets the closed main Agent');
});

describe('retryAfterMs', () => {
  it('reads milliseconds, seconds and HTTP dates', () => {
    assert.equal(retryAfterMs({ 'retry-after-ms': '250' }), 250);
    assert.equal(retryAfterMs({ 'retry-after': '3' }), 3000);
    const later = retryAfterMs({ 'retry-after': new Date(Date.now() + 60_000).toUTCString() }) ?? 0;
    assert.ok(later > 55_000 && later <= 60_000, String(later));
  });

  it('an empty or blank header is no hint (Number("") is 0: it used to mean "retry at once")', () => {
    assert.equal(retryAfterMs({ 'retry-after': '' }), undefined);
    assert.equal(retryAfterMs({ 'retry-after': '  ' }), undefined);
    assert.equal(retryAfterMs({ 'retry-after-ms': '', 'retry-after': '2' }), 2000);
    assert.equal(retryAfterMs({ 'retry-after': 'soon' }), undefined);
  });

  it('a value that is neither a number of seconds nor an HTTP date is no hint (Date.parse takes "-5" or "foo 1" as a day in 2001: "retry at once")', () => {
    for (const value of ['-5', '-1', 'foo 1', '12 13', '0x10', '1e3', 'Infinity']) {
      assert.equal(retryAfterMs({ 'retry-after': value }), undefined, value);
      assert.equal(retryAfterMs({ 'retry-after-ms': value }), undefined, `ms ${value}`);
    }
    assert.equal(retryAfterMs({ 'retry-after': ' 7 ' }), 7000);
    assert.equal(retryAfterMs({ 'retry-after': '1.5' }), 1500);
    assert.equal(retryAfterMs({ 'retry-after': 'Thu, 01 Jan 1970 00:00:00 GMT' }), 0, 'a date past is "now"');
    for (const date of ['Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994']) assert.equal(retryAfterMs({ 'retry-after': date }), 0, date);
  });
});
