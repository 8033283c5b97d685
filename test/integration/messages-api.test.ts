// /v1/messages beyond the conformance table (issue #11): both ways of sending a key, Anthropic's error
// shape for every refusal (auth, unknown model, validation, body limit, rate limit), streamed tool
// calls whose input_json_delta fragments always form the complete input (OpenAI sending arguments
// in many pieces, and a call with none), dropped fields listed, thinking mapped, the cache answering
// in Anthropic's format, and Anthropic-only content passed through but refused elsewhere (and passed
// through for a key that may not use a group's non-Anthropic fallback).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { KEYS, record, type Json } from '../support/conformance-providers.js';
import { FAKE_COUNT_TOKENS, readAnthropicFixture, startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, eventually, MASTER_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

const BASE = { id: 'chatcmpl-frag', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-4o-2024-08-06' };

function sse(chunks: Json[]): string {
  return chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join('') + 'data: [DONE]\n\n';
}

function delta(value: Json, finish: string | null = null): Json {
  return { ...BASE, choices: [{ index: 0, delta: value, logprobs: null, finish_reason: finish }] };
}

/** An OpenAI stream with two calls: the first's arguments in 3-character pieces, the second with none at all. */
function fragmentedToolStream(args: string): string {
  const chunks: Json[] = [delta({ role: 'assistant', content: null })];
  chunks.push(delta({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }));
  for (let at = 0; at < args.length; at += 3) chunks.push(delta({ tool_calls: [{ index: 0, function: { arguments: args.slice(at, at + 3) } }] }));
  chunks.push(delta({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } }] }));
  chunks.push(delta({}, 'tool_calls'));
  chunks.push({ ...BASE, choices: [], usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 } });
  return sse(chunks);
}

async function post(url: string, body: unknown, headers: Record<string, string>, path = '/v1/messages'): Promise<{ status: number; body: Json; headers: Headers }> {
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, body: record(JSON.parse(await response.text()) as unknown), headers: response.headers };
}

function assertAnthropicError(body: Json, type: string): void {
  assert.equal(body.type, 'error');
  const error = record(body.error);
  assert.equal(error.type, type, JSON.stringify(body));
  assert.equal(typeof error.message, 'string');
  assert.equal(typeof body.request_id, 'string');
}

const HELLO = { model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] };

