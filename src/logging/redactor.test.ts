import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskKey, Redactor, removeHosts, removeUrls } from './redactor.js';

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

test('a long run of dots and colons in provider text is passed in linear time: 200,000 characters', () => {
  // Trimming the run's final dots and colons with /[.:]+$/ was quadratic: 50,000 colons took 2.8 s.
  const started = performance.now();
  const redactor = new Redactor([], ['llm.acme.example']);
  const colons = `${':'.repeat(200_000)}x`;
  assert.equal(redactor.redactProviderText(colons), colons);
  const dotted = `${'a.'.repeat(100_000)}:`;
  assert.equal(redactor.redactProviderText(dotted), dotted);
  // Ordinary addresses in the same text are still removed.
  assert.equal(redactor.redactProviderText(`at llm.acme.example: ${colons}`), `at [host]: ${colons}`);
  assert.ok(performance.now() - started < 2_000, `${Math.round(performance.now() - started)} ms`);
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

/** Checks `rewrite` on a table of [input, expected output] pairs. */
function assertRewrites(rewrite: (text: string) => string, cases: ReadonlyArray<readonly [string, string]>): void {
  for (const [input, expected] of cases) assert.equal(rewrite(input), expected, input);
}

/** Checks that `rewrite` leaves each text as it was. */
function assertKept(rewrite: (text: string) => string, texts: readonly string[]): void {
  assertRewrites(rewrite, texts.map((text) => [text, text] as const));
}

test('provider text loses its URLs (http, https, ws, wss, any case) and keeps the sentence around them', () => {
  assertRewrites(removeUrls, [
    ['No deployment at http://127.0.0.1:9911/v1/chat/completions?key=abc', 'No deployment at [url]'],
    ['See https://api.example.com/v1/x.', 'See [url].'],
    ['(HTTPS://Internal.Host:8443/a), then wss://h/ws?x=1; ws://10.0.0.2:81 too', '([url]), then [url]; [url] too'],
    ['"url":"https://h/p","next":1', '"url":"[url]","next":1'],
    ['<a href=\'http://x/y\'>x</a>', "<a href='[url]'>x</a>"],
    ['a bare http:// or ftp://host/x is no upstream URL', 'a bare http:// or ftp://host/x is no upstream URL'],
  ]);
});

test('provider text loses host addresses written without a scheme: IPv4 with a port, private IPv4, IPv6, names with a port', () => {
  assertRewrites(removeHosts, [
    ['dial tcp 10.0.0.5:8080: connect: connection refused', 'dial tcp [host]: connect: connection refused'],
    ['upstream internal-llm.corp.local:8443 timed out.', 'upstream [host] timed out.'],
    ['no route to [fd00::1]:443 or [FD00::2]', 'no route to [host] or [host]'],
    ['connect ECONNREFUSED ::1:8080', 'connect ECONNREFUSED [host]'],
    ['via fe80::1%eth0, fd00::1 and ::ffff:10.0.0.5', 'via [host], [host] and [host]'],
    ['"host":"203.0.113.7:8000","peer":"192.168.1.20"', '"host":"[host]","peer":"[host]"'],
    ['(localhost:11434), host.docker.internal:11434/v1 and llm.default.svc.cluster.local:8000;', '([host]), [host]/v1 and [host];'],
    ['lookup x on 127.0.0.53:53; 172.16.4.1 and 100.64.0.1 and 169.254.169.254', 'lookup x on [host]; [host] and [host] and [host]'],
  ]);
});

test('host removal leaves times, ratios, versions, model names, file lines and public addresses without a port alone', () => {
  assertKept(removeHosts, [
    'Try again at 10:30 or 10:30:45 (UTC), ratio 3:1 or 16:9, version 1.2.3 and 10.0.1.',
    "model 'llama3:8b' not found, try pulling it first; also qwen2.5:7b, llama3.1:70b and deepseek-r1:1.5b",
    'gpt-4o:latest, ft:gpt-3.5-turbo-0613:personal::7qTVmEwB and anthropic.claude-3-5-sonnet-20240620-v1:0',
    'us.anthropic.claude-3-5-sonnet-20241022-v2:0, amazon.titan-embed-text-v1:2, meta.llama3-8b-instruct-v1:0',
    'at server.go:45, index.js:10:5 and app.py:120; max_tokens:4096, status:429, tokens[0:2], a::b',
    'the public resolver 8.8.8.8 answered; see api.openai.com for limits; std::vector; Error: 404; e.g. foo',
    'port 99999 is no port: 10.0.0.5:99999 and host.example.com:0',
  ]);
});

test('bare names under an internal or cloud suffix go; model names, versions, file names and public API names stay', () => {
  // Error texts as providers and the proxies in front of them write them.
  assertRewrites(removeHosts, [
    ['getaddrinfo ENOTFOUND my-resource.openai.azure.com', 'getaddrinfo ENOTFOUND [host]'],
    ["Resource not found: no deployment 'gpt-4o-mini' on My-Resource.OpenAI.Azure.com (api-version 2024-08-01-preview).", "Resource not found: no deployment 'gpt-4o-mini' on [host] (api-version 2024-08-01-preview)."],
    ['OpenAIException - Connection error. host=vllm.internal.corp, model=llama3.1:8b', 'OpenAIException - Connection error. host=[host], model=llama3.1:8b'],
    ['502 Bad Gateway: upstream vllm-0.vllm.inference.svc.cluster.local did not answer', '502 Bad Gateway: upstream [host] did not answer'],
    ['no healthy upstream in llm.default.svc; see gpu-7.lan or tgi.home.arpa.', 'no healthy upstream in [host]; see [host] or [host].'],
    ['Could not connect to bedrock-runtime.us-east-1.amazonaws.com or ip-10-0-1-5.ec2.internal', 'Could not connect to [host] or [host]'],
    ['"endpoint":"my-llm.eastus2.inference.ai.azure.com","app":"chat-api.azurewebsites.net"', '"endpoint":"[host]","app":"[host]"'],
  ]);
  assertKept(removeHosts, [
    "The model `gpt-4o-mini` does not exist or you do not have access to it. Try claude-3.5-sonnet or llama3.1:8b.",
    'Invalid api-version 2024-08-01; read config.yaml, settings.local.json and .env.local; messages.0.content: Field required',
    'Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000. See api.openai.com and azure.com for limits.',
    'the suffix alone is no host: openai.azure.com, amazonaws.com, home.arpa and corp.',
  ]);
});

test('the configured providers\' hosts go by name, port or not, in any case; a one-label name only with its port', () => {
  const redactor = new Redactor(['your-api-key'], ['LLM.Acme.example', 'ollama', '203.0.113.7', '[2001:db8::7]']);
  assert.equal(
    redactor.redactProviderText('Deployment gpt-4o-mini is unavailable on llm.acme.example; ask the admin of LLM.ACME.EXAMPLE:8443, or 203.0.113.7.'),
    'Deployment gpt-4o-mini is unavailable on [host]; ask the admin of [host], or [host].',
  );
  // `ollama` is a word as much as a host.
  assert.equal(redactor.redactProviderText('ollama: model "llama3:8b" not found (ollama:11434); ollama.'), 'ollama: model "llama3:8b" not found ([host]); ollama.');
  // Others' hosts and public API names stay, as without configured hosts.
  assert.equal(redactor.redactProviderText('see llm.other.example and api.openai.com'), 'see llm.other.example and api.openai.com');
  redactor.extend([], ['llm.other.example']);
  assert.equal(redactor.redactProviderText('see llm.other.example and llm.acme.example'), 'see [host] and [host]');
  // Logs keep host names.
  assert.equal(redactor.redact('upstream llm.acme.example answered 503'), 'upstream llm.acme.example answered 503');
});

test('host removal stays linear on hostile input', () => {
  const text = `${'a.'.repeat(20_000)}:${'1:'.repeat(20_000)} ${'[::'.repeat(10_000)} ${'a-'.repeat(20_000)}.b ${'a.'.repeat(20_000)}internal`;
  const started = performance.now();
  removeHosts(text, new Set(['a.internal']));
  assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`);
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
