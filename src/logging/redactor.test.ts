import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskKey, Redactor, removeUrls } from './redactor.js';

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

test('long whitespace runs are scanned once: 200,000 spaces, after "Bearer" and "api-key:" too', () => {
  // The lookbehinds, tried at every position, scanned back over the whole run: 40,000 spaces took 7 s.
  // The work is synchronous, so node:test's timeout could not stop it: the time is checked instead.
  const started = performance.now();
  const redactor = new Redactor(['your-api-key']);
  const spaces = ' '.repeat(200_000);
  assert.equal(redactor.redact(spaces), spaces);
  assert.equal(redactor.redact(`Bearer${spaces}`), `Bearer${spaces}`);
  assert.equal(redactor.redact(`api-key:${spaces}x`), `api-key:${spaces}[redacted]`);
  assert.equal(redactor.redact(`Authorization: Bearer${spaces}abc`), `Authorization: Bearer${spaces}[redacted]`);
  assert.ok(performance.now() - started < 5_000, `${Math.round(performance.now() - started)} ms`);
});

test('provider text loses its URLs (http, https, ws, wss, any case) and keeps the sentence around them', () => {
  for (const [input, expected] of [
    ['No deployment at http://127.0.0.1:9911/v1/chat/completions?key=abc', 'No deployment at [url]'],
    ['See https://api.example.com/v1/x.', 'See [url].'],
    ['(HTTPS://Internal.Host:8443/a), then wss://h/ws?x=1; ws://10.0.0.2:81 too', '([url]), then [url]; [url] too'],
    ['"url":"https://h/p","next":1', '"url":"[url]","next":1'],
    ['<a href=\'http://x/y\'>x</a>', "<a href='[url]'>x</a>"],
    ['a bare http:// or ftp://host/x is no upstream URL', 'a bare http:// or ftp://host/x is no upstream URL'],
  ] as const) {
    assert.equal(removeUrls(input), expected);
  }
});

test('redactProviderText removes URLs and still redacts keys', () => {
  const redactor = new Redactor(['your-api-key']);
  assert.equal(
    redactor.redactProviderText('Bad key sk-proj-abcdefghijklmnop at https://host:1/v1?key=abc (your-api-key); retry later'),
    'Bad key [redacted] at [url] ([redacted]); retry later',
  );
  // Logs keep their URLs: only text bound for a client loses them.
  assert.equal(redactor.redact('GET https://host/v1?key=abc'), 'GET https://host/v1?key=[redacted]');
});

test('URL removal stays linear on hostile input', () => {
  const text = `${'http://'.repeat(20_000)}${'.'.repeat(20_000)} ${'https://a'.repeat(20_000)}`;
  const started = performance.now();
  removeUrls(text);
  assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
});