describe('/v1/messages: keys, errors, tool streams, cache', () => {
  let openai: FakeOpenAi;
  let anthropic: FakeAnthropic;
  let gemini: FakeGemini;
  let gateway: Gateway;
  let client: Anthropic;

  before(async () => {
    [openai, anthropic, gemini] = await Promise.all([startFakeOpenAi({ apiKey: KEYS.openai }), startFakeAnthropic(), startFakeGemini()]);
    gateway = await startGateway(
      {
        OPENAI_API_KEY: KEYS.openai,
        OPENAI_BASE_URL: `${openai.url}/v1`,
        ANTHROPIC_API_KEY: KEYS.anthropic,
        ANTHROPIC_BASE_URL: anthropic.url,
        GEMINI_API_KEY: KEYS.gemini,
        GEMINI_BASE_URL: gemini.url,
        LLM_PROXY_RPM: '0',
        LLM_PROXY_CACHE: 'memory',
      },
      {
        configure: (config) => {
          config.server.body_limit_mb = 0.05;
          // A Claude group with a GPT fallback: passed through only for keys that may not use the fallback.
          config.models = [{ name: 'claude-backed', deployments: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }], fallbacks: ['gpt-4o'] }];
        },
      },
    );
    client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gateway.url, maxRetries: 0 });
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([openai?.close(), anthropic?.close(), gemini?.close()]);
  });

  test('a key as x-api-key or as Authorization: Bearer; anthropic-version is optional', async () => {
    const viaHeader = await post(gateway.url, HELLO, { 'x-api-key': CLIENT_KEY, 'cache-control': 'no-store' });
    assert.equal(viaHeader.status, 200, JSON.stringify(viaHeader.body));
    assert.equal(viaHeader.body.type, 'message');
    const viaBearer = await post(gateway.url, HELLO, { authorization: `Bearer ${CLIENT_KEY}`, 'anthropic-version': '2023-06-01', 'cache-control': 'no-store' });
    assert.equal(viaBearer.status, 200);
    // Claude Code adds `?beta=true`.
    const withQuery = await post(gateway.url, HELLO, { authorization: `Bearer ${CLIENT_KEY}`, 'cache-control': 'no-store' }, '/v1/messages?beta=true');
    assert.equal(withQuery.status, 200);
    // Claude Code with ANTHROPIC_AUTH_TOKEN sends Bearer; the SDK with authToken does too.
    const bearerClient = new Anthropic({ authToken: CLIENT_KEY, apiKey: null, baseURL: gateway.url, maxRetries: 0 });
    const message = await bearerClient.messages.create({ ...HELLO, messages: [{ role: 'user', content: 'Hello' }] }, { headers: { 'cache-control': 'no-store' } });
    assert.equal(message.type, 'message');
  });

  test('refusals in Anthropic error format, with our statuses', async () => {
    const missing = await post(gateway.url, HELLO, {});
    assert.equal(missing.status, 401);
    assertAnthropicError(missing.body, 'authentication_error');
    const wrong = await post(gateway.url, HELLO, { 'x-api-key': 'not-a-key' });
    assert.equal(wrong.status, 401);
    assertAnthropicError(wrong.body, 'authentication_error');

    const unknown = await post(gateway.url, { ...HELLO, model: 'no-such-model' }, { 'x-api-key': CLIENT_KEY });
    assert.equal(unknown.status, 404);
    assertAnthropicError(unknown.body, 'not_found_error');

    const noMaxTokens = await post(gateway.url, { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }, { 'x-api-key': CLIENT_KEY });
    assert.equal(noMaxTokens.status, 400);
    assertAnthropicError(noMaxTokens.body, 'invalid_request_error');
    assert.match(String(record(noMaxTokens.body.error).message), /max_tokens/);

    // `system` is a role the SDK's MessageParam has (SystemMessageParam); OpenAI's `tool` is not.
    const badRole = await post(gateway.url, { ...HELLO, messages: [{ role: 'tool', content: 'Hi' }] }, { 'x-api-key': CLIENT_KEY });
    assert.equal(badRole.status, 400);
    assertAnthropicError(badRole.body, 'invalid_request_error');
    assert.match(String(record(badRole.body.error).message), /messages\[0\]\.role/);

    const notJson = await post(gateway.url, '{"model":', { 'x-api-key': CLIENT_KEY });
    assert.equal(notJson.status, 400);
    assertAnthropicError(notJson.body, 'invalid_request_error');

    const tooLarge = await post(gateway.url, { ...HELLO, messages: [{ role: 'user', content: 'x'.repeat(100_000) }] }, { 'x-api-key': CLIENT_KEY });
    assert.equal(tooLarge.status, 413);
    assertAnthropicError(tooLarge.body, 'request_too_large');

    // The SDK maps them onto its own classes.
    await assert.rejects(client.messages.create({ ...HELLO, model: 'no-such-model', messages: [{ role: 'user', content: 'Hi' }] }), Anthropic.NotFoundError);
    await assert.rejects(new Anthropic({ apiKey: 'wrong', baseURL: gateway.url, maxRetries: 0 }).messages.create({ ...HELLO, messages: [{ role: 'user', content: 'Hi' }] }), Anthropic.AuthenticationError);
    const counted = await post(gateway.url, { model: 'no-such-model', messages: [] }, { 'x-api-key': CLIENT_KEY });
    assert.equal(counted.status, 400, 'count_tokens validates too');

    // Chat keeps OpenAI's shape.
    const chat = await fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(HELLO) });
    assert.equal(chat.status, 401);
    assert.equal(record(record(JSON.parse(await chat.text()) as unknown).error).code, 'invalid_api_key');
  });

  test('count_tokens refusals are Anthropic-shaped as well', async () => {
    const response = await fetch(`${gateway.url}/v1/messages/count_tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    assert.equal(response.status, 404);
    assertAnthropicError(record(JSON.parse(await response.text()) as unknown), 'not_found_error');
  });

  test('a wrong method or an unknown path under /v1/messages: an Anthropic-shaped 404, with the request id', async () => {
    const cases: Array<[string, string]> = [
      ['GET', '/v1/messages'],
      ['PUT', '/v1/messages?beta=true'],
      ['GET', '/v1/messages/count_tokens'],
      ['POST', '/v1/messages/count-tokens'],
    ];
    for (const [method, path] of cases) {
      const response = await fetch(`${gateway.url}${path}`, { method, headers: { 'x-api-key': CLIENT_KEY, 'x-request-id': 'wrong-method-1' } });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(response.headers.get('x-request-id'), 'wrong-method-1');
      const body = record(JSON.parse(await response.text()) as unknown);
      assertAnthropicError(body, 'not_found_error');
      assert.equal(body.request_id, 'wrong-method-1');
    }
    // Without a key the refusal is Anthropic's too; other unknown paths keep OpenAI's shape.
    const anonymous = await fetch(`${gateway.url}/v1/messages`);
    assert.equal(anonymous.status, 401);
    assertAnthropicError(record(JSON.parse(await anonymous.text()) as unknown), 'authentication_error');
    const elsewhere = await fetch(`${gateway.url}/v1/messagesx`, { headers: { 'x-api-key': CLIENT_KEY } });
    assert.equal(elsewhere.status, 404);
    assert.equal(record(record(JSON.parse(await elsewhere.text()) as unknown).error).code, 'not_found');
  });

  test('OpenAI arguments in many fragments, and a call with none: every input_json_delta sequence parses', async () => {
    const args = JSON.stringify({ location: 'Paris, "Île-de-France"', unit: 'celsius', days: [1, 2, 3] });
    openai.reset();
    openai.enqueue({ kind: 'raw', status: 200, contentType: 'text/event-stream', body: fragmentedToolStream(args) });
    const stream = client.messages.stream(
      {
        model: 'gpt-4o',
        max_tokens: 200,
        messages: [{ role: 'user', content: 'Weather and time in Paris?' }],
        tools: [
          { name: 'get_weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } },
          { name: 'get_time', input_schema: { type: 'object', properties: {} } },
        ],
      },
      { headers: { 'cache-control': 'no-store' } },
    );
    const fragments = new Map<number, string[]>();
    stream.on('streamEvent', (event) => {
      if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') fragments.set(event.index, [...(fragments.get(event.index) ?? []), event.delta.partial_json]);
    });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(
      final.content.map((block) => (block.type === 'tool_use' ? { id: block.id, name: block.name, input: block.input } : block.type)),
      [
        { id: 'call_a', name: 'get_weather', input: JSON.parse(args) as unknown },
        { id: 'call_b', name: 'get_time', input: {} },
      ],
    );
    assert.ok((fragments.get(0)?.length ?? 0) > 10, 'the fragments are forwarded as they come');
    assert.deepEqual(JSON.parse(fragments.get(0)?.join('') ?? '') as unknown, JSON.parse(args));
    assert.deepEqual(fragments.get(1), ['{}'], 'a call without arguments still has a complete input');
    assert.deepEqual(final.usage.input_tokens, 30);
    assert.deepEqual(final.usage.output_tokens, 12);
  });

  test('chat to Claude ending on an assistant prefill with trailing whitespace: trimmed before Anthropic, said in X-LLM-Proxy-Warnings', async () => {
    const from = anthropic.requests.length;
    const response = await post(
      gateway.url,
      { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Say world' }, { role: 'assistant', content: 'Say: ' }] },
      { authorization: `Bearer ${CLIENT_KEY}`, 'cache-control': 'no-store' },
      '/v1/chat/completions',
    );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.match(response.headers.get('x-llm-proxy-warnings') ?? '', /messages\[1\]\.content: trailing whitespace removed/);
    const sent = record(anthropic.requests[from]?.body);
    assert.deepEqual((sent.messages as Json[] | undefined)?.at(-1), { role: 'assistant', content: 'Say:' });
  });

  test('two tools of one name: 400 invalid_value naming the second, nothing upstream (chat to Claude, /v1/messages to GPT)', async () => {
    const [openaiFrom, anthropicFrom] = [openai.requests.length, anthropic.requests.length];
    const fn = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object' } } });
    const chat = await post(gateway.url, { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }], tools: [fn('a'), fn('b'), fn('a')] }, { authorization: `Bearer ${CLIENT_KEY}` }, '/v1/chat/completions');
    assert.equal(chat.status, 400, JSON.stringify(chat.body));
    assert.deepEqual([record(chat.body.error).code, record(chat.body.error).param], ['invalid_value', 'tools[2].function.name']);
    const tool = (name: string) => ({ name, input_schema: { type: 'object' } });
    const messages = await post(gateway.url, { ...HELLO, tools: [tool('a'), tool('a')] }, { 'x-api-key': CLIENT_KEY });
    assert.equal(messages.status, 400);
    assertAnthropicError(messages.body, 'invalid_request_error');
    assert.match(String(record(messages.body.error).message), /'tools\[1\]\.name'.*unique/);
    assert.deepEqual([openai.requests.length, anthropic.requests.length], [openaiFrom, anthropicFrom]);
  });

  test("chat to Claude: a tool name outside Anthropic's rule is a 400 naming it, nothing upstream", async () => {
    const from = anthropic.requests.length;
    const fn = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object' } } });
    const chat = await post(gateway.url, { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }], tools: [fn('ok'), fn('get.weather')] }, { authorization: `Bearer ${CLIENT_KEY}` }, '/v1/chat/completions');
    assert.equal(chat.status, 400, JSON.stringify(chat.body));
    assert.deepEqual([record(chat.body.error).code, record(chat.body.error).param], ['invalid_value', 'tools[1].function.name']);
    assert.equal(anthropic.requests.length, from);
  });

  test("a 400 from the chat side names the client's own fields (Gemini's function-name rule, a message index, GPT's output limit)", async () => {
    const refusal = async (body: Anthropic.MessageCreateParamsNonStreaming): Promise<string> => {
      const error: unknown = await client.messages.create(body).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof Anthropic.BadRequestError, String(error));
      return String(record(record(error.error).error).message);
    };
    const geminiFrom = gemini.requests.length;
    const tool = (name: string): Anthropic.Tool => ({ name, input_schema: { type: 'object' } });
    const name = await refusal({ model: 'gemini-2.5-flash', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }], tools: [tool('ok'), tool('get weather')] });
    assert.match(name, /^Invalid value for 'tools\[1\]\.name': gemini needs a function name/);
    // Chat: system, user, assistant, tool, tool, user [text, image]; the client's image is block 3 of its third message.
    const image = await refusal({
      model: 'gemini-2.5-flash',
      max_tokens: 64,
      system: 'Be brief.',
      tools: [tool('f')],
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'f', input: {} }, { type: 'tool_use', id: 'b', name: 'f', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'a', content: 'one' },
            { type: 'tool_result', tool_use_id: 'b', content: 'two' },
            { type: 'text', text: 'And this?' },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
          ],
        },
      ],
    });
    // The proxy downloads web images for Gemini; here no image host answers (tests reach nothing beyond 127.0.0.1).
    assert.match(image, /^Could not fetch the image at 'messages\[2\]\.content\[3\]\.source': the host could not be reached/);
    assert.equal(gemini.requests.length, geminiFrom);
    // GPT-4o takes the limit as max_completion_tokens; the client sent max_tokens. (The SDK will not send this many without streaming.)
    const limit = await post(gateway.url, { ...HELLO, max_tokens: 100_000 }, { 'x-api-key': CLIENT_KEY });
    assert.equal(limit.status, 400);
    assert.match(String(record(limit.body.error).message), /^Invalid value for 'max_tokens': 100000 is above/);
  });

  test('parallel calls whose fragments interleave (index 0 after index 1 began): sequential blocks, each input whole', async () => {
    openai.reset();
    openai.enqueue({
      kind: 'raw',
      status: 200,
      contentType: 'text/event-stream',
      body: sse([
        delta({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"location":' } }, { index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":' } }] }),
        delta({ tool_calls: [{ index: 1, function: { arguments: '"CET"}' } }] }),
        delta({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
        delta({}, 'tool_calls'),
      ]),
    });
    const stream = client.messages.stream(
      { model: 'gpt-4o', max_tokens: 200, messages: [{ role: 'user', content: 'Weather and time in Paris?' }], tools: [{ name: 'get_weather', input_schema: { type: 'object' } }, { name: 'get_time', input_schema: { type: 'object' } }] },
      { headers: { 'cache-control': 'no-store' } },
    );
    const order: string[] = [];
    stream.on('streamEvent', (event) => {
      if (event.type.startsWith('content_block')) order.push(`${event.type}:${'index' in event ? event.index : ''}`);
    });
    const final = await stream.finalMessage();
    assert.deepEqual(
      final.content.map((block) => (block.type === 'tool_use' ? { id: block.id, input: block.input } : block.type)),
      [
        { id: 'call_a', input: { location: 'Paris' } },
        { id: 'call_b', input: { tz: 'CET' } },
      ],
    );
    assert.deepEqual(order, ['content_block_start:0', 'content_block_delta:0', 'content_block_delta:0', 'content_block_stop:0', 'content_block_start:1', 'content_block_delta:1', 'content_block_stop:1']);
  });

  test('a translated stream whose content cannot be converted ends with an error event that says why, and is recorded', async () => {
    // Both arrive in the read that brings the first content, so they are in the held head the
    // route converts after its status line has gone: a tool call that is null, and an event that
    // is no JSON but laid out like the chunks (it passes the pass-through scanner unread once
    // content has started). One that is not laid out like them is read there, and refused as no JSON.
    const call = (index: number, id: string | undefined, args: string): Json => ({ index, ...(id === undefined ? {} : { id, type: 'function' }), function: { ...(id === undefined ? {} : { name: 'f' }), arguments: args } });
    const unconverted = 'a chunk that could not be converted';
    const cases: [string, string][] = [
      [sse([delta({ role: 'assistant', content: null }), delta({ tool_calls: [null] }), delta({}, 'tool_calls')]), unconverted],
      [`data: ${JSON.stringify(delta({ content: 'Hi' }))}\n\ndata: ${JSON.stringify(delta({ content: 'there' })).replace('"there"', 'there')}\n\n${sse([delta({}, 'stop')])}`, unconverted],
      [`data: ${JSON.stringify(delta({ content: 'Hi' }))}\n\ndata: {not json}\n\n${sse([delta({}, 'stop')])}`, 'an event that is not JSON'],
      // Call 0 complete, its block closed for call 1, then more for call 0: the writer says what happened.
      [
        sse([delta({ tool_calls: [call(0, 'call_a', '{}')] }), delta({ tool_calls: [call(1, 'call_b', '{}')] }), delta({ tool_calls: [call(0, undefined, ',"late":1}')] }), delta({}, 'tool_calls')]),
        'it sent more arguments for tool call 0 after they were complete',
      ],
    ];
    for (const [index, [body, detail]] of cases.entries()) {
      openai.reset();
      openai.enqueue({ kind: 'raw', status: 200, contentType: 'text/event-stream', body });
      const requestId = `messages-unconvertible-${index}`;
      const response = await fetch(`${gateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'x-request-id': requestId, 'cache-control': 'no-store' },
        body: JSON.stringify({ ...HELLO, stream: true }),
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(response.status, 200);
      const text = await response.text();
      const events = text.split('\n\n').filter((frame) => frame.length > 0);
      assert.match(events.at(-1) ?? '', /^event: error\ndata: \{"type":"error","error":\{"type":"api_error"/, text);
      // The provider whose chunk failed is named, not the proxy.
      assert.ok((events.at(-1) ?? '').includes(`The stream from provider 'openai' failed: ${detail}.`), text);
      assert.ok(!text.includes('message_stop'), text);
      await eventually(() => gateway.usage.recent().some((entry) => entry.requestId === requestId), 2000);
      const entry = gateway.usage.recent().find((recorded) => recorded.requestId === requestId);
      assert.equal(entry?.status, 'incomplete');
      assert.equal(entry?.errorCode, 'upstream_stream_error');
    }
  });

  test('dropped fields are listed; thinking becomes reasoning_effort for reasoning models; tool_choice any → required', async () => {
    openai.reset();
    const thinking = { max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'Hi' }] };
    const reasoner = await post(gateway.url, { ...thinking, model: 'o3-mini' }, { 'x-api-key': CLIENT_KEY, 'cache-control': 'no-store' });
    assert.equal(reasoner.status, 200);
    assert.equal(record(openai.requests[0]?.body).reasoning_effort, 'low');
    // OpenAI's reasoning models refuse max_tokens: the limit travels as max_completion_tokens.
    assert.equal(record(openai.requests[0]?.body).max_completion_tokens, 2048);
    assert.equal(record(openai.requests[0]?.body).max_tokens, undefined);
    assert.equal(reasoner.headers.get('x-llm-proxy-warnings'), null);
    openai.reset();
    // top_k is older than this SDK's types (clients of earlier versions send it).
    const params = {
      model: 'gpt-4o',
      max_tokens: 2048,
      top_k: 5,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      metadata: { user_id: 'user-7' },
      stop_sequences: ['END'],
      system: [{ type: 'text', text: 'Be brief.' }],
      tools: [{ name: 'get_time', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      messages: [{ role: 'user', content: 'Hi' }],
    } as Anthropic.MessageCreateParamsNonStreaming;
    const { response } = await client.messages.create(params, { headers: { 'cache-control': 'no-store' } }).withResponse();
    // gpt-4o does not reason: OpenAI would refuse reasoning_effort, so thinking is dropped and said so.
    assert.equal(response.headers.get('x-llm-proxy-warnings'), 'top_k: no OpenAI-format equivalent, ignored; thinking: the model is not known to reason, ignored');
    const sent = record(openai.requests[0]?.body);
    assert.equal(sent.reasoning_effort, undefined);
    assert.equal(sent.user, 'user-7');
    assert.deepEqual(sent.stop, ['END']);
    assert.equal(sent.tool_choice, 'required');
    assert.equal(sent.parallel_tool_calls, false);
    assert.deepEqual(sent.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
  });

  test('the response cache answers /v1/messages in Anthropic format, plain and streamed', async () => {
    openai.reset();
    const request = { model: 'gpt-4o', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Cache me' }] };
    const first = await client.messages.create(request).withResponse();
    assert.equal(first.response.headers.get('x-cache'), 'MISS');
    const second = await client.messages.create(request).withResponse();
    assert.equal(second.response.headers.get('x-cache'), 'HIT');
    assert.deepEqual(blocks(second.data), blocks(first.data));
    assert.equal(second.data.type, 'message');
    const streamed = client.messages.stream(request);
    const final = await streamed.finalMessage();
    assert.equal((await streamed.withResponse()).response.headers.get('x-cache'), 'HIT');
    assert.deepEqual(blocks(final), blocks(first.data));
    assert.equal(openai.requests.length, 1, 'one upstream call for all three');
  });

  test('Anthropic-only content: passed through to Anthropic, refused elsewhere', async () => {
    const request = {
      max_tokens: 64,
      tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 1 }],
      messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }, { type: 'text', text: 'Summarise' }] }],
    };
    anthropic.reset();
    const native = await post(gateway.url, { ...request, model: 'claude-sonnet-4-5' }, { 'x-api-key': CLIENT_KEY, 'anthropic-beta': 'oauth-2025-04-20,web-search-2025-03-05' });
    assert.equal(native.status, 200, JSON.stringify(native.body));
    assert.deepEqual(anthropic.requests[0]?.body, { ...request, model: 'claude-sonnet-4-5' });
    assert.equal(anthropic.requests[0]?.headers['anthropic-beta'], 'web-search-2025-03-05', 'betas travel on, OAuth ones do not');
    const elsewhere = await post(gateway.url, { ...request, model: 'gpt-4o' }, { 'x-api-key': CLIENT_KEY });
    assert.equal(elsewhere.status, 400);
    assertAnthropicError(elsewhere.body, 'invalid_request_error');
    assert.match(String(record(elsewhere.body.error).message), /only available with Anthropic models/);
  });

  test("a replayed tool call whose input names repo_url or api_key (the tool's own parameters) is served on both paths", async () => {
    const input = { repo_url: 'https://example.com/r.git', api_key: 'k' };
    const request = {
      max_tokens: 64,
      tools: [{ name: 'clone', input_schema: { type: 'object', properties: { repo_url: { type: 'string' }, api_key: { type: 'string' } } }, input_examples: [input] }],
      messages: [
        { role: 'user', content: 'Clone it' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'clone', input }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'cloned' }] },
      ],
    };
    anthropic.reset();
    const native = await post(gateway.url, { ...request, model: 'claude-sonnet-4-5' }, { 'x-api-key': CLIENT_KEY, 'cache-control': 'no-store' });
    assert.equal(native.status, 200, JSON.stringify(native.body));
    assert.deepEqual(anthropic.requests[0]?.body, { ...request, model: 'claude-sonnet-4-5' });
    openai.reset();
    const translated = await post(gateway.url, { ...request, model: 'gpt-4o' }, { 'x-api-key': CLIENT_KEY, 'cache-control': 'no-store' });
    assert.equal(translated.status, 200, JSON.stringify(translated.body));
    const call = record((record(openai.requests[0]?.body).messages as unknown[])[1]);
    assert.deepEqual(call.tool_calls, [{ id: 'toolu_1', type: 'function', function: { name: 'clone', arguments: JSON.stringify(input) } }]);
  });

  test('a fallback the key may not use does not stop a Claude group from being passed through', async () => {
    const request = {
      model: 'claude-backed',
      max_tokens: 64,
      messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } }, { type: 'text', text: 'Summarise' }] }],
    };
    const created = await post(gateway.url, { name: 'claude-only', models: ['claude-backed'] }, { authorization: `Bearer ${MASTER_KEY}` }, '/admin/keys');
    const claudeOnly = String(created.body.key);
    anthropic.reset();
    const native = await post(gateway.url, request, { 'x-api-key': claudeOnly, 'cache-control': 'no-store' });
    assert.equal(native.status, 200, JSON.stringify(native.body));
    assert.deepEqual(anthropic.requests[0]?.body, { ...request, model: 'claude-sonnet-4-5' }, 'the body as it came');
    const counted = await post(gateway.url, request, { 'x-api-key': claudeOnly }, '/v1/messages/count_tokens');
    assert.equal(counted.body.input_tokens, FAKE_COUNT_TOKENS, "Anthropic's own count");
    assert.equal(anthropic.requests.at(-1)?.path, '/v1/messages/count_tokens');

    // A key that may fall back to gpt-4o gets the translated path, which refuses Anthropic-only content.
    anthropic.reset();
    const translated = await post(gateway.url, request, { 'x-api-key': CLIENT_KEY, 'cache-control': 'no-store' });
    assert.equal(translated.status, 400);
    assert.match(String(record(translated.body.error).message), /only available with Anthropic models/);
    assert.deepEqual(anthropic.requests, []);
  });

  test('a passed-through Claude answer served from the cache is the same message', async () => {
    anthropic.reset();
    const request = { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Cache this Claude answer' }] };
    const first = await client.messages.create(request).withResponse();
    assert.equal(first.response.headers.get('x-cache'), 'MISS');
    const second = await client.messages.create(request).withResponse();
    assert.equal(second.response.headers.get('x-cache'), 'HIT');
    assert.equal(second.response.headers.get('x-llm-proxy-route'), 'cache=hit');
    const { usage: firstUsage, ...firstRest } = first.data;
    const { usage: secondUsage, ...secondRest } = second.data;
    assert.deepEqual(secondRest, firstRest);
    assert.equal(secondUsage.input_tokens, firstUsage.input_tokens);
    assert.equal(secondUsage.output_tokens, firstUsage.output_tokens);
    assert.equal(anthropic.requests.length, 1);
  });

  test('a passed-through Claude answer is cached under what Claude gets: fields and beta headers the chat form lacks', async () => {
    anthropic.reset();
    const request = { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: `Claude only ${Date.now()}` }] };
    const send = async (body: unknown, headers: Record<string, string> = {}) => (await post(gateway.url, body, { 'x-api-key': CLIENT_KEY, ...headers })).headers.get('x-cache');
    assert.equal(await send({ ...request, top_k: 1 }), 'MISS');
    assert.equal(await send({ ...request, top_k: 1 }), 'HIT');
    // top_k, and a field only Claude reads (a beta's structured output), change Claude's answer.
    assert.equal(await send({ ...request, top_k: 40 }), 'MISS');
    const schema = (name: string) => ({ type: 'json_schema', schema: { type: 'object', properties: { [name]: { type: 'string' } } } });
    assert.equal(await send({ ...request, output_format: schema('city') }, { 'anthropic-beta': 'structured-outputs-2025-11-13' }), 'MISS');
    assert.equal(await send({ ...request, output_format: schema('country') }, { 'anthropic-beta': 'structured-outputs-2025-11-13' }), 'MISS');
    // So does a beta header alone.
    assert.equal(await send({ ...request, top_k: 1 }, { 'anthropic-beta': 'context-1m-2025-08-07' }), 'MISS');
    assert.equal(anthropic.requests.length, 5);
    // A streamed request still reads the entry its non-streamed twin left.
    const streamed = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY }, body: JSON.stringify({ ...request, top_k: 1, stream: true }) });
    await streamed.text();
    assert.equal(streamed.headers.get('x-cache'), 'HIT');
  });
});

