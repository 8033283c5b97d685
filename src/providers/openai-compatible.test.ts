// The outgoing body of the OpenAI-format family: every field the client sent, the upstream's model
// name, and the usage chunk always asked for on streams (where the host takes stream_options).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatCompletionRequest } from '../openai/types.js';
import {
  convertOpenAiRequest,
  convertOpenAiStreamError,
  createOpenAiCodec,
  parseOpenAiErrorMessage,
  parseOpenAiErrorStatus,
  parseOpenAiModelList,
  withoutThinkingBlocks,
  type OpenAiFamilyKind,
} from './openai-compatible.js';
import type { ChatTarget } from './provider.js';

const target = (model: string, stream: boolean): ChatTarget => ({
  provider: 'openai',
  model,
  stream,
  includeUsage: false,
  requestId: 'r1',
  created: 0,
  warnings: [],
});

const base: ChatCompletionRequest = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say "hi" }' }],
  temperature: 0.2,
  future_field: { nested: [1, 2] },
} as ChatCompletionRequest;

describe('convertOpenAiRequest', () => {
  test('same model, not streaming: the request as sent, every field kept', () => {
    const out = convertOpenAiRequest(base, target('gpt-4o-mini', false), true);
    assert.deepEqual(JSON.parse(out), base);
  });

  test('same model, streaming: include_usage is added, once, and the body stays valid JSON', () => {
    const request = { ...base, stream: true } as ChatCompletionRequest;
    const out = convertOpenAiRequest(request, target('gpt-4o-mini', true), true);
    assert.deepEqual(JSON.parse(out), { ...request, stream_options: { include_usage: true } });
    assert.equal(out.match(/"stream_options"/g)?.length, 1);
  });

  test("the client's own stream_options are kept beside include_usage", () => {
    const request = { ...base, stream: true, stream_options: { include_usage: false, extra: 1 } } as unknown as ChatCompletionRequest;
    const out = JSON.parse(convertOpenAiRequest(request, target('gpt-4o-mini', true), true)) as Record<string, unknown>;
    assert.deepEqual(out.stream_options, { include_usage: true, extra: 1 });
  });

  test("another upstream model name replaces the client's; the request object is not changed", () => {
    const request = { ...base, stream: true } as ChatCompletionRequest;
    const before = JSON.stringify(request);
    const out = JSON.parse(convertOpenAiRequest(request, target('prod-deployment', true), true)) as Record<string, unknown>;
    assert.equal(out.model, 'prod-deployment');
    assert.deepEqual(out.stream_options, { include_usage: true });
    assert.equal(JSON.stringify(request), before);
  });

  test('a host that refuses stream_options gets none', () => {
    const request = { ...base, stream: true } as ChatCompletionRequest;
    const out = JSON.parse(convertOpenAiRequest(request, target('gpt-4o-mini', true), false)) as Record<string, unknown>;
    assert.equal('stream_options' in out, false);
  });
});

/** A conversation replayed with another host's reasoning on its assistant turns, and a developer message. */
const REPLAYED_REASONING = [
  { role: 'developer', content: 'Be brief.' },
  { role: 'user', content: 'hi' },
  { role: 'assistant', content: 'Hello', reasoning_content: 'The user greets me.' },
  { role: 'assistant', content: 'Again', reasoning: 'x' },
  { role: 'user', content: 'bye' },
];

