// The official `openai` SDK as the client, through the real proxy, to a fake OpenAI upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

describe('openai SDK against the proxy', () => {
  let upstream: FakeOpenAi;
  let gateway: Gateway;
  let client: OpenAI;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0' });
    client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('chat completion', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4',
      messages: [{ role: 'user', content: 'Hello! How are you?' }],
      max_tokens: 100,
      temperature: 0.7,
    });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0]?.message.content, 'Hello from the fake upstream. You said: Hello! How are you?');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.ok((completion.usage?.total_tokens ?? 0) > 0);
    const sent = upstream.requests.at(-1);
    assert.equal(sent?.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    assert.equal(sent?.body?.model, 'gpt-4');
    assert.equal(sent?.body?.temperature, 0.7);
  });

  test('streaming, with the usage chunk only when asked for', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4',
      messages: [{ role: 'user', content: 'Tell me a story' }],
      stream: true,
    });
    let text = '';
    let usageChunks = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usageChunks++;
    }
    assert.equal(text, 'Hello from the fake upstream. You said: Tell me a story');
    assert.equal(usageChunks, 0);
    // The upstream was asked for usage regardless, so the proxy can count tokens.
    assert.deepEqual(upstream.requests.at(-1)?.body?.stream_options, { include_usage: true });

    const withUsage = await client.chat.completions.create({
      model: 'gpt-4',
      messages: [{ role: 'user', content: 'Count' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage;
    assert.ok(usage !== undefined && usage.completion_tokens > 0);
  });

  test('legacy completions, plain and streamed (usage only when asked)', async () => {
    const plain = await client.completions.create({ model: 'gpt-3.5-turbo', prompt: 'Once upon a time', max_tokens: 16 });
    assert.equal(plain.object, 'text_completion');
    assert.equal(plain.choices[0]?.text, 'Hello from the fake upstream.');
    for (const includeUsage of [false, true]) {
      const stream = await client.completions.create({ model: 'gpt-3.5-turbo', prompt: 'Once upon a time', max_tokens: 16, stream: true, ...(includeUsage ? { stream_options: { include_usage: true } } : {}) });
      let text = '';
      let finish: string | null | undefined;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.text ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (chunk.usage) usage = chunk.usage;
      }
      assert.equal(text, 'Hello from the fake upstream.');
      assert.equal(finish, 'stop');
      assert.equal(usage !== undefined && usage.completion_tokens > 0, includeUsage);
    }
  });

  test('tools, plain and streamed', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          description: 'Get weather information for a location',
          parameters: { type: 'object', properties: { location: { type: 'string' }, base_url: { type: 'string' } }, required: ['location'] },
        },
      },
    ];
    const completion = await client.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'Weather in Tokyo?' }], tools });
    const call = completion.choices[0]?.message.tool_calls?.[0];
    assert.equal(call?.type, 'function');
    assert.equal(call?.type === 'function' ? call.function.name : '', 'get_weather');
    assert.deepEqual(JSON.parse(call?.type === 'function' ? call.function.arguments : '{}'), { location: 'Tokyo', unit: 'celsius' });
    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls');

    const runner = client.chat.completions.stream({ model: 'gpt-4', messages: [{ role: 'user', content: 'Weather in Tokyo?' }], tools });
    const final = await runner.finalChatCompletion();
    const streamedCall = final.choices[0]?.message.tool_calls?.[0];
    assert.equal(streamedCall?.type === 'function' ? streamedCall.function.arguments : '', JSON.stringify({ location: 'Tokyo', unit: 'celsius' }));
  });

  test('legacy functions are answered in the legacy shape', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4',
      messages: [{ role: 'user', content: "What's the weather in Tokyo?" }],
      functions: [{ name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } }],
      function_call: 'auto',
    });
    assert.equal(completion.choices[0]?.message.function_call?.name, 'get_weather');
    assert.equal(completion.choices[0]?.finish_reason, 'function_call');
  });

  test('models.list', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.ok(ids.includes('gpt-4'));
    assert.ok(ids.includes('gpt-3.5-turbo'));
  });

  test('models.retrieve: a bare id, an id with a slash (sent as %2F), and a 404 the SDK raises', async () => {
    const model = await client.models.retrieve('gpt-4o');
    assert.deepEqual({ ...model }, { id: 'gpt-4o', object: 'model', created: model.created, owned_by: 'openai' });
    assert.ok(Number.isInteger(model.created) && model.created > 0);
    const routed = await client.models.retrieve('openai/gpt-4o');
    assert.equal(routed.id, 'openai/gpt-4o');
    assert.equal(routed.owned_by, 'openai');
    for (const id of ['no-such-model', '../../admin/keys']) {
      await assert.rejects(client.models.retrieve(id), (error: unknown) => {
        assert.ok(error instanceof OpenAI.NotFoundError, String(error));
        assert.equal(error.code, 'model_not_found');
        assert.equal(error.type, 'invalid_request_error');
        assert.equal(error.param, null);
        return true;
      });
    }
  });

  test('error classes: 401, 404, 429, 5xx', async () => {
    const wrong = new OpenAI({ apiKey: 'wrong-key', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    await assert.rejects(wrong.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.AuthenticationError);
      assert.equal(error.status, 401);
      assert.equal(error.code, 'invalid_api_key');
      return true;
    });
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.NotFoundError);
      assert.equal(error.code, 'model_not_found');
      return true;
    });
    upstream.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '60' } });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.RateLimitError);
      assert.equal(error.code, 'upstream_rate_limited');
      assert.equal(error.headers?.get('retry-after'), '60');
      return true;
    });
    // gpt-4 is cooling down for the provider's Retry-After now; another model shows the 5xx path.
    for (let attempt = 0; attempt < 3; attempt++) upstream.enqueue({ kind: 'status', status: 500 });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.InternalServerError);
      assert.equal(error.status, 502);
      assert.equal(error.code, 'upstream_error');
      return true;
    });
  });
});