function blocks(message: Anthropic.Message): unknown {
  return message.content.map((block) => (block.type === 'text' ? block.text : block.type));
}

/** A gateway (cache off) in front of an Anthropic upstream that answers every request with `handler`. */
async function behindRawAnthropic(handler: RequestListener): Promise<{ gateway: Gateway; close(): Promise<void> }> {
  const upstream = createServer(handler);
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const gateway = await startGateway({ ANTHROPIC_API_KEY: KEYS.anthropic, ANTHROPIC_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, LLM_PROXY_RPM: '0', LLM_PROXY_CACHE: 'off' });
  return {
    gateway,
    async close() {
      await gateway.close();
      upstream.closeAllConnections();
      upstream.close();
    },
  };
}

describe('/v1/messages: a client that leaves a passed-through Claude call', () => {
  let gateway: Gateway;
  let close: () => Promise<void>;
  const arrived: Array<{ path: string; goneAt?: number }> = [];
  before(async () => {
    // An Anthropic upstream that takes each request and never answers: only the proxy can end a call.
    ({ gateway, close } = await behindRawAnthropic((req) => {
      const entry: { path: string; goneAt?: number } = { path: req.url ?? '' };
      arrived.push(entry);
      req.resume();
      req.socket.on('close', () => (entry.goneAt = Date.now()));
    }));
  });
  after(() => close());

  /** Sends `path`, leaves once the upstream has the call, and returns how long the upstream call outlived the client. */
  async function leave(path: string, requestId: string): Promise<number> {
    const before = arrived.length;
    const client = new AbortController();
    const sent = fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'x-request-id': requestId },
      body: JSON.stringify({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] }),
      signal: client.signal,
    });
    sent.catch(() => undefined);
    await eventually(() => arrived.length > before, 2000);
    const call = arrived[before] as { path: string; goneAt?: number };
    const cut = Date.now();
    client.abort();
    await eventually(() => call.goneAt !== undefined, 1000);
    return (call.goneAt as number) - cut;
  }

  test('a message: the upstream call is aborted at once and the usage record says client_disconnected', async () => {
    const lag = await leave('/v1/messages', 'messages-gone-1');
    assert.ok(lag < 1000, `upstream aborted after ${lag} ms`);
    await eventually(() => gateway.usage.recent().some((entry) => entry.requestId === 'messages-gone-1'), 2000);
    assert.equal(gateway.usage.recent().find((entry) => entry.requestId === 'messages-gone-1')?.status, 'client_disconnected');
  });

  test('a token count: the upstream call is aborted at once', async () => {
    const lag = await leave('/v1/messages/count_tokens', 'count-gone-1');
    assert.ok(lag < 1000, `upstream aborted after ${lag} ms`);
  });
});