describe('stream_options by host and Azure api-version', () => {
  const streamed = { ...base, stream: true } as ChatCompletionRequest;
  const asked = { ...base, stream: true, stream_options: { include_usage: true } } as unknown as ChatCompletionRequest;
  const build = (options: Parameters<typeof createOpenAiCodec>[0], request: ChatCompletionRequest) => {
    const sink = target('dep', true);
    const sent = JSON.parse(createOpenAiCodec(options).buildChatRequest(request, sink).body ?? '') as Record<string, unknown>;
    return { sent, warnings: sink.warnings };
  };

  test('Azure from api-version 2024-09-01-preview (GA 2024-10-21) and its v1 preview/latest is asked for usage', () => {
    for (const apiVersion of [undefined, '2024-10-21', '2024-09-01-preview', '2025-04-01-preview', 'preview', 'latest']) {
      const { sent, warnings } = build({ kind: 'azure', ...(apiVersion === undefined ? {} : { apiVersion }) }, streamed);
      assert.deepEqual(sent.stream_options, { include_usage: true }, String(apiVersion));
      assert.deepEqual(warnings, []);
    }
  });

  test('older Azure api-versions refuse stream_options (400 "Unrecognized request argument"): none is sent, the client\'s own with a warning', () => {
    for (const apiVersion of ['2024-06-01', '2024-02-01', '2023-05-15', '2024-08-01-preview']) {
      assert.equal('stream_options' in build({ kind: 'azure', apiVersion }, streamed).sent, false, apiVersion);
      const { sent, warnings } = build({ kind: 'azure', apiVersion }, asked);
      assert.equal('stream_options' in sent, false, apiVersion);
      assert.deepEqual(warnings, [`stream_options: not supported by openai (Azure api-version ${apiVersion}), ignored`]);
    }
  });

  test('older Azure api-versions refuse max_completion_tokens too: it is sent as max_tokens (the /v1/messages chat form for Azure included)', () => {
    const request = { ...base, max_completion_tokens: 50 } as ChatCompletionRequest;
    const old = build({ kind: 'azure', apiVersion: '2024-08-01-preview' }, request).sent;
    assert.deepEqual([old.max_tokens, 'max_completion_tokens' in old], [50, false]);
    const current = build({ kind: 'azure', apiVersion: '2024-10-21' }, request).sent;
    assert.deepEqual([current.max_completion_tokens, 'max_tokens' in current], [50, false]);
  });

  test("a reasoning model on OpenAI or Azure gets the client's max_tokens as max_completion_tokens, the only name it takes", () => {
    const reasoning = (options: Parameters<typeof createOpenAiCodec>[0], request: ChatCompletionRequest) => {
      const sink = { ...target('o3', false), reasoningOutputLimit: true };
      return JSON.parse(createOpenAiCodec(options).buildChatRequest(request, sink).body ?? '') as Record<string, unknown>;
    };
    const request = { ...base, max_tokens: 50 } as ChatCompletionRequest;
    for (const options of [{ kind: 'openai' as const }, { kind: 'azure' as const, apiVersion: '2025-04-01-preview' }]) {
      const sent = reasoning(options, request);
      assert.deepEqual([sent.max_completion_tokens, 'max_tokens' in sent], [50, false], options.kind);
    }
    // The client's own max_completion_tokens wins.
    assert.equal(reasoning({ kind: 'openai' }, { ...request, max_completion_tokens: 80 } as ChatCompletionRequest).max_completion_tokens, 80);
    // Another model keeps the field as sent; other hosts are not OpenAI's reasoning models.
    assert.equal(build({ kind: 'openai' }, request).sent.max_tokens, 50);
    assert.equal(reasoning({ kind: 'groq' }, request).max_tokens, 50);
  });

  test("Mistral, which sends usage unasked and refuses unknown fields, never gets the client's stream_options either", () => {
    const { sent, warnings } = build({ kind: 'mistral' }, asked);
    assert.equal('stream_options' in sent, false);
    assert.deepEqual(warnings, []);
  });
});

