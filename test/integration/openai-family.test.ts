// The OpenAI-format family beyond OpenAI itself: Azure deployment URLs and `api-key`, Ollama's
// OpenAI-compatible API without a key, hosted OpenAI-compatible presets, config-file providers
// and aliases. Each against a fake upstream that records exactly what it was sent.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { authHeaders, CLIENT_KEY, startGateway, type Gateway } from '../support/gateway-harness.js';

async function chat(gateway: Gateway, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${gateway.url}/v1/chat/completions`, { method: 'POST', headers: authHeaders(), body: JSON.stringify(body) });
}

/**
 * Mistral's chat request fields (its API reference, as the `mistralai` client's ChatCompletionRequest
 * lists them): any other top-level field is its 422 "Extra inputs are not permitted", even null.
 */
const MISTRAL_FIELDS = new Set(['model', 'messages', 'temperature', 'top_p', 'max_tokens', 'stream', 'stop', 'random_seed', 'metadata', 'response_format', 'tools', 'tool_choice', 'presence_penalty', 'frequency_penalty', 'n', 'prediction', 'parallel_tool_calls', 'reasoning_effort', 'prompt_mode', 'guardrails', 'prompt_cache_key', 'safe_prompt']);

/**
 * Mistral's messages are system, user, assistant or tool (no legacy `function` role: 422), and a
 * tool call's id must be 9 letters or digits (its 400, as clients report it).
 * @see https://github.com/editor-code-assistant/eca/issues/233
 */
function mistralRefusesMessages(body: Record<string, unknown>): { status: number; body: unknown } | undefined {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<Record<string, unknown>>) : [];
  for (const [index, message] of messages.entries()) {
    if (!['system', 'user', 'assistant', 'tool'].includes(String(message.role))) {
      return { status: 422, body: { object: 'error', message: { detail: [{ type: 'union_tag_invalid', loc: ['body', 'messages', index], msg: 'Input tag does not match any of the expected tags' }] }, type: 'invalid_request_error', param: null, code: null } };
    }
    const ids = [...(Array.isArray(message.tool_calls) ? (message.tool_calls as Array<{ id?: unknown }>).map((call) => call.id) : []), ...(message.role === 'tool' ? [message.tool_call_id] : [])];
    const bad = ids.find((id) => typeof id !== 'string' || !/^[a-zA-Z0-9]{9}$/.test(id));
    if (ids.length > 0 && bad !== undefined) {
      return { status: 400, body: { object: 'error', message: `Tool call id was ${String(bad)} but must be a-z, A-Z, 0-9, with a length of 9.`, type: 'invalid_function_call', param: null, code: '3280' } };
    }
  }
  return undefined;
}

function mistralRefuses(body: Record<string, unknown>): { status: number; body: unknown } | undefined {
  const extra = Object.keys(body).filter((field) => !MISTRAL_FIELDS.has(field));
  if (extra.length === 0) return mistralRefusesMessages(body);
  const detail = extra.map((field) => ({ type: 'extra_forbidden', loc: ['body', field], msg: 'Extra inputs are not permitted', input: body[field] }));
  return { status: 422, body: { object: 'error', message: { detail }, type: 'invalid_request_error', param: null, code: null } };
}

/** Groq's "not supported and will result in a 400 error if they are supplied" (its OpenAI compatibility page), and n other than 1. */
function groqRefuses(body: Record<string, unknown>): { status: number; body: unknown } | undefined {
  const field = ['logprobs', 'logit_bias', 'top_logprobs'].find((name) => name in body) ?? (body.n !== undefined && body.n !== 1 ? 'n' : undefined);
  return field === undefined ? undefined : { status: 400, body: { error: { message: `property '${field}' is unsupported`, type: 'invalid_request_error' } } };
}

/**
 * xAI's 400 for a `name` on a message of any role but user (its own words, as clients report them).
 * @see https://github.com/BerriAI/litellm/issues/9720, https://github.com/microsoft/autogen/issues/4715
 */
function xaiRefuses(body: Record<string, unknown>): { status: number; body: unknown } | undefined {
  const messages = Array.isArray(body.messages) ? (body.messages as Array<Record<string, unknown>>) : [];
  if (!messages.some((message) => message.role !== 'user' && 'name' in message)) return undefined;
  return { status: 400, body: { code: 'Client specified an invalid argument', error: "Only messages of role 'user' can have a name." } };
}

describe('OpenAI-format family', () => {
  let azure: FakeOpenAi;
  let ollama: FakeOpenAi;
  let groq: FakeOpenAi;
  let mistral: FakeOpenAi;
  let xai: FakeOpenAi;
  let box: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    [azure, ollama, groq, mistral, xai, box] = await Promise.all([
      startFakeOpenAi({ apiKey: 'azure-key-123456' }),
      startFakeOpenAi({ apiKey: undefined }),
      startFakeOpenAi({ apiKey: 'gsk_groqkey1234567890abcdef', refuse: groqRefuses }),
      startFakeOpenAi({ apiKey: 'mistral-key-123456', refuse: mistralRefuses }),
      startFakeOpenAi({ apiKey: 'xai-key-123456', refuse: xaiRefuses }),
      startFakeOpenAi({ apiKey: undefined }),
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-family-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      `providers:
  gpu-box: { type: openai-compatible, base_url: "${box.url}/v1", models: [llama-local] }
  azure: { models: [prod-gpt4o] }
aliases:
  fast: gpu-box/llama-local
  smart: prod-gpt4o
`,
    );
    gateway = await startGateway({
      LLM_PROXY_CONFIG: file,
      AZURE_OPENAI_API_KEY: 'azure-key-123456',
      AZURE_OPENAI_ENDPOINT: azure.url,
      AZURE_OPENAI_API_VERSION: '2024-06-01',
      OLLAMA_BASE_URL: ollama.url,
      GROQ_API_KEY: 'gsk_groqkey1234567890abcdef',
      GROQ_BASE_URL: `${groq.url}/v1`,
      MISTRAL_API_KEY: 'mistral-key-123456',
      MISTRAL_BASE_URL: `${mistral.url}/v1`,
      XAI_API_KEY: 'xai-key-123456',
      XAI_BASE_URL: `${xai.url}/v1`,
    });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([azure, ollama, groq, mistral, xai, box].map((fake) => fake.close()));
  });

  test('azure: deployment in the path, api-version in the query, key in api-key', async () => {
    const response = await chat(gateway, { model: 'azure/my-deployment', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(response.status, 200);
    const sent = azure.requests.at(-1);
    assert.equal(sent?.path, '/openai/deployments/my-deployment/chat/completions?api-version=2024-06-01');
    assert.equal(sent?.headers['api-key'], 'azure-key-123456');
    assert.equal(sent?.headers.authorization, undefined);
  });

  test('azure: a configured deployment routes by bare name and through an alias', async () => {
    assert.equal((await chat(gateway, { model: 'prod-gpt4o', messages: [{ role: 'user', content: 'hi' }] })).status, 200);
    assert.equal(azure.requests.at(-1)?.path.split('?')[0], '/openai/deployments/prod-gpt4o/chat/completions');
    assert.equal((await chat(gateway, { model: 'smart', messages: [{ role: 'user', content: 'hi' }] })).status, 200);
    assert.equal(azure.requests.at(-1)?.path.split('?')[0], '/openai/deployments/prod-gpt4o/chat/completions');
  });

  test('azure streams pass through', async () => {
    const response = await chat(gateway, { model: 'azure/dep', messages: [{ role: 'user', content: 'stream' }], stream: true });
    const text = await response.text();
    assert.match(text, /data: \[DONE\]\n\n$/);
    assert.match(text, /"content":" stream"/);
    // api-version 2024-06-01 predates stream_options: Azure answers 400 to a stream that carries it.
    assert.equal(azure.requests.at(-1)?.body?.stream_options, undefined);
  });

  test("azure: a stream with its content filter's chunks (the prompt's verdict first; annotations whose choice has no delta) converts for /v1/messages", async () => {
    // Azure's stream as its content-streaming guide shows it: annotation chunks carry content_filter_results
    // and offsets, no delta, and may come after the finish.
    // @see https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-streaming
    const event = (payload: Record<string, unknown>) => `data: ${JSON.stringify(payload)}\n\n`;
    const base = { id: 'chatcmpl-azure2', object: 'chat.completion.chunk', created: 1_733_000_000, model: 'gpt-4o-2024-08-06' };
    const annotation = { id: '', object: '', created: 0, model: '', choices: [{ index: 0, finish_reason: null, content_filter_results: { hate: { filtered: false, severity: 'safe' } }, content_filter_offsets: { check_offset: 0, start_offset: 0, end_offset: 5 } }] };
    const parts = [
      event({ id: '', object: '', created: 0, model: '', choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] }) +
        event({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] }),
      event({ ...base, choices: [{ index: 0, delta: { content: 'Hello' }, finish_reason: null }] }) + event(annotation),
      event({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) + event(annotation) + 'data: [DONE]\n\n',
    ];
    azure.enqueue({ kind: 'raw-parts', parts, gapMs: 5 });
    const messages = await fetch(`${gateway.url}/v1/messages`, { method: 'POST', headers: authHeaders(), body: JSON.stringify({ model: 'azure/dep', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    const events = await messages.text();
    assert.equal(messages.status, 200);
    assert.ok(!events.includes('event: error'), events);
    assert.match(events, /"text_delta","text":"Hello"/);
    assert.match(events, /"stop_reason":"end_turn"/);
    assert.match(events, /event: message_stop/);
  });

  test("azure: a prompt its content filter refuses is a 400 with Azure's own code, which the SDK and clients written for Azure read", async () => {
    // Azure's body for a filtered prompt (code content_filter, param prompt, the categories in innererror).
    const body = {
      error: {
        message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
        type: null,
        param: 'prompt',
        code: 'content_filter',
        status: 400,
        innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { hate: { filtered: true, severity: 'high' } } },
      },
    };
    const from = azure.requests.length;
    azure.enqueue({ kind: 'status', status: 400, body: JSON.stringify(body) });
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const error = await client.chat.completions.create({ model: 'azure/dep', messages: [{ role: 'user', content: 'something filtered' }] }).catch((caught: unknown) => caught);
    assert.ok(error instanceof OpenAI.BadRequestError, String(error));
    assert.equal(error.code, 'content_filter');
    assert.equal(error.param, 'prompt');
    assert.match(error.message, /content management policy/);
    // Azure's own detail of what was filtered, which code written for Azure reads (`error.body.innererror` in the Python SDK).
    assert.deepEqual((error.error as { innererror?: unknown }).innererror, body.error.innererror);
    // A refusal of the prompt is the client's to change: not retried.
    assert.equal(azure.requests.length - from, 1);
    // The detail is the provider's text, scrubbed like its message: no key, no upstream address.
    const leaky = { error: { ...body.error, innererror: { ...body.error.innererror, note: `blocklist at ${azure.url}/lists?api-key=azure-key-123456` } } };
    azure.enqueue({ kind: 'status', status: 400, body: JSON.stringify(leaky) });
    const scrubbed = await client.chat.completions.create({ model: 'azure/dep', messages: [{ role: 'user', content: 'something filtered' }] }).catch((caught: unknown) => caught);
    assert.ok(scrubbed instanceof OpenAI.BadRequestError, String(scrubbed));
    const inner = (scrubbed.error as { innererror?: { note?: string; content_filter_result?: unknown } }).innererror;
    assert.deepEqual(inner?.content_filter_result, body.error.innererror.content_filter_result);
    assert.ok(inner?.note !== undefined && !inner.note.includes('azure-key-123456') && !inner.note.includes(new URL(azure.url).host), inner?.note);
  });

  test('ollama: the bare server address gets /v1, and no key is sent', async () => {
    const response = await chat(gateway, { model: 'ollama/llama3.1', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(response.status, 200);
    const sent = ollama.requests.at(-1);
    assert.equal(sent?.path, '/v1/chat/completions');
    assert.equal(sent?.headers.authorization, undefined);
    assert.equal(sent?.body?.model, 'llama3.1');
  });

  test('groq: a catalog model routes by bare name to its host', async () => {
    const response = await chat(gateway, { model: 'llama-3.1-8b-instant', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(response.status, 200);
    assert.equal(groq.requests.at(-1)?.headers.authorization, 'Bearer gsk_groqkey1234567890abcdef');
  });

  test("groq: a stream's usage in Groq's own x_groq.usage is recorded as reported, not estimated, and passed on as Groq sent it", async () => {
    const chunk = (extra: Record<string, unknown>) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-groq1', object: 'chat.completion.chunk', created: 1732551988, model: 'llama-3.1-8b-instant', system_fingerprint: 'fp_9cb648b966', ...extra })}\n\n`;
    const groqUsage = { queue_time: 0.02, prompt_tokens: 41, prompt_time: 0.002, completion_tokens: 7, completion_time: 0.006, total_tokens: 48, total_time: 0.008 };
    groq.enqueue({
      kind: 'raw',
      status: 200,
      contentType: 'text/event-stream',
      body: [
        chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], x_groq: { id: 'req_01jdgroq' } }),
        chunk({ choices: [{ index: 0, delta: { content: 'Hello there, friend' }, logprobs: null, finish_reason: null }] }),
        chunk({ choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], x_groq: { id: 'req_01jdgroq', usage: groqUsage } }),
        'data: [DONE]\n\n',
      ].join(''),
    });
    const from = gateway.usage.recent().length;
    const response = await chat(gateway, { model: 'llama-3.1-8b-instant', messages: [{ role: 'user', content: 'hi' }], stream: true });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /"x_groq":\{"id":"req_01jdgroq","usage":\{"queue_time"/);
    assert.match(text, /data: \[DONE\]\n\n$/);
    for (let wait = 0; wait < 50 && gateway.usage.recent().length === from; wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    const record = gateway.usage.recent().at(-1);
    assert.equal(record?.promptTokens, 41);
    assert.equal(record?.completionTokens, 7);
    assert.equal(record?.estimated, false);
  });

  test('usage on every chunk, cumulative (as xAI has sent it): counted once, from the last; none reaches a client that did not ask', async () => {
    const chunk = (content: string | undefined, completion: number, finish: string | null) =>
      `data: ${JSON.stringify({ id: 'x1', object: 'chat.completion.chunk', created: 1732551988, model: 'llama-local', choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }], usage: { prompt_tokens: 38, completion_tokens: completion, total_tokens: 38 + completion } })}\n\n`;
    box.enqueue({ kind: 'raw', status: 200, contentType: 'text/event-stream', body: [chunk('Coca', 1, null), chunk('-Cola', 2, null), chunk(' is', 3, null), chunk(undefined, 3, 'stop'), 'data: [DONE]\n\n'].join('') });
    const from = gateway.usage.recent().length;
    const response = await chat(gateway, { model: 'fast', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const text = await response.text();
    assert.equal(response.status, 200);
    assert.ok(!text.includes('"usage"'), text);
    assert.match(text, /"content":"Coca".*"content":"-Cola".*"content":" is".*"finish_reason":"stop"/s);
    for (let wait = 0; wait < 50 && gateway.usage.recent().length === from; wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    const record = gateway.usage.recent().at(-1);
    assert.deepEqual([record?.promptTokens, record?.completionTokens, record?.estimated], [38, 3, false]);
  });

  test('mistral: streams without stream_options, which Mistral rejects', async () => {
    const response = await chat(gateway, { model: 'mistral/mistral-small-2506', messages: [{ role: 'user', content: 'hi' }], stream: true });
    assert.equal(response.status, 200);
    await response.text();
    assert.equal(mistral.requests.at(-1)?.body?.stream_options, undefined);
  });

  test('mistral: legacy functions go as tools (it has no functions: 422) and the answer comes back as function_call, plain and streamed', async () => {
    const weather = { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } };
    const conversation = [
      { role: 'user', content: 'Weather in Paris, then Tokyo?' },
      { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
      { role: 'function', name: 'get_weather', content: '18°C' },
    ];
    const fixtures = new URL('../../../src/providers/__fixtures__/', import.meta.url);
    mistral.enqueue({ kind: 'raw', status: 200, contentType: 'application/json', body: readFileSync(new URL('mistral-parallel-tools.response.json', fixtures), 'utf8') });
    const plain = await chat(gateway, { model: 'mistral/mistral-small-2506', messages: conversation, functions: [weather], function_call: { name: 'get_weather' } });
    const answer = (await plain.json()) as { choices: Array<{ message: Record<string, unknown>; finish_reason: string }> };
    assert.equal(plain.status, 200, JSON.stringify(answer));
    assert.deepEqual([answer.choices[0]?.message.function_call, answer.choices[0]?.message.tool_calls, answer.choices[0]?.finish_reason], [{ name: 'get_weather', arguments: '{"location": "Paris"}' }, undefined, 'function_call']);
    const sent = mistral.requests.at(-1)?.body ?? {};
    assert.deepEqual([sent.functions, sent.function_call, sent.tools, sent.tool_choice], [undefined, undefined, [{ type: 'function', function: weather }], { type: 'function', function: { name: 'get_weather' } }]);
    assert.deepEqual((sent.messages as Array<Record<string, unknown>>).map((message) => message.role), ['user', 'assistant', 'tool']);

    mistral.enqueue({ kind: 'raw', status: 200, contentType: 'text/event-stream', body: readFileSync(new URL('mistral-parallel-tools.chunks.txt', fixtures), 'utf8') });
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url}/v1` });
    const stream = await client.chat.completions.create({ model: 'mistral/mistral-small-2506', messages: [{ role: 'user', content: 'Weather in Paris?' }], functions: [weather], function_call: 'auto', stream: true });
    let name = '';
    let args = '';
    let finish: string | null = null;
    let toolCalls = 0;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      name += choice?.delta.function_call?.name ?? '';
      args += choice?.delta.function_call?.arguments ?? '';
      toolCalls += choice?.delta.tool_calls?.length ?? 0;
      finish = choice?.finish_reason ?? finish;
    }
    assert.deepEqual([name, args, toolCalls, finish], ['get_weather', '{"location": "Paris"}', 0, 'function_call']);
    assert.equal(mistral.requests.at(-1)?.body?.tool_choice, 'auto');
  });

  test("mistral: OpenAI's max_completion_tokens, seed and user reach it in its own names (user dropped, with a warning)", async () => {
    const response = await chat(gateway, { model: 'mistral/mistral-small-2506', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 20, seed: 3, user: 'u-1' });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('x-llm-proxy-warnings') ?? '', /user: not supported by mistral, ignored/);
    const sent = mistral.requests.at(-1)?.body;
    assert.deepEqual([sent?.max_tokens, sent?.random_seed, sent?.max_completion_tokens, sent?.seed, sent?.user], [20, 3, undefined, undefined, undefined]);
  });

  test('mistral: a conversation ending on an assistant message (a prefill) is sent with prefix: true, which Mistral asks for there', async () => {
    // Without it Mistral answers 400 "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant".
    const prefill = { role: 'assistant', content: 'Paris is' };
    const response = await chat(gateway, { model: 'mistral/mistral-small-2506', messages: [{ role: 'user', content: 'Capital of France?' }, prefill] });
    assert.equal(response.status, 200);
    const sent = mistral.requests.at(-1)?.body?.messages as Array<Record<string, unknown>> | undefined;
    assert.deepEqual(sent?.at(-1), { ...prefill, prefix: true });
    // An earlier assistant message, and a last one with tool calls (answered by tool results next), are left as they are.
    const calls = [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }];
    await chat(gateway, { model: 'mistral/mistral-small-2506', messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }] });
    assert.equal((mistral.requests.at(-1)?.body?.messages as Array<Record<string, unknown>>)[1]?.prefix, undefined);
    await chat(gateway, { model: 'mistral/mistral-small-2506', messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: null, tool_calls: calls }] });
    assert.equal((mistral.requests.at(-1)?.body?.messages as Array<Record<string, unknown>>).at(-1)?.prefix, undefined);
  });

  test("mistral: its 422 for a field it refuses names the field, in both of Mistral's shapes", async () => {
    const detail = [{ type: 'extra_forbidden', loc: ['body', 'messages', 0, 'user', 'name'], msg: 'Extra inputs are not permitted', input: 'bob' }];
    for (const body of [{ object: 'error', message: { detail }, type: 'invalid_request_error', param: null, code: null }, { detail }]) {
      mistral.enqueue({ kind: 'status', status: 422, body: JSON.stringify(body) });
      const response = await chat(gateway, { model: 'mistral/mistral-small-2506', messages: [{ role: 'user', content: 'hi', name: 'bob' }] });
      assert.equal(response.status, 400);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'upstream_invalid_request');
      assert.match(error.message, /body\.messages\.0\.user\.name: Extra inputs are not permitted/);
      assert.doesNotMatch(error.message, /bob/, 'the refused value is not echoed');
    }
  });

  test('mistral and groq: log probabilities asked for are a 400 naming the field and the host, before any call', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['mistral/mistral-small-2506', { logprobs: true }, 'logprobs'],
      ['mistral/mistral-small-2506', { top_logprobs: 3 }, 'top_logprobs'],
      ['mistral/mistral-small-2506', { web_search_options: {} }, 'web_search_options'],
      ['mistral/mistral-small-2506', { modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'mp3' } }, 'modalities'],
      ['groq/llama-3.1-8b-instant', { logprobs: true, top_logprobs: 2 }, 'logprobs'],
      ['groq/llama-3.1-8b-instant', { n: 2 }, 'n'],
    ];
    for (const [model, fields, param] of cases) {
      const fake = model.startsWith('groq') ? groq : mistral;
      const before = fake.requests.length;
      const response = await chat(gateway, { model, messages: [{ role: 'user', content: 'hi' }], ...fields });
      assert.equal(response.status, 400, `${model} ${param}`);
      const { error } = (await response.json()) as { error: { code: string; param: string; message: string } };
      assert.deepEqual([error.code, error.param], ['unsupported_parameter', param], error.message);
      assert.match(error.message, new RegExp(`'${param}' is not supported by ${model.split('/')[0]}`));
      assert.equal(fake.requests.length, before, `${model} ${param}: no upstream call`);
    }
  });

  test('mistral and groq: what means the default is not sent; a logit_bias is dropped with a warning', async () => {
    const cases: Array<[string, FakeOpenAi, Record<string, unknown>, RegExp | undefined]> = [
      ['mistral/mistral-small-2506', mistral, { logprobs: false, top_logprobs: null, modalities: ['text'], web_search_options: null, audio: null }, undefined],
      ['mistral/mistral-small-2506', mistral, { logit_bias: { '1734': -100 } }, /logit_bias: not supported by mistral, ignored/],
      ['groq/llama-3.1-8b-instant', groq, { logprobs: false, n: 1 }, undefined],
      ['groq/llama-3.1-8b-instant', groq, { logit_bias: { '1734': -100 } }, /logit_bias: not supported by groq, ignored/],
    ];
    for (const [model, fake, fields, warning] of cases) {
      const response = await chat(gateway, { model, messages: [{ role: 'user', content: 'hi' }], ...fields });
      assert.equal(response.status, 200, `${model} ${JSON.stringify(fields)}: ${await response.clone().text()}`);
      const warnings = response.headers.get('x-llm-proxy-warnings') ?? '';
      if (warning === undefined) assert.equal(warnings, '', `${model} ${JSON.stringify(fields)}`);
      else assert.match(warnings, warning);
      const sent = fake.requests.at(-1)?.body ?? {};
      for (const field of Object.keys(fields)) if (field !== 'n') assert.equal(field in sent, false, `${model}: ${field} not sent`);
    }
  });

  test("xai: a name on a message whose role is not user, which xAI refuses, is dropped with a warning; a user's name stays", async () => {
    const messages = [
      { role: 'system', content: 'Two players.', name: 'narrator' },
      { role: 'user', content: 'I open the door.', name: 'alice' },
      { role: 'assistant', content: 'It creaks.', name: 'dungeon_master' },
      { role: 'user', content: 'I look inside.', name: 'bob' },
    ];
    const response = await chat(gateway, { model: 'xai/grok-4.3', messages });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(response.headers.get('x-llm-proxy-warnings'), 'name on messages whose role is not user: not supported by xai, ignored');
    const sent = xai.requests.at(-1)?.body?.messages as Array<Record<string, unknown>>;
    assert.deepEqual(sent, [{ role: 'system', content: 'Two players.' }, messages[1], { role: 'assistant', content: 'It creaks.' }, messages[3]]);
    // Nothing to drop: no warning, the messages as sent.
    const plain = await chat(gateway, { model: 'xai/grok-4.3', messages: [messages[1]] });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('x-llm-proxy-warnings'), null);
    assert.deepEqual(xai.requests.at(-1)?.body?.messages, [messages[1]]);
  });

  test('a config-file openai-compatible provider and an alias to it', async () => {
    const response = await chat(gateway, { model: 'fast', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(response.status, 200);
    assert.equal(box.requests.at(-1)?.body?.model, 'llama-local');
  });

  test('every field a client sends is forwarded; only the model name changes', async () => {
    const body = {
      model: 'fast',
      messages: [{ role: 'user', content: 'hi' }],
      n: 2,
      seed: 7,
      logprobs: true,
      top_logprobs: 2,
      presence_penalty: 0.5,
      frequency_penalty: 0.25,
      stop: ['###'],
      response_format: { type: 'json_object' },
      user: 'user-1',
      a_field_openai_adds_next_year: { nested: [1, 2] },
    };
    assert.equal((await chat(gateway, body)).status, 200);
    assert.deepEqual(box.requests.at(-1)?.body, { ...body, model: 'llama-local' });
  });

  test('/v1/models lists what each configured provider serves', async () => {
    const response = await fetch(`${gateway.url}/v1/models`, { headers: authHeaders() });
    const list = (await response.json()) as { data: Array<{ id: string; owned_by: string }> };
    const owner = new Map(list.data.map((model) => [model.id, model.owned_by]));
    assert.equal(owner.get('llama-local'), 'gpu-box');
    assert.equal(owner.get('prod-gpt4o'), 'azure');
    assert.equal(owner.get('llama-3.1-8b-instant'), 'groq');
    assert.equal(owner.get('fast'), 'gpu-box');
    assert.equal(owner.has('gpt-4'), false, 'no OpenAI provider is configured here');
  });

  test('/health and /health/providers need no key and name every provider', async () => {
    const health = (await (await fetch(`${gateway.url}/health`)).json()) as { status: string };
    assert.equal(health.status, 'healthy');
    const providers = (await (await fetch(`${gateway.url}/health/providers`)).json()) as Record<string, { status: string; configured: boolean }>;
    assert.equal(providers.azure?.configured, true);
    assert.equal(providers['gpu-box']?.configured, true);
    assert.equal(providers.openai?.status, 'not_configured');
    assert.equal(JSON.stringify(providers).includes('azure-key-123456'), false);
  });
});