describe('/v1/messages: a passed-through Claude stream ends at message_stop', () => {
  // Found by the upstream chaos suite: an upstream that wrote (or waited) after message_stop got the
  // client an `event: error` after it. Here the upstream writes junk and a late error, then closes.
  let gateway: Gateway;
  let close: () => Promise<void>;
  before(async () => {
    ({ gateway, close } = await behindRawAnthropic((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${readAnthropicFixture('anthropic-text.chunks.txt')}data: {not json\n\nevent: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"late"}}\n\n`);
    }));
  });
  after(() => close());

  test('nothing after it is read, so no error event follows it, and the call is recorded ok', async () => {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'x-request-id': 'messages-stop-1' },
      body: JSON.stringify({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Hello' }] }),
    });
    const text = await response.text();
    assert.equal(response.status, 200);
    assert.ok(text.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n'), text.slice(-300));
    assert.ok(!text.includes('event: error'), text.slice(-300));
    await eventually(() => gateway.usage.recent().some((entry) => entry.requestId === 'messages-stop-1'), 2000);
    assert.equal(gateway.usage.recent().find((entry) => entry.requestId === 'messages-stop-1')?.status, 'ok');
  });
});

describe('/v1/messages: a passed-through Claude stream that ends in `event: error`', () => {
  // Found in review: an `event: error` whose data named another type (`overloaded_error`) was passed
  // on as it came and the call recorded as ok. Whatever its data's type, it is the stream's error.
  let gateway: Gateway;
  let close: () => Promise<void>;
  const errors: Record<string, string> = {
    plain: '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
    odd: '{"type":"overloaded_error","error":{"type":"overloaded_error","message":"Overloaded"}}',
  };
  before(async () => {
    ({ gateway, close } = await behindRawAnthropic((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        // The client's message names the error frame to end with.
        const kind = (JSON.parse(body) as { messages: Array<{ content: string }> }).messages[0]?.content ?? '';
        const head = readAnthropicFixture('anthropic-text.chunks.txt').split('\n\n').slice(0, 4).map((event) => `${event}\n\n`);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`${head.join('')}event: error\ndata: ${errors[kind] ?? 'unknown kind'}\n\n`);
      });
    }));
  });
  after(() => close());

  test('whatever type its data names, the client gets the error event and the call is recorded incomplete', async () => {
    for (const kind of Object.keys(errors)) {
      const requestId = `messages-error-event-${kind}`;
      const response = await fetch(`${gateway.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY, 'x-request-id': requestId },
        body: JSON.stringify({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: kind }] }),
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(response.status, 200);
      const text = await response.text();
      const events = text.split('\n\n').filter((frame) => frame.length > 0);
      assert.ok(text.includes('Hello! How c'), text);
      // The proxy's own error event, Anthropic's status table applied (overloaded: HTTP 529, a 5xx).
      assert.match(events.at(-1) ?? '', /^event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"The provider 'anthropic' failed \(HTTP 529\): overloaded_error: Overloaded"/, `${kind}: ${text.slice(-300)}`);
      assert.ok(!text.includes(errors.odd ?? ''), `${kind}: the upstream's frame is not passed on as it came`);
      await eventually(() => gateway.usage.recent().some((entry) => entry.requestId === requestId), 2000);
      const entry = gateway.usage.recent().find((recorded) => recorded.requestId === requestId);
      assert.equal(entry?.status, 'incomplete', kind);
      assert.equal(entry?.errorCode, 'upstream_error', kind);
    }
  });
});