describe("Mistral's names for OpenAI's fields (it answers 422 to any field it does not know)", () => {
  const build = (request: Record<string, unknown>) => {
    const sink = { ...target('mistral-small-2506', false), provider: 'mistral' };
    const sent = JSON.parse(createOpenAiCodec({ kind: 'mistral' }).buildChatRequest(request as unknown as ChatCompletionRequest, sink).body ?? '') as Record<string, unknown>;
    return { sent, warnings: sink.warnings };
  };

  test('max_completion_tokens is sent as max_tokens, seed as random_seed; user is dropped with a warning', () => {
    const request = { model: 'mistral-small-2506', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 50, seed: 7, user: 'u-1', temperature: 0.2 };
    const before = JSON.stringify(request);
    const { sent, warnings } = build(request);
    assert.deepEqual(sent, { model: 'mistral-small-2506', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, random_seed: 7, temperature: 0.2 });
    assert.deepEqual(warnings, ['user: not supported by mistral, ignored']);
    assert.equal(JSON.stringify(request), before, 'a fallback to another host still gets the request as sent');
  });

  test("OpenAI's fields about its own service (store, service_tier, safety_identifier, cache retention, moderation) and verbosity are dropped with a warning each; Mistral's own (metadata, prompt_cache_key, prediction) stay", () => {
    const request = {
      model: 'mistral-small-2506',
      messages: [{ role: 'user', content: 'hi' }],
      store: false,
      service_tier: 'auto',
      safety_identifier: 'u-hash',
      prompt_cache_retention: '24h',
      prompt_cache_options: { ttl: '30m' },
      moderation: { model: 'omni-moderation-latest' },
      verbosity: 'low',
      metadata: { team: 'a' },
      prompt_cache_key: 'k',
      prediction: { type: 'content', content: 'x' },
      parallel_tool_calls: true,
    };
    const before = JSON.stringify(request);
    const { sent, warnings } = build(request);
    assert.deepEqual(sent, {
      model: 'mistral-small-2506',
      messages: [{ role: 'user', content: 'hi' }],
      metadata: { team: 'a' },
      prompt_cache_key: 'k',
      prediction: { type: 'content', content: 'x' },
      parallel_tool_calls: true,
    });
    assert.deepEqual(warnings, ['store', 'service_tier', 'safety_identifier', 'prompt_cache_retention', 'prompt_cache_options', 'moderation', 'verbosity'].map((field) => `${field}: not supported by mistral, ignored`));
    assert.equal(JSON.stringify(request), before, 'a fallback to another host still gets the request as sent');
    // Null is what the SDK sends for "not set": nothing to warn about, but Mistral refuses the key all the same.
    const nulls = build({ model: 'm', messages: [], store: null, verbosity: null });
    assert.deepEqual(nulls, { sent: { model: 'mistral-small-2506', messages: [] }, warnings: [] });
  });

  test("the client's own max_tokens wins over max_completion_tokens", () => {
    assert.deepEqual(build({ model: 'm', messages: [], max_tokens: 10, max_completion_tokens: 50 }).sent, { model: 'mistral-small-2506', messages: [], max_tokens: 10 });
  });

  test("a developer message is a system message; another host's reasoning on an assistant message is dropped, with a warning", () => {
    const { sent, warnings } = build({
      model: 'm',
      messages: REPLAYED_REASONING,
    });
    assert.deepEqual(sent.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'assistant', content: 'Again' },
      { role: 'user', content: 'bye' },
    ]);
    assert.deepEqual(warnings, ['reasoning_content on assistant messages: not supported by mistral, ignored']);
  });

  test('a request with none of them is sent as it came; other hosts get every field', () => {
    const plain = { model: 'mistral-small-2506', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 };
    assert.deepEqual(build(plain), { sent: plain, warnings: [] });
    const request = { ...base, max_completion_tokens: 50, seed: 7, user: 'u' } as ChatCompletionRequest;
    assert.deepEqual(JSON.parse(createOpenAiCodec({ kind: 'groq' }).buildChatRequest(request, target('gpt-4o-mini', false)).body ?? ''), request);
  });
});

describe("Groq refuses reasoning_content on an assistant message (400 \"property 'reasoning_content' is unsupported\")", () => {
  test("another host's reasoning_content replayed on an assistant message is dropped with a warning; Groq's own reasoning field is kept", () => {
    const sink = { ...target('openai/gpt-oss-120b', false), provider: 'groq' };
    const request = {
      model: 'openai/gpt-oss-120b',
      messages: REPLAYED_REASONING,
    };
    const before = JSON.stringify(request);
    const sent = JSON.parse(createOpenAiCodec({ kind: 'groq' }).buildChatRequest(request as unknown as ChatCompletionRequest, sink).body ?? '') as Record<string, unknown>;
    assert.deepEqual(sent.messages, [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'assistant', content: 'Again', reasoning: 'x' },
      { role: 'user', content: 'bye' },
    ]);
    assert.deepEqual(sink.warnings, ['reasoning_content on assistant messages: not supported by groq, ignored']);
    assert.equal(JSON.stringify(request), before, 'a fallback to another host still gets the request as sent');
  });
});

