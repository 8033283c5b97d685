import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskKey, Redactor } from './redactor.js';

test('hides configured secrets exactly, wherever they stand', () => {
  const redactor = new Redactor(['your-api-key', 'plain-secret-value']);
  assert.equal(redactor.redact('key=your-api-key;other'), 'key=[redacted];other');
  assert.equal(redactor.redact('{"msg":"xplain-secret-valuex"}'), '{"msg":"x[redacted]x"}');
});

test('hides key-shaped strings it was not told about', () => {
  const redactor = new Redactor([]);
  for (const [input, expected] of [
    ['Incorrect API key provided: sk-proj-abcdefghijklmnop', 'Incorrect API key provided: [redacted]'],
    ['google AIzaSyA1234567890abcdefghijklmnop', 'google [redacted]'],
    ['Authorization: Bearer abc.def', 'Authorization: Bearer [redacted]'],
    ['"x-api-key":"whatever-123"', '"x-api-key":"[redacted]"'],
    ['GET /v1/models?key=secret123&x=1', 'GET /v1/models?key=[redacted]&x=1'],
    ['groq gsk_abcdefghijklmnopqrstuvwxyz', 'groq [redacted]'],
  ] as const) {
    assert.equal(redactor.redact(input), expected);
  }
});

test('leaves ordinary text alone', () => {
  const redactor = new Redactor(['your-api-key']);
  const text = 'The model gpt-4 answered in 12 ms; task-based routing is fine.';
  assert.equal(redactor.redact(text), text);
});

test('masks keep at most 4 characters', () => {
  assert.equal(maskKey('sk-1234567890abcd'), '****abcd');
  assert.equal(maskKey('short'), '****');
});