describe('/v1/messages: a passed-through Claude stream with event types the proxy does not know', () => {
  // Anthropic may add event types; clients are to skip unknown ones, so they must keep their name.
  // One whose data `type` carries CR/LF (and no event field) must not split the frame into a forged error.
  let gateway: Gateway;
  let close: () => Promise<void>;
  const future = 'event: future_event\ndata: {"type":"future_event","detail":{"n":1}}\n\n';
  const forged = `data: ${JSON.stringify({ type: 'x\n\nevent: error\ndata: {"type":"error","error":{"type":"api_error","message":"forged"}}' })}\n\n`;
  before(async () => {
    ({ gateway, close } = await behindRawAnthropic((req, res) => {
      req.resume();
      const events = readAnthropicFixture('anthropic-text.chunks.txt').split('\n\n').filter((event) => event.length > 0).map((event) => `${event}\n\n`);
      events.splice(2, 0, future, forged);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(events.join(''));
    }));
  });
  after(() => close());

  test('the unknown event reaches the client under its own name, the SDK skips it, and nothing is forged', async () => {
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': CLIENT_KEY },
      body: JSON.stringify({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'Hello' }] }),
    });
    const text = await response.text();
    assert.ok(text.includes(future), text.slice(0, 800));
    assert.ok(!text.includes('event: error') && !text.includes('forged'), text.slice(0, 800));

    const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gateway.url, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] });
    const types: string[] = [];
    stream.on('streamEvent', (event) => types.push(event.type));
    const final = await stream.finalMessage();
    assert.ok(types.includes('future_event'), types.join(','));
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.content.length > 0 && final.content[0]?.type === 'text', JSON.stringify(final.content));
  });
});