describe("Gemini's thought signature on a replayed tool call (extra_content), sent to hosts that refuse fields they do not know", () => {
  const call = (id: string, extra: boolean) => ({ id, type: 'function', function: { name: 'w', arguments: '{}' }, ...(extra ? { extra_content: { google: { thought_signature: 'CiQB' } } } : {}) });
  const request = {
    model: 'm',
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: null, tool_calls: [call('call_1', true), call('call_2', false)] },
      { role: 'tool', tool_call_id: 'call_1', content: '1' },
      { role: 'tool', tool_call_id: 'call_2', content: '2' },
    ],
  };
  const sentBy = (kind: OpenAiFamilyKind) => JSON.parse(createOpenAiCodec({ kind }).buildChatRequest(request as unknown as ChatCompletionRequest, target('m', false)).body ?? '') as { messages: Array<{ tool_calls?: unknown[] }> };

  test('Mistral and Groq get the calls without it (a Gemini answer replayed after a fallback); the request is not changed', () => {
    const before = JSON.stringify(request);
    for (const kind of ['mistral', 'groq'] as const) {
      assert.deepEqual(sentBy(kind).messages[1]?.tool_calls, [call('call_1', false), call('call_2', false)], kind);
    }
    assert.equal(JSON.stringify(request), before);
  });

  test("OpenAI-compatible servers (Google's own OpenAI-compatible API needs it back) and OpenAI get it as it came", () => {
    for (const kind of ['openai-compatible', 'openai'] as const) assert.deepEqual(sentBy(kind).messages[1]?.tool_calls, [call('call_1', true), call('call_2', false)], kind);
  });
});

describe('max_completion_tokens and the developer role on hosts that ignore or refuse them', () => {
  const sentBy = (kind: 'ollama' | 'deepseek' | 'groq' | 'openai', request: Record<string, unknown>) =>
    JSON.parse(createOpenAiCodec({ kind }).buildChatRequest(request as unknown as ChatCompletionRequest, target('m', false)).body ?? '') as Record<string, unknown>;

  test('Ollama and DeepSeek get it as max_tokens, which they honour (the client\'s own max_tokens wins)', () => {
    for (const kind of ['ollama', 'deepseek'] as const) {
      const request = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 5 };
      const before = JSON.stringify(request);
      assert.deepEqual(sentBy(kind, request), { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }, kind);
      assert.equal(JSON.stringify(request), before);
      assert.deepEqual(sentBy(kind, { model: 'm', messages: [], max_tokens: 3, max_completion_tokens: 5 }), { model: 'm', messages: [], max_tokens: 3 }, kind);
    }
  });

  test('Ollama and DeepSeek get a developer message as system (DeepSeek answers 400 "unknown variant `developer`")', () => {
    for (const kind of ['ollama', 'deepseek'] as const) {
      const request = { model: 'm', messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'hi' }] };
      assert.deepEqual(sentBy(kind, request).messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], kind);
      assert.equal(request.messages[0]?.role, 'developer');
    }
    assert.equal((sentBy('openai', { model: 'm', messages: [{ role: 'developer', content: 'x' }] }).messages as { role: string }[])[0]?.role, 'developer');
  });

  test('hosts that take it get it as sent', () => {
    for (const kind of ['groq', 'openai'] as const) assert.deepEqual(sentBy(kind, { model: 'm', messages: [], max_completion_tokens: 5 }), { model: 'm', messages: [], max_completion_tokens: 5 });
  });
});

