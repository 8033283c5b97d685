// RELIABILITY.md §4a: bad inputs, against the real app on a socket, in front of a fake OpenAI
// upstream. Each test is one row: status, the full OpenAI error envelope with the row's code and
// param, an x-request-id, what the upstream saw, and that the server keeps serving afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_KEY, eventually, UPSTREAM_KEY } from '../support/gateway-harness.js';
import {
  assertError,
  assertRequestId,
  assertServing,
  call,
  chat,
  chatCalls,
  hasWholeResponse,
  JSON_AUTH,
  parseRawResponse,
  post,
  rawExchange,
  splitSse,
  startStack,
  type RawResponse,
  type Stack,
  withStack,
} from '../support/reliability-support.js';
import { startFakeGemini } from '../support/fake-gemini.js';
import { createKey, settledSpend } from '../support/key-support.js';

const MESSAGES = [{ role: 'user', content: 'hi' }];

function nestedArrays(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function nestedObjects(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

describe('RELIABILITY §4a bad inputs', () => {
  let stack: Stack;
  let url: string;

  before(async () => {
    stack = await startStack();
    url = stack.url;
  });
  after(async () => {
    await stack.close();
  });

  /** Runs `body` against the chat route and checks the error and that nothing went upstream. */
  async function rejects(body: string | Buffer, expected: { status: number; code: string; param?: string | null }, headers: Record<string, string> = {}) {
    const from = stack.fake.requests.length;
    const res = await post(url, body, headers);
    const error = assertError(res, expected);
    assert.equal(chatCalls(stack.fake, from), 0, 'the upstream saw nothing');
    return { res, error };
  }

  test('4a#1 non-JSON, truncated, top-level []/"x"/null and empty bodies → 400 invalid_json', async () => {
    for (const body of ['not json at all', '{"model":', '{"model":"gpt-4",}', '[]', '"x"', 'null', '42', 'true', '']) {
      await rejects(body, { status: 400, code: 'invalid_json', param: null });
    }
    // A POST with no body and no Content-Type at all is the same bad input, not a crash.
    const bare = await call(url, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    assertError(bare, { status: 400, code: 'invalid_json', param: null });
    await assertServing(url);
  });

  test('4a#2 JSON accepted whatever the Content-Type; non-JSON form body → invalid_json; unknown Content-Encoding → 415', async () => {
    for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8', 'multipart/form-data; boundary=x']) {
      const headers: Record<string, string> = { authorization: `Bearer ${CLIENT_KEY}` };
      if (type !== undefined) headers['content-type'] = type;
      const res = await call(url, { headers, body: chat() });
      assert.equal(res.status, 200, `content-type ${String(type)}: ${res.body}`);
      assertRequestId(res.headers);
    }
    // curl -d 'model=gpt-4&messages=...' sends a real form body: that is not JSON.
    await rejects('model=gpt-4&messages=hi', { status: 400, code: 'invalid_json', param: null }, { 'content-type': 'application/x-www-form-urlencoded' });
    for (const encoding of ['gzip', 'br', 'deflate', 'x-custom']) {
      await rejects(chat(), { status: 415, code: 'unsupported_media_type', param: null }, { 'content-encoding': encoding });
    }
    // A transfer coding before chunked is a compression too (Node undoes only the chunked framing).
    for (const transfer of ['gzip, chunked', 'deflate, chunked']) {
      await rejects(chat(), { status: 415, code: 'unsupported_media_type', param: null }, { 'transfer-encoding': transfer });
    }
    // A Content-Type that is no media type at all says so (any valid type is read as JSON).
    for (const type of [';;;', 'a/b/c']) {
      const { error } = await rejects(chat(), { status: 415, code: 'unsupported_media_type', param: null }, { 'content-type': type });
      assert.match(error.message, /Content-Type/);
    }
    const chunked = await post(url, chat(), { 'transfer-encoding': 'chunked' });
    assert.equal(chunked.status, 200, chunked.body);
    const identity = await post(url, chat(), { 'content-encoding': 'identity' });
    assert.equal(identity.status, 200);
    // A coding on a request without a body (a GET) has nothing to decode: not refused.
    const bodiless = await call(url, { method: 'GET', path: '/v1/models', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-encoding': 'gzip' } });
    assert.equal(bodiless.status, 200, bodiless.body.slice(0, 200));

    // The same on every other route that takes a body (Anthropic's error shape on its own routes).
    const others: Array<[string, string]> = [
      ['/v1/messages', JSON.stringify({ model: 'gpt-4', max_tokens: 5, messages: MESSAGES })],
      ['/v1/messages/count_tokens', JSON.stringify({ model: 'gpt-4', messages: MESSAGES })],
      ['/v1/embeddings', JSON.stringify({ model: 'text-embedding-3-small', input: 'hi' })],
      ['/v1/completions', JSON.stringify({ model: 'gpt-4', prompt: 'hi', max_tokens: 5 })],
      ['/api/condense', JSON.stringify({ messages: [{ role: 'user', content: 'hi there' }] })],
    ];
    for (const [path, body] of others) {
      const send = (headers: Record<string, string>, payload = body) => call(url, { path, headers: { authorization: `Bearer ${CLIENT_KEY}`, ...headers }, body: payload });
      const refusal = (res: RawResponse, status: number, code: string) => {
        if (!path.startsWith('/v1/messages')) return assertError(res, { status, code, param: null });
        assert.equal(res.status, status, `${path}: ${res.body.slice(0, 200)}`);
        return assert.equal((JSON.parse(res.body) as { error: { type: string } }).error.type, 'invalid_request_error');
      };
      for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded']) {
        const res = await send(type === undefined ? {} : { 'content-type': type });
        assert.equal(res.status, 200, `${path} ${String(type)}: ${res.body.slice(0, 200)}`);
      }
      const from = stack.fake.requests.length;
      refusal(await send({ 'content-type': 'application/x-www-form-urlencoded' }, 'model=gpt-4&input=hi'), 400, 'invalid_json');
      refusal(await send({ 'content-type': 'application/json', 'content-encoding': 'gzip' }), 415, 'unsupported_media_type');
      assert.equal(stack.fake.requests.length, from, `${path}: a refused body went upstream`);
    }
    await assertServing(url);
  });

  test('4a#3 body over the 10 MiB cap, by Content-Length or chunked → 413 request_too_large before the body is read', async () => {
    const from = stack.fake.requests.length;
    const head = (extra: string) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n${extra}\r\n`;

    // Declared 11 MiB, 1 KiB sent: the answer comes without waiting for the rest.
    const declared = await rawExchange(url, [head(`Content-Length: ${11 * 1024 * 1024}\r\n`), `{"model":"gpt-4","x":"${'a'.repeat(1024)}`], {
      timeoutMs: 3000,
      until: hasWholeResponse,
    });
    assert.ok(hasWholeResponse(declared.text), `413 before the body: ${declared.text.slice(0, 200)}`);
    assertError(parseRawResponse(declared.text), { status: 413, code: 'request_too_large', param: null });

    // Chunked without a length: 11 MiB in 64 KiB chunks and no terminating chunk.
    const piece = Buffer.alloc(64 * 1024, 'a');
    const frame = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    const pieces: Array<string | Buffer> = [head('Transfer-Encoding: chunked\r\n'), '1\r\n{\r\n'];
    for (let sent = 0; sent < 11 * 1024 * 1024; sent += piece.length) pieces.push(frame);
    const chunked = await rawExchange(url, pieces, { timeoutMs: 5000, until: hasWholeResponse });
    assert.ok(hasWholeResponse(chunked.text), `413 on a chunked body: ${chunked.text.slice(0, 200)}`);
    assertError(parseRawResponse(chunked.text), { status: 413, code: 'request_too_large', param: null });
    assert.equal(chatCalls(stack.fake, from), 0);
    await assertServing(url);
  });

  test('4a#4 nesting deeper than 64 (and 10k-deep [[[[…) → 400 nesting_too_deep; the process survives', async () => {
    const prefix = `{"model":"gpt-4","messages":${JSON.stringify(MESSAGES)},`;
    await rejects(`${prefix}"x":${nestedArrays(65)}}`, { status: 400, code: 'nesting_too_deep' });
    await rejects(`${prefix}"x":${nestedArrays(10_000)}}`, { status: 400, code: 'nesting_too_deep' });
    await rejects(`${prefix}"x":${nestedObjects(10_000)}}`, { status: 400, code: 'nesting_too_deep' });
    // Inside a tool's JSON schema, where any property names are allowed, depth is still bounded.
    const deepSchema = `${prefix}"tools":[{"type":"function","function":{"name":"f","parameters":${nestedObjects(100)}}}]}`;
    await rejects(deepSchema, { status: 400, code: 'nesting_too_deep' });
    // A top-level 10k-deep array is not an object at all.
    await rejects(nestedArrays(10_000), { status: 400, code: 'invalid_json', param: null });
    await rejects(nestedArrays(100_000), { status: 400, code: 'invalid_json', param: null });

    // Shallow enough is fine and forwarded as sent.
    const from = stack.fake.requests.length;
    const ok = await post(url, `${prefix}"x":${nestedArrays(40)}}`);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(chatCalls(stack.fake, from), 1);
    await assertServing(url);
  });

  test('4a#5 wrong types: messages, role, content, temperature, stream, model → 400 invalid_type with the JSON path', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ model: 'gpt-4', messages: 'hi' }, 'messages'],
      [{ model: 'gpt-4', messages: {} }, 'messages'],
      [{ model: 'gpt-4', messages: [] }, 'messages'],
      [{ model: 'gpt-4' }, 'messages'],
      [{ model: 'gpt-4', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      [{ model: 'gpt-4', messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 42 }] }, 'messages[1].content'],
      [{ model: 'gpt-4', messages: MESSAGES, temperature: 'hot' }, 'temperature'],
      [{ model: 'gpt-4', messages: MESSAGES, stream: 'yes' }, 'stream'],
      [{ model: 123, messages: MESSAGES }, 'model'],
      [{ messages: MESSAGES }, 'model'],
    ];
    for (const [body, param] of cases) {
      await rejects(JSON.stringify(body), { status: 400, code: 'invalid_type', param });
    }
    await assertServing(url);
  });

  test('4a#6 out of range: temperature, top_p, n, stop >4, >128 tools → 400 invalid_value with param', async () => {
    const tools = (count: number) => Array.from({ length: count }, (_, index) => ({ type: 'function', function: { name: `f${index}` } }));
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ temperature: 2.5 }, 'temperature'],
      [{ temperature: -0.1 }, 'temperature'],
      [{ top_p: 1.5 }, 'top_p'],
      [{ top_p: -1 }, 'top_p'],
      [{ n: 0 }, 'n'],
      [{ n: -3 }, 'n'],
      [{ n: 129 }, 'n'],
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ tools: tools(129) }, 'tools'],
    ];
    for (const [extra, param] of cases) {
      await rejects(chat(extra), { status: 400, code: 'invalid_value', param });
    }
    // The edges themselves are allowed.
    const edges = await post(url, chat({ temperature: 2, top_p: 1, n: 1, stop: ['a', 'b', 'c', 'd'], tools: tools(128) }));
    assert.equal(edges.status, 200, edges.body);
    await assertServing(url);
  });

  test('4a#7 max_tokens / max_completion_tokens -1, 0, 1.5, "100", 1e9 or above the model limit → 400 invalid_value', async () => {
    for (const param of ['max_tokens', 'max_completion_tokens']) {
      // gpt-4 allows 8192 output tokens in the built-in catalog.
      for (const value of [-1, 0, 1.5, '100', 1e9, 8193, true]) {
        await rejects(chat({ [param]: value }), { status: 400, code: 'invalid_value', param });
      }
      // Within the 8192 output limit; 8192 itself is also gpt-4's whole window, so with any prompt it is
      // now refused up front as context_length_exceeded (issue #8), as OpenAI refuses it.
      const ok = await post(url, chat({ [param]: 8000 }));
      assert.equal(ok.status, 200, ok.body);
    }
    await assertServing(url);
  });

  test('4a#7b a prompt of one unbroken run (300,000 of one letter, CJK with no spaces) → 400 context_length_exceeded at once; others are served meanwhile', { timeout: 30_000 }, async () => {
    // Token counting is BPE, quadratic in the length of one pre-token: unbroken, such a prompt held
    // the event loop for seconds (20,000 CJK characters) to minutes (a body-sized run).
    for (const content of ['x'.repeat(300_000), '中文'.repeat(150_000)]) {
      const from = stack.fake.requests.length;
      const [big, other] = await Promise.all([post(url, chat({}, content)), post(url, chat())]);
      assertError(big, { status: 400, code: 'context_length_exceeded', param: 'messages' });
      assert.equal(other.status, 200, other.body);
      assert.equal(chatCalls(stack.fake, from), 1, 'only the ordinary request went upstream');
    }
    await assertServing(url);
  });

  test('4a#7c a slash and line-break run ("!/\\n/\\n…", one pre-token that is no \\S or \\s run) on every counting route → answered at once; others are served meanwhile', { timeout: 30_000 }, async () => {
    // o200k's punctuation pre-token runs on through any mix of `/` and line breaks; BPE over it is
    // quadratic like any unbroken run (40 KB took 2 s). Each route gets its own text: the tokenizer
    // caches what it has seen, so a repeat would prove nothing.
    const own = await startStack({ fake: { embeddingUsage: false } });
    try {
      const run = (lead: string) => `${lead}${'/\n'.repeat(150_000)}`;
      const cases: Array<{ path: string; body: Record<string, unknown>; check: (res: { status: number; body: string }) => void }> = [
        { path: '/v1/chat/completions', body: { model: 'gpt-4', messages: [{ role: 'user', content: run('!') }] }, check: (res) => void assertError(res as RawResponse, { status: 400, code: 'context_length_exceeded', param: 'messages' }) },
        { path: '/v1/messages', body: { model: 'gpt-4', max_tokens: 10, messages: [{ role: 'user', content: run('?') }] }, check: (res) => {
          assert.equal(res.status, 400, res.body.slice(0, 300));
          assert.equal((JSON.parse(res.body) as { type: string }).type, 'error');
        } },
        { path: '/v1/messages/count_tokens', body: { model: 'gpt-4', messages: [{ role: 'user', content: run('#') }] }, check: (res) => {
          assert.equal(res.status, 200, res.body.slice(0, 300));
          assert.ok((JSON.parse(res.body) as { input_tokens: number }).input_tokens > 100_000);
        } },
        // The fake reports no embedding usage here, so the proxy counts the input itself.
        { path: '/v1/embeddings', body: { model: 'text-embedding-3-small', input: run('%') }, check: (res) => {
          assert.equal(res.status, 200, res.body.slice(0, 300));
          assert.ok((JSON.parse(res.body) as { usage: { prompt_tokens: number } }).usage.prompt_tokens > 100_000);
        } },
        { path: '/v1/completions', body: { model: 'gpt-4', prompt: run('&'), max_tokens: 5 }, check: (res) => void assertError(res as RawResponse, { status: 400, code: 'context_length_exceeded' }) },
        { path: '/api/condense', body: { messages: [{ role: 'user', content: run('*') }, { role: 'assistant', content: 'ok' }] }, check: (res) => {
          assert.equal(res.status, 200, res.body.slice(0, 300));
          assert.ok((JSON.parse(res.body) as { original_tokens: number }).original_tokens > 100_000);
        } },
      ];
      for (const { path, body, check } of cases) {
        const [big, other] = await Promise.all([call(own.url, { path, headers: JSON_AUTH, body: JSON.stringify(body) }), post(own.url, chat())]);
        check(big);
        assert.equal(other.status, 200, `${path}: ${other.body}`);
      }
      await assertServing(own.url);
    } finally {
      await own.close();
    }
  });

  test('4a#7d a 200,000-space field name → 400 forbidden_param at once, the key cut to 64 characters in the answer (the redactor scanned each whitespace run once per position)', { timeout: 30_000 }, async () => {
    // Every error message passes the redactor; its `Bearer\s+` and `api-key\s*[:=]` lookbehinds,
    // tried at every position, made 40,000 spaces take 5 s.
    const name = `${' '.repeat(200_000)}_url`;
    const [big, other] = await Promise.all([post(url, chat({ options: { [name]: 'x' } })), post(url, chat())]);
    // The key is named, cut to its first 64 characters: a 200 KB key is not echoed back whole.
    assertError(big, { status: 400, code: 'forbidden_param', param: `options.${name.slice(0, 64)}…` });
    assert.ok(big.body.length < 1_000, `${big.body.length} bytes`);
    assert.equal(other.status, 200, other.body);
    await assertServing(url);
  });

  test('4a#7e Gemini tool schemas: a $ref fan-out, a 10,000-link $ref chain → 400 unsupported_schema at once; a 20,000-member allOf is served', { timeout: 30_000 }, async () => {
    const gemini = await startFakeGemini();
    const own = await startStack({ env: { GEMINI_API_KEY: 'AIzaSyReliability-0123456789abcdef', GEMINI_BASE_URL: gemini.url } });
    try {
      const withTool = (parameters: Record<string, unknown>) =>
        JSON.stringify({ model: 'gemini-2.5-flash', messages: MESSAGES, tools: [{ type: 'function', function: { name: 'lookup', parameters } }] });
      // 30 definitions that each refer twice to the next: inlined, 2^30 subschemas.
      const fanOut: Record<string, unknown> = { D30: { type: 'string' } };
      for (let index = 0; index < 30; index++) fanOut[`D${index}`] = { type: 'object', properties: { a: { $ref: `#/$defs/D${index + 1}` }, b: { $ref: `#/$defs/D${index + 1}` } } };
      const chain: Record<string, unknown> = { D10000: { type: 'string' } };
      for (let index = 0; index < 10_000; index++) chain[`D${index}`] = { type: 'object', properties: { a: { $ref: `#/$defs/D${index + 1}` } } };
      for (const defs of [fanOut, chain]) {
        const from = gemini.requests.length;
        const [big, other] = await Promise.all([post(own.url, withTool({ type: 'object', properties: { r: { $ref: '#/$defs/D0' } }, $defs: defs })), post(own.url, chat())]);
        assertError(big, { status: 400, code: 'unsupported_schema', param: 'tools[0].function.parameters' });
        assert.equal(other.status, 200, other.body);
        assert.equal(gemini.requests.length, from, 'Gemini saw nothing');
      }
      // Merging allOf members re-spread the whole merged schema for each one (10,000 took 28 s).
      const allOf = Array.from({ length: 20_000 }, (_, index) => ({ properties: { [`p${index}`]: { type: 'string' } }, required: [`p${index}`] }));
      const merged = await post(own.url, withTool({ type: 'object', allOf }));
      assert.equal(merged.status, 200, merged.body.slice(0, 300));
      const sent = gemini.requests.at(-1)?.body as { tools: Array<{ functionDeclarations: Array<{ parameters: { properties: Record<string, unknown>; required: string[] } }> }> };
      const parameters = sent.tools[0]?.functionDeclarations[0]?.parameters;
      assert.equal(Object.keys(parameters?.properties ?? {}).length, 20_000);
      assert.equal(parameters?.required.length, 20_000);
      await assertServing(own.url);
    } finally {
      await own.close();
      await gemini.close();
    }
  });

  test('4a#7f a 9 MB prompt for an 8k-window model is refused after counting about a window of it, not all of it; a request sent with it is served at once', { timeout: 60_000 }, async () => {
    // Mostly distinct seven-letter words (a fixed pseudo-random sequence): the tokenizer's cache
    // cannot help, as with real text of that size.
    let seed = 12_345;
    const letter = () => String.fromCharCode(97 + ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % 26));
    const words = Array.from({ length: 1_100_000 }, () => letter() + letter() + letter() + letter() + letter() + letter() + letter()).join(' ');
    const from = stack.fake.requests.length;
    const bigStarted = performance.now();
    const big = post(url, chat({}, words));
    // Sent once the big body is on its way: it waits for nothing but the big one's parse and count.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const otherStarted = performance.now();
    const other = await post(url, chat());
    const otherMs = performance.now() - otherStarted;
    const refused = await big;
    assertError(refused, { status: 400, code: 'context_length_exceeded', param: 'messages' });
    assert.match(JSON.parse(refused.body).error.message, /: over \d+ prompt tokens \(estimated\)/);
    assert.equal(other.status, 200, other.body);
    // Counted whole, 9 MB of words held the event loop for ~15 s; a window's worth is milliseconds.
    assert.ok(otherMs < 5_000, `the other request waited ${Math.round(otherMs)} ms (the big one took ${Math.round(performance.now() - bigStarted)} ms)`);
    assert.equal(chatCalls(stack.fake, from), 1, 'only the ordinary request went upstream');
  });

  test('4a#8 unknown model → 404 model_not_found, nothing upstream', async () => {
    const { error } = await rejects(chat({ model: 'no-such-model-xyz' }), { status: 404, code: 'model_not_found', param: 'model' });
    assert.equal(error.type, 'invalid_request_error');
    await rejects(chat({ model: 'openai-nope/gpt-4' }), { status: 404, code: 'model_not_found', param: 'model' });
    await assertServing(url);
  });

  test('4a#9 model names with #, ?, @, ../, %2F, %2e%2e, \\, CR/LF, NUL or >256 chars → 404 model_not_found, upstream sees nothing', async () => {
    const names = [
      'gpt-4#frag',
      'gpt-4?x=1',
      'gpt-4@evil.example',
      'openai/../admin',
      'openai/../../v1/models',
      '../gpt-4',
      'openai/./gpt-4',
      'openai%2Fgpt-4',
      'openai/..%2F..%2Fadmin',
      '%2e%2e/gpt-4',
      'openai\\..\\gpt-4',
      'gpt-4\r\nX-Injected: 1',
      'gpt-4\n',
      'gpt-4\u0000',
      'gpt-4 ',
      'openai/',
      '/gpt-4',
      'openai//gpt-4',
      'a'.repeat(257),
      `openai/${'b'.repeat(300)}`,
    ];
    for (const model of names) {
      const from = stack.fake.requests.length;
      const { error } = await rejects(chat({ model }), { status: 404, code: 'model_not_found', param: 'model' });
      // A hostile name is never reflected raw (no control characters, no megabytes).
      assert.ok(!/[\r\n\0]/.test(error.message), JSON.stringify(error.message));
      assert.ok(error.message.length < 400);
      // Not a chat call, nor any other: a name like openai/../../v1/models must not become a GET either.
      assert.equal(stack.fake.requests.length, from, `${JSON.stringify(model)}: the capture server saw a request`);
    }
    await assertServing(url);
  });

  test('4a#9 the same names on every other route that takes a model → 404, the capture server sees 0 requests', async () => {
    const names = ['openai%2Fgpt-4', 'openai/..%2F..%2Fadmin', '%2e%2e/gpt-4', 'openai/../../v1/models', 'gpt-4\u0000', 'gpt-4\r\nX-Injected: 1', 'gpt-4?x=1', 'gpt-4#f', 'gpt-4@evil.example', 'openai\\..\\gpt-4', 'a'.repeat(257)];
    const routes: Array<[string, (model: string) => Record<string, unknown>]> = [
      ['/v1/chat/completions', (model) => ({ model, stream: true, messages: MESSAGES })],
      ['/v1/embeddings', (model) => ({ model, input: 'hi' })],
      ['/v1/completions', (model) => ({ model, prompt: 'hi', max_tokens: 5 })],
      ['/api/condense', (model) => ({ model, messages: MESSAGES })],
      ['/v1/messages', (model) => ({ model, max_tokens: 5, messages: MESSAGES })],
      ['/v1/messages/count_tokens', (model) => ({ model, messages: MESSAGES })],
    ];
    const from = stack.fake.requests.length;
    for (const [path, body] of routes) {
      for (const model of names) {
        const res = await call(url, { path, headers: JSON_AUTH, body: JSON.stringify(body(model)) });
        const label = `${path} ${JSON.stringify(model).slice(0, 40)}`;
        if (path.startsWith('/v1/messages')) {
          // Anthropic's error shape on its routes (README: Anthropic Messages API).
          assert.equal(res.status, 404, `${label}: ${res.body.slice(0, 200)}`);
          assert.equal((JSON.parse(res.body) as { error: { type: string } }).error.type, 'not_found_error', label);
          assertRequestId(res.headers);
        } else {
          assertError(res, { status: 404, code: 'model_not_found', param: 'model' });
        }
      }
    }
    assert.equal(stack.fake.requests.length, from, 'the capture server saw a request');
    await assertServing(url);
  });

  test('4a#11 override params at any depth (api_base, base_url, api_key, …, *_url) → 400 forbidden_param with the path, zero upstream calls', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ api_base: 'http://127.0.0.1:1' }, 'api_base'],
      [{ base_url: 'http://169.254.169.254/' }, 'base_url'],
      [{ api_key: 'sk-attacker-0000000000' }, 'api_key'],
      [{ api_version: '2020-01-01' }, 'api_version'],
      [{ organization: 'org-x' }, 'organization'],
      [{ extra_headers: { authorization: 'Bearer x' } }, 'extra_headers'],
      [{ custom_host: 'evil.example' }, 'custom_host'],
      [{ callback_url: 'http://evil.example/' }, 'callback_url'],
      [{ metadata: { custom_host: 'x' } }, 'metadata.custom_host'],
      [{ messages: [{ role: 'user', content: 'x', base_url: 'http://evil' }] }, 'messages[0].base_url'],
      [{ messages: [{ role: 'user', content: [{ type: 'text', text: 'x', api_key: 'k' }] }] }, 'messages[0].content[0].api_key'],
      [{ extra_body: { nested: [{ deeper: { webhook_url: 'http://evil' } }] } }, 'extra_body.nested[0].deeper.webhook_url'],
    ];
    for (const [extra, param] of cases) {
      await rejects(chat(extra), { status: 400, code: 'forbidden_param', param });
    }
    // Content parts that carry data for the model are not overrides.
    const from = stack.fake.requests.length;
    const image = await post(
      url,
      JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }] }),
    );
    assert.equal(image.status, 200, image.body);
    assert.equal(chatCalls(stack.fake, from), 1);
    await assertServing(url);
  });

  test('4a#11 keys named parameters/schema outside a real schema position are no exemption; real tool and output schemas may name base_url/api_key', async () => {
    // The bypass: a top-level `parameters` or `schema` key once exempted its whole subtree.
    const bypass = { model: 'gpt-4o-mini', messages: MESSAGES, parameters: { base_url: 'http://evil', api_key: 'x' }, schema: { custom_host: 'h' } };
    const { error } = await rejects(JSON.stringify(bypass), { status: 400, code: 'forbidden_param' });
    assert.ok(['parameters.base_url', 'parameters.api_key', 'schema.custom_host'].includes(String(error.param)), String(error.param));
    await rejects(chat({ parameters: { base_url: 'http://evil' } }), { status: 400, code: 'forbidden_param', param: 'parameters.base_url' });
    await rejects(chat({ schema: { custom_host: 'h' } }), { status: 400, code: 'forbidden_param', param: 'schema.custom_host' });
    await rejects(chat({ messages: [{ role: 'user', content: 'x', parameters: { api_key: 'x' } }] }), { status: 400, code: 'forbidden_param', param: 'messages[0].parameters.api_key' });
    await rejects(chat({ metadata: { schema: { base_url: 'http://evil' } } }), { status: 400, code: 'forbidden_param', param: 'metadata.schema.base_url' });

    const schema = { type: 'object', properties: { base_url: { type: 'string' }, api_key: { type: 'string' } }, required: ['base_url'] };
    let from = stack.fake.requests.length;
    const tools = await post(
      url,
      chat({
        tools: [{ type: 'function', function: { name: 'connect', parameters: schema } }],
        response_format: { type: 'json_schema', json_schema: { name: 'out', schema } },
      }),
    );
    assert.equal(tools.status, 200, tools.body);
    assert.equal(chatCalls(stack.fake, from), 1);
    const sent = stack.fake.requests.slice(from).find((request) => request.path.endsWith('/chat/completions'));
    assert.deepEqual((sent?.body?.tools as Array<{ function: { parameters: unknown } }>)[0]?.function.parameters, schema);

    // /v1/messages: Anthropic's `input_schema` is its schema position; a top-level `schema` is not.
    const messages = (extra: Record<string, unknown>) => call(url, { path: '/v1/messages', headers: JSON_AUTH, body: JSON.stringify({ model: 'gpt-4', max_tokens: 10, messages: MESSAGES, ...extra }) });
    from = stack.fake.requests.length;
    const anthropic = await messages({ tools: [{ name: 'connect', input_schema: schema }] });
    assert.equal(anthropic.status, 200, anthropic.body);
    assert.equal(chatCalls(stack.fake, from), 1);
    from = stack.fake.requests.length;
    const refused = await messages({ schema: { api_key: 'x' } });
    assert.equal(refused.status, 400, refused.body);
    assert.match(refused.body, /schema\.api_key/);
    assert.equal(chatCalls(stack.fake, from), 0);
    await assertServing(url);
  });

  test('4a#12 unknown top-level fields are forwarded to OpenAI-format upstreams as sent', async () => {
    const extra = { reasoning_effort: 'low', brand_new_field: { nested: [1, 'two', { three: null }] }, store: false, prediction: { type: 'content', content: 'x' } };
    const from = stack.fake.requests.length;
    const res = await post(url, chat(extra));
    assert.equal(res.status, 200, res.body);
    const sent = stack.fake.requests.slice(from).find((request) => request.path.endsWith('/chat/completions'));
    assert.ok(sent?.body);
    for (const [key, value] of Object.entries(extra)) assert.deepEqual(sent.body[key], value, key);
    assert.equal(res.headers['x-llm-proxy-warnings'], undefined, 'nothing dropped, so no warning');
    assertRequestId(res.headers);
    await assertServing(url);
  });

  test('4a#12 a number JSON cannot carry (1e309) anywhere, forwarded field or tool schema, → 400 invalid_value with its path, never forwarded as null', async () => {
    // Raw text: JSON.stringify cannot write 1e309, JSON.parse reads it as Infinity.
    const tool = '[{"type":"function","function":{"name":"f","parameters":{"type":"number","maximum":1e309}}}]';
    const cases: Array<[string, string]> = [
      [chat().replace(/}$/, ',"brand_new_field":1e309}'), 'brand_new_field'],
      [chat().replace(/}$/, ',"metadata":{"n":[1,-1e309]}}'), 'metadata.n[1]'],
      [chat().replace(/}$/, `,"tools":${tool}}`), 'tools[0].function.parameters.maximum'],
    ];
    for (const [body, param] of cases) await rejects(body, { status: 400, code: 'invalid_value', param });
    const from = stack.fake.requests.length;
    const res = await call(url, { path: '/v1/messages', headers: JSON_AUTH, body: '{"model":"gpt-4","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"extra":0.1e99999}' });
    assert.equal(res.status, 400, res.body);
    assert.equal(stack.fake.requests.length, from, 'the upstream saw nothing');
    await assertServing(url);
  });

  test('4a#13 duplicate keys: the one parsed object (last key wins) drives validation, routing, billing and what is forwarded', async () => {
    const messages = JSON.stringify(MESSAGES);
    // Routing: the last "model" routes, and the same value goes upstream and into the usage row.
    let from = stack.fake.requests.length;
    const routed = await post(url, `{"model":"no-such-model","messages":${messages},"model":"gpt-4"}`);
    assert.equal(routed.status, 200, routed.body);
    const forwarded = stack.fake.requests.slice(from);
    assert.equal(forwarded.length, 1);
    assert.equal(forwarded[0]?.body?.model, 'gpt-4');
    const id = routed.headers['x-request-id'] as string;
    await eventually(() => stack.gateway.usage.recent().some((record) => record.requestId === id));
    assert.equal(stack.gateway.usage.recent().find((record) => record.requestId === id)?.model, 'gpt-4');

    // The other order: the last model is unknown, so nothing goes upstream.
    await rejects(`{"model":"gpt-4","messages":${messages},"model":"no-such-model"}`, { status: 404, code: 'model_not_found', param: 'model' });

    // Validation and forwarding agree on max_tokens.
    from = stack.fake.requests.length;
    const limited = await post(url, `{"model":"gpt-4","messages":${messages},"max_tokens":99999999,"max_tokens":10}`);
    assert.equal(limited.status, 200, limited.body);
    assert.equal(stack.fake.requests.at(-1)?.body?.max_tokens, 10);
    await rejects(`{"model":"gpt-4","messages":${messages},"max_tokens":10,"max_tokens":99999999}`, { status: 400, code: 'invalid_value', param: 'max_tokens' });

    // The response mode and the forwarded stream flag agree.
    from = stack.fake.requests.length;
    const notStreamed = await post(url, `{"model":"gpt-4","messages":${messages},"stream":true,"stream":false}`);
    assert.equal(notStreamed.status, 200);
    assert.match(String(notStreamed.headers['content-type']), /^application\/json/);
    assert.equal(stack.fake.requests.at(-1)?.body?.stream, false);

    // Messages: what the model answers to is what was forwarded.
    const second = await post(url, `{"model":"gpt-4","messages":[{"role":"user","content":"first"}],"messages":[{"role":"user","content":"second"}]}`);
    const answer = JSON.parse(second.body) as { choices: Array<{ message: { content: string } }> };
    assert.match(answer.choices[0]?.message.content ?? '', /You said: second$/);
    assert.deepEqual(stack.fake.requests.at(-1)?.body?.messages, [{ role: 'user', content: 'second' }]);
    assert.ok(stack.fake.requests.length > from);
    await assertServing(url);
  });

  test('4a#13 duplicate keys: the model a key\'s allowlist checks is the model routed and billed, on every route', async () => {
    const limited = await createKey(url, { name: 'dup-keys', models: ['gpt-4o-mini', 'text-embedding-3-small'], max_budget: 100 });
    const headers = { authorization: `Bearer ${limited.key}`, 'content-type': 'application/json' };
    const messages = JSON.stringify(MESSAGES);
    // The allowed model first, a forbidden one last: the last one is what is checked, and refused.
    const refusals: Array<[string, string]> = [
      ['/v1/chat/completions', `{"model":"gpt-4o-mini","messages":${messages},"model":"gpt-4"}`],
      ['/v1/chat/completions', `{"model":"gpt-4o-mini","stream":true,"messages":${messages},"model":"gpt-4"}`],
      ['/v1/completions', `{"model":"gpt-4o-mini","prompt":"hi","model":"gpt-4"}`],
      ['/v1/embeddings', `{"model":"text-embedding-3-small","input":"hi","model":"text-embedding-3-large"}`],
      ['/api/condense', `{"model":"gpt-4o-mini","messages":${messages},"model":"gpt-4"}`],
      ['/v1/messages', `{"model":"gpt-4o-mini","max_tokens":5,"messages":${messages},"model":"gpt-4"}`],
    ];
    const from = stack.fake.requests.length;
    for (const [path, body] of refusals) {
      const res = await call(url, { path, headers, body });
      assert.equal(res.status, 403, `${path}: ${res.body.slice(0, 200)}`);
      if (!path.startsWith('/v1/messages')) assertError(res, { status: 403, code: 'model_not_allowed', type: 'permission_error' });
      else assert.equal((JSON.parse(res.body) as { error: { type: string } }).error.type, 'permission_error');
    }
    assert.equal(stack.fake.requests.length, from, 'nothing refused went upstream');

    // The forbidden model first, the allowed one last: served, forwarded and billed as the allowed one.
    const served = await call(url, { headers, body: `{"model":"gpt-4","messages":${messages},"model":"gpt-4o-mini"}` });
    assert.equal(served.status, 200, served.body);
    assert.deepEqual(stack.fake.requests.slice(from).map((request) => request.body?.model), ['gpt-4o-mini']);
    const plain = await call(url, { headers, body: chat({ model: 'gpt-4o-mini' }) });
    const dearer = await post(url, chat());
    const record = async (res: RawResponse) => {
      const id = res.headers['x-request-id'] as string;
      await eventually(() => stack.gateway.usage.recent().some((entry) => entry.requestId === id));
      return stack.gateway.usage.recent().find((entry) => entry.requestId === id);
    };
    const [servedRecord, plainRecord, dearerRecord] = [await record(served), await record(plain), await record(dearer)];
    assert.equal(servedRecord?.model, 'gpt-4o-mini');
    assert.equal(servedRecord?.keyId, limited.id);
    assert.ok(servedRecord?.cost !== undefined && servedRecord.cost > 0);
    // Same prompt, same answer: priced as gpt-4o-mini, not as the gpt-4 named first.
    assert.equal(servedRecord.cost, plainRecord?.cost);
    assert.notEqual(servedRecord.cost, dearerRecord?.cost);
    const spend = await settledSpend(url, limited.id, servedRecord.cost * 2, 1e-9);
    assert.ok(Math.abs(spend - servedRecord.cost * 2) < 1e-9, `the key's spend ${spend} is two gpt-4o-mini calls`);
    await assertServing(url);
  });

  test('4a#14 __proto__ and constructor.prototype in the body have no effect on any object', async () => {
    const bodies = [
      `{"__proto__":{"admin":true,"polluted":"yes"},"model":"gpt-4","messages":${JSON.stringify(MESSAGES)}}`,
      `{"constructor":{"prototype":{"admin":true,"polluted":"yes"}},"model":"gpt-4","messages":${JSON.stringify(MESSAGES)}}`,
      `{"model":"gpt-4","messages":[{"role":"user","content":"hi","__proto__":{"role":"system","polluted":"yes"}}],"metadata":{"__proto__":"x"}}`,
    ];
    for (const body of bodies) {
      const res = await post(url, body);
      assert.ok(res.status === 200 || res.status === 400, `no 500: ${res.status} ${res.body}`);
      assertRequestId(res.headers);
      assert.equal(({} as Record<string, unknown>).admin, undefined);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    }
    // The role really sent is the one in the message, not one from a __proto__ key.
    assert.equal((stack.fake.requests.at(-1)?.body?.messages as Array<{ role: string }>)[0]?.role, 'user');
    // A required field offered only through __proto__ is still missing.
    await rejects(`{"__proto__":{"model":"gpt-4","messages":${JSON.stringify(MESSAGES)}}}`, { status: 400, code: 'invalid_type', param: 'model' });
    await assertServing(url);
  });

  test('4a#15 invalid UTF-8 → 400 invalid_json; \\u0000 and a lone \\ud800 are served (or 400), never a 500, never a lost usage row', async () => {
    const wrap = (bytes: number[]) =>
      Buffer.concat([Buffer.from('{"model":"gpt-4","messages":[{"role":"user","content":"'), Buffer.from(bytes), Buffer.from('"}]}')]);
    for (const bytes of [[0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80]]) {
      await rejects(wrap(bytes), { status: 400, code: 'invalid_json', param: null });
    }
    for (const content of ['a\\u0000b', '\\ud800', 'x\\udfff\\ud800y', '\\u0000']) {
      const res = await post(url, `{"model":"gpt-4","messages":[{"role":"user","content":"${content}"}]}`);
      assert.ok(res.status === 200 || res.status === 400, `${content}: ${res.status} ${res.body}`);
      if (res.status === 400) assertError(res, { status: 400, code: (JSON.parse(res.body) as { error: { code: string } }).error.code });
      const id = res.headers['x-request-id'] as string;
      if (res.status === 200) {
        await eventually(() => stack.gateway.usage.recent().some((record) => record.requestId === id));
      }
    }
    // Streamed too.
    const streamed = await post(url, `{"model":"gpt-4","stream":true,"messages":[{"role":"user","content":"nul\\u0000 and \\ud800"}]}`);
    assert.equal(streamed.status, 200);
    assert.equal(splitSse(streamed.body).data.at(-1), '[DONE]');
    const id = streamed.headers['x-request-id'] as string;
    await eventually(() => stack.gateway.usage.recent().some((record) => record.requestId === id && record.status === 'ok'));
    await assertServing(url);
  });

  test('4a#16 missing, empty, Basic, doubled, 10 KB, SQL-ish or %00 credentials → 401 invalid_api_key, one body for all', async () => {
    const from = stack.fake.requests.length;
    const headerSets: Array<Record<string, string> | string[]> = [
      {},
      { authorization: 'Bearer ' },
      { authorization: 'Bearer' },
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: `Basic ${Buffer.from(`user:${CLIENT_KEY}`).toString('base64')}` },
      { authorization: `Bearer ${'a'.repeat(10 * 1024)}` },
      { authorization: "Bearer ' OR '1'='1" },
      { authorization: "Bearer x' OR '1'='1' --" },
      { authorization: 'Bearer %00' },
      { authorization: `Bearer ${CLIENT_KEY}%00` },
      { authorization: 'Bearer sk-unknown-0123456789abcdef' },
      { authorization: `Bearer ${CLIENT_KEY}x` },
      { authorization: `bearer  ${CLIENT_KEY.slice(0, -1)}` },
      { 'x-api-key': 'sk-unknown-0123456789abcdef' },
      // Two Authorization headers, even when one of them is valid, are ambiguous.
      ['Authorization', `Bearer ${CLIENT_KEY}`, 'Authorization', 'Bearer sk-unknown-0123456789abcdef'],
      ['Authorization', `Bearer ${CLIENT_KEY}`, 'Authorization', `Bearer ${CLIENT_KEY}`],
    ];
    const bodies = new Set<string>();
    for (const headers of headerSets) {
      const list = Array.isArray(headers) ? [...headers, 'Host', '127.0.0.1', 'Content-Type', 'application/json'] : { ...headers, 'content-type': 'application/json' };
      const res = await call(url, { headers: list, body: chat() });
      const error = assertError(res, { status: 401, code: 'invalid_api_key', param: null, type: 'authentication_error' });
      bodies.add(JSON.stringify(error));
    }
    assert.equal(bodies.size, 1, `malformed and unknown keys get one body: ${[...bodies].join('\n')}`);
    // The hint is readable: the redactor that masks secrets in errors has nothing to mask in it.
    assert.ok(![...bodies][0]?.includes('[redacted]'), [...bodies][0]);
    assert.match([...bodies][0] ?? '', /Authorization.*x-api-key/);
    assert.equal(chatCalls(stack.fake, from), 0);
    await assertServing(url);
  });

  test('4a#16 malformed, unknown static-shaped and unknown virtual-key-shaped keys are refused in similar time (no lookup that takes longer for one kind)', async () => {
    await withStack({ yaml: 'auth:\n  max_failures_per_minute: 0\n' }, async (own) => {
      const kinds: Record<string, (index: number) => Record<string, string>> = {
        missing: () => ({}),
        malformed: (index) => ({ authorization: `Basic ${Buffer.from(`u:${index}`).toString('base64')}` }),
        unknown: (index) => ({ authorization: `Bearer sk-unknown-${index.toString().padStart(24, '0')}` }),
        // A fresh id every time: past the negative cache, so each one is a database look-up.
        'unknown virtual': (index) => ({ authorization: `Bearer sk-gw_${index.toString(16).padStart(16, '0')}_${'A'.repeat(43)}` }),
      };
      const medians: Record<string, number> = {};
      const bodies = new Set<string>();
      for (const [kind, headers] of Object.entries(kinds)) {
        const times: number[] = [];
        for (let index = 0; index < 40; index++) {
          const started = performance.now();
          const res = await call(own.url, { method: 'GET', path: '/v1/models', headers: headers(index) });
          times.push(performance.now() - started);
          bodies.add(JSON.stringify(assertError(res, { status: 401, code: 'invalid_api_key', type: 'authentication_error' })));
        }
        times.sort((a, b) => a - b);
        medians[kind] = times[20] ?? 0;
      }
      assert.equal(bodies.size, 1, 'one body for every kind');
      const values = Object.values(medians);
      assert.ok(Math.max(...values) - Math.min(...values) < 25, `median latencies differ: ${JSON.stringify(medians)}`);
    });
  });

  test('4a#17 key in the query string (?key=, ?api_key=) → 401; the query string never reaches the access log', async () => {
    for (const query of ['?key=query-secret-one', `?api_key=query-secret-two`, `?key=${CLIENT_KEY}`]) {
      const res = await call(url, { path: `/v1/chat/completions${query}`, headers: { 'content-type': 'application/json' }, body: chat() });
      assertError(res, { status: 401, code: 'invalid_api_key', param: null });
      const id = res.headers['x-request-id'] as string;
      await eventually(() => stack.gateway.logs.some((line) => line.includes(id) && line.includes('"msg":"request"')));
      const line = stack.gateway.logs.find((entry) => entry.includes(id) && entry.includes('"msg":"request"')) ?? '';
      assert.match(line, /"path":"\/v1\/chat\/completions"/);
    }
    const all = stack.gateway.logs.join('\n');
    assert.ok(!all.includes('query-secret'), 'no query value in any log line');
    assert.ok(!all.includes('?key=') && !all.includes('?api_key='));
    await assertServing(url);
  });

  test('4a#18 CR/LF or non-latin1 in headers we would copy (x-request-id, metadata) → 400 invalid_header or a safe replacement, no crash', async () => {
    for (const value of ['abc\rdef', 'abc\ndef', 'abc\0def']) {
      const exchange = await rawExchange(url, [`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${value}\r\n\r\n`], { timeoutMs: 2000, until: hasWholeResponse });
      assertError(parseRawResponse(exchange.text), { status: 400, code: 'invalid_header', param: null });
    }
    // Bytes above latin1 (sent as UTF-8) are legal on the wire but not safe to echo: a fresh id replaces them.
    const utf8 = Buffer.concat([
      Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(chat())}\r\nX-Request-Id: `),
      Buffer.from('ид-€-1', 'utf8'),
      Buffer.from(`\r\nConnection: close\r\n\r\n${chat()}`),
    ]);
    const replaced = parseRawResponse((await rawExchange(url, [utf8], { timeoutMs: 3000 })).text);
    assert.equal(replaced.status, 200, replaced.body);
    assertRequestId(replaced.headers);
    // A safe client id is kept; an unsafe or over-long one is replaced.
    const kept = await post(url, chat(), { 'x-request-id': 'client-req-123' });
    assert.equal(kept.headers['x-request-id'], 'client-req-123');
    const long = await post(url, chat(), { 'x-request-id': 'x'.repeat(200) });
    assert.notEqual(long.headers['x-request-id'], 'x'.repeat(200));
    assertRequestId(long.headers);
    // Metadata and user strings with CR/LF and non-latin1 travel in the body only.
    const from = stack.fake.requests.length;
    const metadata = { note: 'line1\r\nX-Injected: yes', name: 'ключ €' };
    const res = await post(url, chat({ metadata, user: 'u\r\nSet-Cookie: a=b' }));
    assert.equal(res.status, 200, res.body);
    assert.equal(res.headers['x-injected'], undefined);
    assert.equal(res.headers['set-cookie'], undefined);
    const sent = stack.fake.requests.slice(from).at(-1);
    assert.deepEqual(sent?.body?.metadata, metadata);
    assert.equal(sent?.headers['x-injected'], undefined);

    // Garbage pipelined behind a request whose stream is under way: no second status line is ever
    // written into the middle of the stream; the stream ends whole, then the 400 and the close
    // (pipelined-bad-request.test.ts).
    stack.fake.enqueue({ kind: 'slow-stream', delayMs: 100 });
    const body = chat({ stream: true });
    const pipelined = await rawExchange(
      url,
      [
        `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        'X-Bad\r\n: header\r\n\r\n',
      ],
      { gapMs: 250, timeoutMs: 4000 },
    );
    assert.match(pipelined.text, /^HTTP\/1\.1 200/);
    const second = pipelined.text.indexOf('HTTP/1.1 ', 1);
    assert.ok(second > pipelined.text.indexOf('data: [DONE]') && pipelined.text.indexOf('data: [DONE]') > 0, 'the stream ended whole before any second status line');
    assert.match(pipelined.text.slice(second), /^HTTP\/1\.1 400/);
    await assertServing(url);
  });

  test('4a#19 client Authorization, x-api-key, cookie, host, x-forwarded-*, forwarded and x-gw-* are never forwarded upstream', async () => {
    const from = stack.fake.requests.length;
    const res = await post(url, chat(), {
      'x-api-key': 'client-x-api-key-value',
      cookie: 'session=client-cookie-value',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'http',
      'x-forwarded-port': '1',
      forwarded: 'for=203.0.113.9;host=evil.example',
      'x-real-ip': '203.0.113.9',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      'x-gw-key-id': 'master',
      'x-gw-role': 'master',
      'x-gw-tenant': 'other-tenant',
    });
    assert.equal(res.status, 200, res.body);
    const sent = stack.fake.requests.slice(from).filter((request) => request.path.endsWith('/chat/completions'));
    assert.equal(sent.length, 1);
    const headers = sent[0]?.headers ?? {};
    assert.equal(headers.authorization, `Bearer ${UPSTREAM_KEY}`, 'only the provider key goes upstream');
    assert.equal(headers.host, new URL(stack.fake.url).host, 'the upstream host, not the client one');
    for (const name of Object.keys(headers)) {
      assert.ok(!/^(x-api-key|cookie|x-forwarded-|forwarded$|x-real-ip|proxy-authorization|x-gw-)/.test(name), `forwarded ${name}`);
    }
    const serialized = JSON.stringify(headers);
    for (const value of [CLIENT_KEY, 'client-x-api-key-value', 'client-cookie-value', '203.0.113.9', 'evil.example', 'other-tenant']) {
      assert.ok(!serialized.includes(value), `upstream headers hold ${value}`);
    }
    // Forged internal headers do not change who the caller is.
    const id = res.headers['x-request-id'] as string;
    await eventually(() => stack.gateway.usage.recent().some((record) => record.requestId === id));
    assert.equal(stack.gateway.usage.recent().find((record) => record.requestId === id)?.keyId, 'static-1');
  });

  test('4a#20 auth is decided on the route, never on Host: odd Host values never bypass it; a malformed or missing Host → 400', async () => {
    const noKey = { 'content-type': 'application/json' };
    for (const host of ['evil/', 'a?b', 'a#b', 'u@h', 'h/../../health', 'a'.repeat(10 * 1024), '127.0.0.1:1/health?']) {
      for (const headers of [noKey, JSON_AUTH]) {
        const res = await call(url, { path: '/v1/models', method: 'GET', headers: { ...headers, host } });
        assertError(res, { status: 400, code: 'invalid_header', param: null });
      }
    }
    // No Host at all on HTTP/1.1.
    const missing = await rawExchange(url, [`GET /v1/models HTTP/1.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n\r\n`], { timeoutMs: 2000, until: hasWholeResponse });
    assertError(parseRawResponse(missing.text), { status: 400, code: 'invalid_header', param: null });
    // Two Host lines are ambiguous (RFC 9112 §3.2), whichever comes first, same value or not.
    for (const [first, second] of [['127.0.0.1', 'evil.example'], ['127.0.0.1', '127.0.0.1']]) {
      const doubled = await rawExchange(url, [`GET /v1/models HTTP/1.1\r\nHost: ${first}\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nhost: ${second}\r\n\r\n`], { timeoutMs: 2000, until: hasWholeResponse });
      assertError(parseRawResponse(doubled.text), { status: 400, code: 'invalid_header', param: null });
    }
    // Ordinary hosts work, and auth still applies with them.
    for (const host of ['localhost:8000', 'llm_proxy:8000', 'api.example.com', '[::1]:8000', '127.0.0.1']) {
      const open = await call(url, { path: '/v1/models', method: 'GET', headers: { ...JSON_AUTH, host } });
      assert.equal(open.status, 200, `${host}: ${open.body}`);
      const closed = await call(url, { path: '/v1/models', method: 'GET', headers: { ...noKey, host } });
      assertError(closed, { status: 401, code: 'invalid_api_key' });
    }
    // Paths that look like the open /health route are still closed routes.
    for (const path of ['/v1/models?x=/health', '/v1/models/../../health', '/health/../v1/models', '//v1/models', '/V1/MODELS', '/v1/models%2f..%2f..%2fhealth']) {
      const res = await call(url, { path, method: 'GET', headers: noKey });
      assert.equal(res.status, 401, `${path}: ${res.status}`);
      assertError(res, { status: 401, code: 'invalid_api_key' });
    }
    const absolute = await rawExchange(url, [`GET http://127.0.0.1/health/../v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`], { timeoutMs: 2000, until: hasWholeResponse });
    assert.notEqual(parseRawResponse(absolute.text).status, 200);
    await assertServing(url);
  });

  test('4a#21 "\\n\\ndata: [DONE]\\n\\n" and a bare \\r echoed into SSE stay JSON-escaped in one data: line; the stream is not cut', async () => {
    const content = 'start\n\ndata: [DONE]\n\nmiddle\rend\r\n\r\ndata: {"x":1}';
    const res = await post(url, chat({ stream: true }, content));
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    assert.ok(!res.body.includes('\r'), 'no raw CR on the wire');
    assert.equal(res.body.split('data: [DONE]').length - 1, 1, 'exactly one [DONE] line');
    const { data } = splitSse(res.body);
    assert.equal(data.at(-1), '[DONE]');
    let text = '';
    let finish: string | null = null;
    for (const item of data.slice(0, -1)) {
      const chunk = JSON.parse(item) as { choices: Array<{ delta: { content?: string }; finish_reason: string | null }> };
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, `Hello from the fake upstream. You said: ${content}`);
    assert.equal(finish, 'stop');
    // Non-streamed, the same text is one JSON string.
    const plain = await post(url, chat({}, content));
    assert.equal((JSON.parse(plain.body) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content, `Hello from the fake upstream. You said: ${content}`);
    assertRequestId(res.headers);
    await assertServing(url);
  });

  test('4a#21 the same strings translated into /v1/messages events, and an upstream error text echoed into a stream, stay inside one data: line', async () => {
    const content = 'start\n\ndata: [DONE]\n\nmiddle\rend\r\n\r\nevent: message_stop\ndata: {"type":"message_stop"}\n\n';
    const translated = await call(url, { path: '/v1/messages', headers: JSON_AUTH, body: JSON.stringify({ model: 'gpt-4', max_tokens: 50, stream: true, messages: [{ role: 'user', content }] }) });
    assert.equal(translated.status, 200, translated.body);
    assert.ok(!translated.body.includes('\r'), 'no raw CR on the wire');
    const blocks = translated.body.split('\n\n').filter((block) => block.length > 0);
    const events = blocks.map((block) => {
      const [event, data, ...rest] = block.split('\n');
      assert.deepEqual(rest, [], `one event and one data line per block: ${JSON.stringify(block)}`);
      assert.match(event ?? '', /^event: [a-z_]+$/);
      assert.match(data ?? '', /^data: \{/);
      return { name: (event ?? '').slice(7), data: JSON.parse((data ?? '').slice(6)) as { type: string; delta?: { text?: string } } };
    });
    assert.equal(events.filter((event) => event.name === 'message_stop').length, 1, 'exactly one message_stop, the last');
    assert.equal(events.at(-1)?.name, 'message_stop');
    const text = events.map((event) => (event.data.type === 'content_block_delta' ? (event.data.delta?.text ?? '') : '')).join('');
    assert.equal(text, `Hello from the fake upstream. You said: ${content}`);

    // A provider's error text is copied into the closing error event: still one JSON-escaped line.
    const message = 'boom\n\ndata: [DONE]\n\n\rx';
    for (const [path, body] of [['/v1/chat/completions', chat({ stream: true })], ['/v1/messages', JSON.stringify({ model: 'gpt-4', max_tokens: 50, stream: true, messages: MESSAGES })]] as const) {
      stack.fake.enqueue({ kind: 'error-event', chunks: 2, message });
      const res = await call(url, { path, headers: JSON_AUTH, body });
      assert.equal(res.status, 200);
      // A failed stream ends on its error event, with no [DONE] line (CONTRACT.md), not even the one in the text.
      assert.ok(!res.body.includes('\r') && !/^data: \[DONE\]$/m.test(res.body), `${path}: the error text broke out of its line: ${JSON.stringify(res.body.slice(-300))}`);
      const last = res.body.trimEnd().split('\n\n').at(-1) ?? '';
      const dataLines = last.split('\n').filter((line) => line.startsWith('data: '));
      assert.equal(dataLines.length, 1, `${path}: ${JSON.stringify(last)}`);
      const parsed = JSON.parse(dataLines[0]?.slice(6) ?? '') as { error: { message: string } };
      assert.ok(parsed.error.message.includes(message), `${path}: ${parsed.error.message}`);
    }
    await assertServing(url);
  });

  test('4a#22 slow headers and slow bodies → 408 and the socket closed at the timeout; slow sockets do not slow others', async () => {
    const slow = await startStack({ yaml: 'server:\n  headers_timeout_s: 1\n  request_timeout_s: 1.5\n' });
    try {
      const headersStart = ['GET /health HTTP/1.1\r\n', 'Host: 127.0.0.1\r\n', 'X-A: 1\r\n', 'X-B: 2\r\n', 'X-C: 3\r\n', 'X-D: 4\r\n', 'X-E: 5\r\n', 'X-F: 6\r\n', 'X-G: 7\r\n'];
      const bodyPieces = [
        `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n`,
        ...Array.from({ length: 20 }, () => '{'),
      ];
      // 50 trickling sockets alongside, to show a normal request is not held up by them.
      const crowd = Array.from({ length: 50 }, () => rawExchange(slow.url, headersStart, { gapMs: 250, timeoutMs: 6000 }));
      const [headersExchange, bodyExchange] = await Promise.all([
        rawExchange(slow.url, headersStart, { gapMs: 250, timeoutMs: 6000 }),
        rawExchange(slow.url, bodyPieces, { gapMs: 250, timeoutMs: 6000 }),
        (async () => {
          const started = Date.now();
          await assertServing(slow.url);
          assert.ok(Date.now() - started < 1500, 'a normal request is served promptly');
        })(),
      ]);
      for (const [exchange, limitMs] of [
        [headersExchange, 1000],
        [bodyExchange, 1500],
      ] as const) {
        assert.ok(exchange.closedByServer, 'the server closed the socket');
        assert.ok(exchange.ms >= limitMs - 100 && exchange.ms < limitMs + 1600, `closed after ${exchange.ms} ms`);
        assertError(parseRawResponse(exchange.text), { status: 408, code: 'request_timeout', param: null });
      }
      for (const exchange of await Promise.all(crowd)) assert.ok(exchange.closedByServer && exchange.ms < 3000, `crowd socket closed after ${exchange.ms} ms`);
      await assertServing(slow.url);
    } finally {
      await slow.close();
    }
  });

  test('4a#23 header block over 16 KiB or more than 100 headers → 431', async () => {
    const big = await rawExchange(url, [`GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`], {
      timeoutMs: 2000,
      until: hasWholeResponse,
    });
    const bigAnswer = parseRawResponse(big.text);
    assertError(bigAnswer, { status: 431, code: 'headers_too_large', param: null });
    // Written by hand on the socket, with the headers every routed answer carries.
    assert.equal(bigAnswer.headers['cache-control'], 'no-store');
    assert.equal(bigAnswer.headers.vary, 'Authorization');
    assert.match(String(bigAnswer.headers['x-request-id']), /^[0-9a-f-]{36}$/);

    const many: Record<string, string> = { authorization: `Bearer ${CLIENT_KEY}` };
    for (let index = 0; index < 101; index++) many[`x-h${index}`] = String(index);
    const res = await call(url, { path: '/v1/models', method: 'GET', headers: many });
    assertError(res, { status: 431, code: 'too_many_headers', param: null });
    // Without a key too: the count is checked before anything else.
    delete many.authorization;
    assertError(await call(url, { path: '/v1/models', method: 'GET', headers: many }), { status: 431, code: 'too_many_headers' });
    await assertServing(url);
  });

  test('4a#24 a stream without stream_options: upstream asked for include_usage, the usage chunk stripped', async () => {
    for (const extra of [{}, { stream_options: { include_usage: false } }, { stream_options: null }]) {
      const from = stack.fake.requests.length;
      const res = await post(url, chat({ stream: true, ...extra }));
      assert.equal(res.status, 200);
      const sent = stack.fake.requests.slice(from).at(-1);
      assert.deepEqual(sent?.body?.stream_options, { include_usage: true });
      const { data } = splitSse(res.body);
      assert.equal(data.at(-1), '[DONE]');
      for (const item of data.slice(0, -1)) {
        const chunk = JSON.parse(item) as { choices: unknown[]; usage?: unknown };
        assert.ok(chunk.choices.length > 0, 'no usage-only chunk');
        assert.ok(chunk.usage === undefined || chunk.usage === null, 'no usage figures');
      }
      // The proxy still counted the provider's usage.
      const id = res.headers['x-request-id'] as string;
      await eventually(() => stack.gateway.usage.recent().some((record) => record.requestId === id));
      const record = stack.gateway.usage.recent().find((entry) => entry.requestId === id);
      assert.equal(record?.estimated, false);
      assert.ok((record?.completionTokens ?? 0) > 0);
    }
    // When asked, exactly one usage chunk, just before [DONE].
    const asked = await post(url, chat({ stream: true, stream_options: { include_usage: true } }));
    const data = splitSse(asked.body).data;
    const usageChunks = data.slice(0, -1).filter((item) => (JSON.parse(item) as { usage?: unknown }).usage);
    assert.equal(usageChunks.length, 1);
    assert.deepEqual((JSON.parse(data.at(-2) ?? '{}') as { choices: unknown[] }).choices, []);
    assertRequestId(asked.headers);
    await assertServing(url);
  });

  test('4a#25 a multipart body (the audio upload shape) with a 10 KB boundary and junk before it → 400 invalid_json at once, nothing upstream', async () => {
    // No route takes multipart (there is no audio endpoint); such a body is simply not JSON, and no
    // boundary is ever searched for, so its length costs nothing (CVE-2024-8984 was a boundary scan).
    const boundary = 'B'.repeat(10 * 1024);
    const part = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const junk = '\r\n-'.repeat(100_000);
    const bodies = [
      `${part('model', 'gpt-4')}${part('file', 'RIFF....WAVE')}--${boundary}--\r\n`,
      `${junk}${part('model', 'gpt-4')}--${boundary}--\r\n`,
      `${'-'.repeat(1_000_000)}${boundary}`,
    ];
    for (const path of ['/v1/chat/completions', '/v1/embeddings', '/v1/messages']) {
      for (const body of bodies) {
        const from = stack.fake.requests.length;
        const started = performance.now();
        const res = await call(url, { path, headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
        const ms = performance.now() - started;
        assert.equal(res.status, 400, `${path}: ${res.body.slice(0, 200)}`);
        if (!path.startsWith('/v1/messages')) assertError(res, { status: 400, code: 'invalid_json', param: null });
        else assert.equal((JSON.parse(res.body) as { error: { type: string } }).error.type, 'invalid_request_error');
        // A parse is milliseconds here; a scan superlinear in these 0.3–1 MB bodies takes far more than
        // this bound, which leaves room for a loaded machine.
        assert.ok(ms < 5_000, `${path}: answered in ${Math.round(ms)} ms`);
        assert.equal(stack.fake.requests.length, from, 'the upstream saw nothing');
      }
    }
    // The OpenAI audio routes are not served: 404, not a parse.
    const audio = await call(url, { path: '/v1/audio/transcriptions', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': `multipart/form-data; boundary=${boundary}` }, body: bodies[1] });
    assertError(audio, { status: 404, code: 'not_found' });
    await assertServing(url);
  });
});