describe('parseOpenAiErrorMessage', () => {
  test("OpenAI's, Ollama's string and a top-level message", () => {
    assert.equal(parseOpenAiErrorMessage({ error: { message: 'Bad key', type: 'invalid_request_error' } }), 'Bad key');
    assert.equal(parseOpenAiErrorMessage({ error: 'model "x" not found, try pulling it first' }), 'model "x" not found, try pulling it first');
    assert.equal(parseOpenAiErrorMessage({ object: 'error', message: 'Invalid model: x', type: 'invalid_model' }), 'Invalid model: x');
  });

  // Mistral's 422 for a field it does not take, in the shapes it has sent; FastAPI servers' `detail`.
  const extra = { type: 'extra_forbidden', loc: ['body', 'messages', 1, 'assistant', 'reasoning_content'], msg: 'Extra inputs are not permitted', input: 'x' };
  const named = 'body.messages.1.assistant.reasoning_content: Extra inputs are not permitted';
  test('a validation list (pydantic `detail`) names each refused field', () => {
    assert.equal(parseOpenAiErrorMessage({ object: 'error', message: { detail: [extra] }, type: 'invalid_request_error', param: null, code: null }), named);
    assert.equal(parseOpenAiErrorMessage({ detail: [extra, { ...extra, loc: ['body', 'n'] }] }), `${named}; body.n: Extra inputs are not permitted`);
    assert.equal(parseOpenAiErrorMessage({ object: 'Error', detail: [extra], message: [extra], type: 'invalid_request_error', code: 3001 }), named);
    assert.equal(parseOpenAiErrorMessage({ detail: 'Not Found' }), 'Not Found');
  });

  test('an error list (Google-style `[{"error": {...}}]`) reads its first entry', () => {
    assert.equal(parseOpenAiErrorMessage([{ error: { code: 400, message: 'Invalid JSON payload', status: 'INVALID_ARGUMENT' } }]), 'Invalid JSON payload');
  });

  test('nothing readable is undefined', () => {
    assert.equal(parseOpenAiErrorMessage({ error: { code: 500 } }), undefined);
    assert.equal(parseOpenAiErrorMessage({ detail: [{ nothing: true }] }), undefined);
    assert.equal(parseOpenAiErrorMessage([]), undefined);
    assert.equal(parseOpenAiErrorMessage('oops'), undefined);
  });
});

describe('an error event inside a stream (parseOpenAiErrorStatus with 200, convertOpenAiStreamError)', () => {
  test('a rate limit, by code or by type, is the 429 it would have been before the headers', () => {
    const byCode = { error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' } };
    const byType = { error: { message: 'Slow down', type: 'rate_limit_exceeded' } };
    assert.equal(parseOpenAiErrorStatus(200, byCode), 429);
    assert.equal(parseOpenAiErrorStatus(200, byType), 429);
    const error = convertOpenAiStreamError(byCode, 'openai');
    assert.equal(error.status, 429);
    assert.equal(error.code, 'upstream_rate_limited');
    assert.equal(error.retryable, true);
  });

  test('any other error event is a broken stream', () => {
    const other = { error: { message: 'The server had an error', type: 'server_error', code: null } };
    assert.equal(parseOpenAiErrorStatus(200, other), undefined);
    assert.equal(parseOpenAiErrorStatus(200, { error: 'rate_limit_exceeded' }), undefined);
    assert.equal(convertOpenAiStreamError(other, 'openai').code, 'upstream_stream_error');
  });
});

describe('parseOpenAiModelList', () => {
  test('reads ids, owners, creation times and context windows; skips entries without a usable id', () => {
    const body = {
      object: 'list',
      data: [
        { id: 'gpt-4o', object: 'model', created: 1715367049, owned_by: 'system' },
        { id: 'meta/llama-3.1-8b', context_length: 131072 },
        { id: '' },
        { id: 7 },
        null,
      ],
    };
    assert.deepEqual(parseOpenAiModelList(body), [
      { id: 'gpt-4o', ownedBy: 'system', created: 1715367049 },
      { id: 'meta/llama-3.1-8b', contextLength: 131072 },
    ]);
  });

  test('a 200 whose JSON is not a list is a failed read (undefined), not an empty list', () => {
    assert.equal(parseOpenAiModelList({ error: 'temporarily unavailable' }), undefined);
    assert.equal(parseOpenAiModelList({ error: { message: 'overloaded', type: 'server_error' } }), undefined);
    assert.equal(parseOpenAiModelList({ object: 'list', data: { id: 'gpt-4o' } }), undefined);
    assert.equal(parseOpenAiModelList({ data: null }), undefined);
    assert.equal(parseOpenAiModelList([]), undefined);
    assert.equal(parseOpenAiModelList([{ error: { message: 'overloaded' } }]), undefined);
    assert.equal(parseOpenAiModelList('ok'), undefined);
    assert.equal(parseOpenAiModelList(null), undefined);
  });

  test("Groq's context_window and max_completion_tokens, Mistral's max_context_length", () => {
    const groq = { object: 'list', data: [{ id: 'llama-3.1-8b-instant', object: 'model', created: 1693721698, owned_by: 'Meta', active: true, context_window: 131072, max_completion_tokens: 131072 }] };
    assert.deepEqual(parseOpenAiModelList(groq), [{ id: 'llama-3.1-8b-instant', ownedBy: 'Meta', created: 1693721698, contextLength: 131072, maxOutputTokens: 131072 }]);
    const mistral = { object: 'list', data: [{ id: 'mistral-small-2506', object: 'model', created: 1750000000, owned_by: 'mistralai', max_context_length: 131072, capabilities: { completion_chat: true } }] };
    assert.deepEqual(parseOpenAiModelList(mistral), [{ id: 'mistral-small-2506', ownedBy: 'mistralai', created: 1750000000, contextLength: 131072 }]);
  });

  test("Together's list is a bare array of models (with their type and context window)", () => {
    const body = [
      { id: 'meta-llama/Llama-3.3-70B-Instruct-Turbo', object: 'model', created: 1733443200, type: 'chat', display_name: 'Meta Llama 3.3 70B', organization: 'Meta', context_length: 131072 },
      { id: 'BAAI/bge-large-en-v1.5', object: 'model', created: 0, type: 'embedding', context_length: 512 },
    ];
    assert.deepEqual(parseOpenAiModelList(body), [
      { id: 'meta-llama/Llama-3.3-70B-Instruct-Turbo', created: 1733443200, contextLength: 131072 },
      { id: 'BAAI/bge-large-en-v1.5', created: 0, contextLength: 512 },
    ]);
  });

  test('an explicit empty list is empty; so is Ollama with nothing pulled (`data: null` in a list)', () => {
    assert.deepEqual(parseOpenAiModelList({ object: 'list', data: [] }), []);
    assert.deepEqual(parseOpenAiModelList({ object: 'list', data: null }), []);
  });
});

describe('cache_control markers on OpenAI-format hosts', () => {
  const FIVE = { type: 'ephemeral' };
  const marked = {
    model: 'm',
    cache_control: FIVE,
    messages: [
      { role: 'system', content: 'S', cache_control: FIVE },
      { role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: FIVE }, { type: 'text', text: 'there' }] },
      { role: 'assistant', content: 'Hello' },
    ],
    tools: [
      { type: 'function', function: { name: 'a', cache_control: FIVE } },
      { type: 'function', function: { name: 'b' }, cache_control: FIVE },
      { type: 'function', function: { name: 'c' } },
    ],
    functions: [{ name: 'd', cache_control: FIVE }],
  } as unknown as ChatCompletionRequest;
  const build = (kind: 'mistral' | 'openrouter', request: ChatCompletionRequest) => {
    const sink = target('m', false);
    const body = createOpenAiCodec({ kind }).buildChatRequest(request, sink).body ?? '';
    return { body, warnings: sink.warnings };
  };

  // Mistral takes no legacy functions (a 400 before the call, host-request-fit.ts): its requests go without them.
  const { functions: _legacy, ...markedTools } = marked;
  const forMistral = markedTools as ChatCompletionRequest;

  test('Mistral refuses unknown fields: the markers are taken out, with a warning, and the client’s request is left as it was', () => {
    const before = JSON.stringify(forMistral);
    const { body, warnings } = build('mistral', forMistral);
    assert.doesNotMatch(body, /cache_control/);
    assert.deepEqual(JSON.parse(body), {
      model: 'm',
      messages: [
        { role: 'system', content: 'S' },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'text', text: 'there' }] },
        // The last message is an assistant's: Mistral takes it only as a prefill (host-request-fit.ts).
        { role: 'assistant', content: 'Hello', prefix: true },
      ],
      tools: [
        { type: 'function', function: { name: 'a' } },
        { type: 'function', function: { name: 'b' } },
        { type: 'function', function: { name: 'c' } },
      ],
    });
    assert.deepEqual(warnings, ['cache_control: not supported by mistral, ignored']);
    assert.equal(JSON.stringify(forMistral), before, 'a fallback to a host that takes markers still gets them');
    const plain = build('mistral', base);
    assert.deepEqual(JSON.parse(plain.body), { ...base, model: 'm' });
    assert.deepEqual(plain.warnings, []);
  });

  test('other hosts (OpenRouter serving Claude) get them as sent', () => {
    const { body, warnings } = build('openrouter', marked);
    assert.deepEqual(JSON.parse(body), marked);
    assert.deepEqual(warnings, []);
  });

  test('OpenRouter hangs on a marker set on a tool message itself: that one is taken out, with a warning; its content parts keep theirs', () => {
    const withTools = {
      ...marked,
      messages: [
        ...marked.messages,
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'result one', cache_control: FIVE },
        { role: 'tool', tool_call_id: 'c2', content: [{ type: 'text', text: 'result two', cache_control: FIVE }] },
      ],
    } as unknown as ChatCompletionRequest;
    const before = JSON.stringify(withTools);
    const { body, warnings } = build('openrouter', withTools);
    const sent = JSON.parse(body) as { messages: Record<string, unknown>[] };
    assert.deepEqual(sent.messages.slice(0, 4), JSON.parse(JSON.stringify(withTools.messages.slice(0, 4))), 'the other markers are sent');
    assert.deepEqual(sent.messages[4], { role: 'tool', tool_call_id: 'c1', content: 'result one' });
    assert.deepEqual(sent.messages[5], { role: 'tool', tool_call_id: 'c2', content: [{ type: 'text', text: 'result two', cache_control: FIVE }] });
    assert.deepEqual(warnings, ["cache_control on a 'tool' message (mark its content part instead): not supported by openrouter, ignored"]);
    assert.equal(JSON.stringify(withTools), before, 'the client’s request is left as it was');
    // Mistral takes every marker out: the tool message's too.
    assert.doesNotMatch(build('mistral', { ...withTools, functions: undefined }).body, /cache_control/);
  });
});

describe('thinking_blocks replayed from a Claude answer', () => {
  test('never reach an OpenAI-format host; a request without them is not copied', () => {
    const request: ChatCompletionRequest = {
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello', thinking_blocks: [{ type: 'thinking', thinking: 'greet', signature: 'sig' }] },
        { role: 'user', content: 'Again' },
      ],
    };
    const stripped = withoutThinkingBlocks(request);
    assert.deepEqual(stripped?.messages[1], { role: 'assistant', content: 'Hello' });
    assert.equal((request.messages[1] as { thinking_blocks?: unknown }).thinking_blocks !== undefined, true, 'the client’s request is not changed');
    assert.equal(withoutThinkingBlocks({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }), undefined);
  });
});

describe('stop sequences beyond what the host documents', () => {
  const request = (count: number): ChatCompletionRequest => ({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stop: Array.from({ length: count }, (_, index) => `S${index}:`) });
  test('OpenAI and Azure take 4: a fifth is a 400 naming stop; hosts with no documented limit get them all', () => {
    for (const kind of ['openai', 'azure'] as const) {
      assert.throws(() => createOpenAiCodec({ kind }).buildChatRequest(request(5), target('gpt-4o', false)), (error: unknown) => {
        const refusal = error as { status?: number; param?: string; message?: string };
        return refusal.status === 400 && refusal.param === 'stop' && /at most 4 stop sequences, got 5/.test(refusal.message ?? '');
      });
      assert.equal((JSON.parse(createOpenAiCodec({ kind }).buildChatRequest(request(4), target('gpt-4o', false)).body ?? '') as { stop: unknown[] }).stop.length, 4);
    }
    assert.equal((JSON.parse(createOpenAiCodec({ kind: 'deepseek' }).buildChatRequest(request(8), target('m', false)).body ?? '') as { stop: unknown[] }).stop.length, 8);
  });
});
