// The conformance suite (issue #3): ONE table of cases, each a function of the provider under test, run
// against every adapter (OpenAI pass-through, Anthropic, Gemini) through real HTTP: the official
// `openai` SDK → the proxy → a fake upstream. Each case checks what the client sees (plain and through
// the SDK's stream helper, which must rebuild the same answer) and what the upstream received.
// How each fake is armed and read lives in test/support/conformance-providers.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ChatCompletionStream, type ChatCompletionStreamParams } from 'openai/lib/ChatCompletionStream';
import { openAiCase } from '../providers/openai-cases.js';
import {
  OPENAI_SNAPSHOT,
  record,
  type Answer,
  type Json,
  type ProviderId,
  type ProviderUnderTest,
  type SentRequest,
  type Usage,
} from '../support/conformance-providers.js';
import { authHeaders, CLIENT_KEY, type Gateway } from '../support/gateway-harness.js';
import { CASES, recoveryPlan, startConformanceStack, type AnswerCase, type ConformanceStack, type DisconnectCase, type FailureCase, type RecoveryCase } from '../support/conformance-cases.js';

// ---------------------------------------------------------------------------------------------
// What the client saw
// ---------------------------------------------------------------------------------------------

interface Seen {
  content: string | null;
  toolCalls: Array<{ id: string; name: string; arguments: unknown }>;
  functionCall: { name: string; arguments: unknown } | undefined;
  finish: string | null;
  usage: Usage | undefined;
}

function seen(completion: OpenAI.Chat.ChatCompletion): Seen {
  assert.equal(completion.choices.length, 1);
  const choice = completion.choices[0] as OpenAI.Chat.ChatCompletion.Choice;
  assert.equal(choice.message.role, 'assistant');
  const toolCalls = (choice.message.tool_calls ?? []).map((call) => {
    assert.equal(call.type, 'function');
    const fn = call.type === 'function' ? call.function : { name: '', arguments: '' };
    return { id: call.id, name: fn.name, arguments: JSON.parse(fn.arguments) as unknown };
  });
  const legacy = choice.message.function_call;
  const usage = completion.usage;
  return {
    content: choice.message.content,
    toolCalls,
    functionCall: legacy === undefined || legacy === null ? undefined : { name: legacy.name, arguments: JSON.parse(legacy.arguments) as unknown },
    finish: choice.finish_reason,
    usage:
      usage === undefined
        ? undefined
        : {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens,
            ...(usage.prompt_tokens_details?.cached_tokens === undefined ? {} : { cached_tokens: usage.prompt_tokens_details.cached_tokens }),
          },
  };
}

function checkAnswer(got: Seen, expected: Answer, usage: Usage, provider: ProviderId, label: string): void {
  if (expected.json !== undefined) {
    assert.ok(got.content !== null, `${label}: JSON mode content`);
    assert.deepEqual(JSON.parse(got.content) as unknown, expected.json, `${label}: JSON mode content parses`);
  }
  assert.equal(got.content, expected.content, `${label}: content`);
  assert.equal(got.finish, expected.finish, `${label}: finish_reason`);
  assert.deepEqual(
    got.toolCalls.map((call) => ({ name: call.name, arguments: call.arguments })),
    (expected.toolCalls ?? []).map((call) => ({ name: call.name, arguments: call.arguments })),
    `${label}: tool calls`,
  );
  for (const [index, call] of got.toolCalls.entries()) {
    const want = expected.toolCalls?.[index]?.id;
    if (want !== undefined) assert.equal(call.id, want, `${label}: tool call id`);
    else assert.ok(call.id.length > 0, `${label}: a minted tool call id`);
  }
  assert.equal(new Set(got.toolCalls.map((call) => call.id)).size, got.toolCalls.length, `${label}: tool call ids are distinct`);
  assert.deepEqual(got.functionCall, expected.functionCall, `${label}: function_call`);
  assert.ok(got.usage !== undefined, `${label}: usage`);
  assert.ok(got.usage.prompt_tokens > 0 && got.usage.completion_tokens > 0, `${label}: usage counts`);
  assert.equal(got.usage.total_tokens, got.usage.prompt_tokens + got.usage.completion_tokens, `${label}: total`);
  const { cached_tokens: cached, ...counts } = got.usage;
  const { cached_tokens: wantCached, ...wantCounts } = usage;
  assert.deepEqual(counts, wantCounts, `${label}: usage as in the ${provider} fixture`);
  assert.equal(cached ?? 0, wantCached ?? 0, `${label}: cached tokens`);
}

/** Tool-call deltas as OpenAI sends them: each call's first delta has its index, id, type and name. */
function checkToolCallDeltas(chunks: OpenAI.Chat.ChatCompletionChunk[], expected: Answer): void {
  const first = new Map<number, OpenAI.Chat.ChatCompletionChunk.Choice.Delta.ToolCall>();
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      for (const call of choice.delta.tool_calls ?? []) {
        assert.equal(typeof call.index, 'number');
        if (!first.has(call.index)) first.set(call.index, call);
      }
    }
  }
  assert.equal(first.size, expected.toolCalls?.length ?? 0, 'one index per call');
  for (const [index, call] of first) {
    assert.ok(typeof call.id === 'string' && call.id.length > 0, `call ${index}: id on the first delta`);
    assert.equal(call.type, 'function', `call ${index}: type on the first delta`);
    assert.equal(call.function?.name, expected.toolCalls?.[index]?.name, `call ${index}: name on the first delta`);
  }
}

interface SseRead {
  chunks: Json[];
  errors: Json[];
  done: boolean;
  /** Whatever came after the error event. */
  afterError: number;
}

function readSse(text: string): SseRead {
  const out: SseRead = { chunks: [], errors: [], done: false, afterError: 0 };
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trimStart())
      .join('\n');
    if (data.length === 0) continue;
    if (out.errors.length > 0) out.afterError++;
    if (data === '[DONE]') {
      out.done = true;
      continue;
    }
    const event = record(JSON.parse(data) as unknown);
    if (event.error !== undefined) out.errors.push(event);
    else out.chunks.push(event);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

describe('conformance: one case table, every adapter, the openai SDK through the proxy', () => {
  let stack: ConformanceStack;
  let gateway: Gateway;
  let client: OpenAI;

  before(async () => {
    stack = await startConformanceStack('gemini');
    gateway = stack.gateway;
    client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  });
  after(() => stack?.close());

  const provider = (id: ProviderId): ProviderUnderTest => stack.provider(id);
  const noKeyIn = (text: string): void => stack.noKeyIn(text);

  async function runAnswer(p: ProviderUnderTest, testCase: AnswerCase): Promise<void> {
    const expected = testCase.expect(p.id);
    const model = p.models.main;
    const request: Json = { ...openAiCase(testCase.scenario), model };
    const params = request as unknown as ChatCompletionStreamParams;

    if ('status' in expected) {
      p.reset();
      await assert.rejects(client.chat.completions.create({ ...params, stream: false }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError, String(error));
        assert.equal(error.status, expected.status);
        assert.equal(error.code, expected.code);
        return true;
      });
      assert.equal(p.sent().length, 0, 'refused before any upstream call');
      return;
    }

    // Plain.
    p.reset();
    p.serve(testCase.scenario, expected, false);
    const plainRequest: Json = { ...request, stream: false };
    const { data, response } = await client.chat.completions.create(plainRequest as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();
    assert.equal(data.object, 'chat.completion');
    // Pass-through answers keep the upstream's model (a snapshot name); translated ones name the routed model.
    assert.equal(data.model, p.id === 'openai' ? OPENAI_SNAPSHOT : model);
    const plain = seen(data);
    checkAnswer(plain, expected, p.usage(testCase.scenario), p.id, 'plain');
    const warnings = response.headers.get('x-llm-proxy-warnings');
    assert.deepEqual(warnings === null ? [] : warnings.split('; '), expected.warnings ?? [], 'X-LLM-Proxy-Warnings');
    assert.equal(p.sent().length, 1, 'one upstream call');
    p.checkSent(p.sent()[0] as SentRequest, model.replace(/^[a-z]+\//, ''), false, plainRequest, testCase.scenario);

    // Streamed, through the SDK's helper, which must rebuild the same answer.
    p.reset();
    p.serve(testCase.scenario, expected, true);
    const streamRequest: Json = { ...request, stream_options: { include_usage: true } };
    const runner = client.chat.completions.stream(streamRequest as unknown as ChatCompletionStreamParams);
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    runner.on('chunk', (chunk) => chunks.push(chunk));
    const final = await runner.finalChatCompletion();
    const streamed = seen(final);
    checkAnswer(streamed, expected, p.usage(testCase.scenario), p.id, 'streamed');
    assert.deepEqual(
      { ...streamed, toolCalls: streamed.toolCalls.map((call) => ({ ...call, id: p.id === 'gemini' ? '' : call.id })) },
      { ...plain, toolCalls: plain.toolCalls.map((call) => ({ ...call, id: p.id === 'gemini' ? '' : call.id })) },
      'the stream rebuilds the plain answer',
    );
    assert.ok(chunks.length > 1);
    for (const chunk of chunks) assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunks.filter((chunk) => chunk.usage !== undefined && chunk.usage !== null).length, 1, 'one usage chunk, as asked');
    checkToolCallDeltas(chunks, expected);
    assert.equal(p.sent().length, 1, 'one upstream call');
    p.checkSent(p.sent()[0] as SentRequest, model.replace(/^[a-z]+\//, ''), true, streamRequest, testCase.scenario);
  }

  async function runFailure(p: ProviderUnderTest, testCase: FailureCase): Promise<void> {
    const model = p.models[testCase.slot];
    const { reply, times } = testCase.reply(p);
    const expected = testCase.expect(p);
    p.reset();
    p.fail(reply, times);
    await assert.rejects(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hello' }] }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError, String(error));
      assert.equal(error.status, expected.status, error.message);
      assert.equal(error.code, expected.code, error.message);
      noKeyIn(error.message);
      noKeyIn(JSON.stringify(error.error ?? null));
      if (expected.retryAfter !== undefined) assert.equal(error.headers?.get('retry-after'), expected.retryAfter);
      return true;
    });
    const [least, most] = typeof expected.attempts === 'number' ? [expected.attempts, expected.attempts] : expected.attempts;
    assert.ok(p.sent().length >= least && p.sent().length <= most, `upstream attempts: ${p.sent().length}, expected ${least}..${most}`);
    for (const sent of p.sent()) p.checkSent(sent, model.replace(/^[a-z]+\//, ''), false, {}, undefined);
    noKeyIn(gateway.logs.join('\n'));
  }

  async function runDisconnect(p: ProviderUnderTest, testCase: DisconnectCase): Promise<void> {
    const model = p.models[testCase.slot];
    p.reset();
    p.cutAfterFirstContent();
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: authHeaders(),
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello' }], stream: true }),
    });
    assert.equal(response.status, 200, 'the first content was sent: the status is fixed');
    const events = readSse(await response.text());
    const text = events.chunks.map((chunk) => {
      const choices = chunk.choices as Array<{ delta?: { content?: string | null } }>;
      return choices[0]?.delta?.content ?? '';
    });
    assert.ok(text.join('').length > 0, 'content before the cut reached the client');
    assert.equal(events.errors.length, 1, 'one error event');
    assert.equal(events.afterError, 0, 'nothing after the error event');
    assert.equal(events.done, false, 'no [DONE]');
    const error = record(events.errors[0]?.error);
    assert.equal(error.code, 'upstream_stream_error');
    noKeyIn(JSON.stringify(error));
    assert.equal(p.sent().length, 1, 'no retry once content was sent');
  }

  async function runRecovery(p: ProviderUnderTest, testCase: RecoveryCase): Promise<void> {
    const { model, expected, deployment } = recoveryPlan(p, testCase);
    for (const stream of [false, true]) {
      p.reset();
      p.fail({ status: 500 }, 1);
      p.serve(testCase.scenario, expected, stream);
      const request = { ...openAiCase(testCase.scenario), model, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) };
      let got: Seen;
      let headers: Headers;
      if (stream) {
        const { data, response } = await client.chat.completions.create(request as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming).withResponse();
        const runner = ChatCompletionStream.fromReadableStream(data.toReadableStream());
        got = seen(await runner.finalChatCompletion());
        headers = response.headers;
      } else {
        const { data, response } = await client.chat.completions.create(request as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming).withResponse();
        got = seen(data);
        headers = response.headers;
      }
      const label = stream ? 'streamed after a retry' : 'after a retry';
      checkAnswer(got, expected, p.usage(testCase.scenario), p.id, label);
      const warnings = headers.get('x-llm-proxy-warnings');
      assert.deepEqual(warnings === null ? [] : warnings.split('; '), expected.warnings ?? [], `${label}: X-LLM-Proxy-Warnings`);
      assert.equal(headers.get('x-llm-proxy-route'), `${deployment}=upstream_error, ${deployment}=200`);
      assert.equal(p.sent().length, 2, 'upstream attempts');
    }
  }

  for (const id of ['openai', 'anthropic', 'gemini'] as const) {
    describe(id, () => {
      for (const testCase of CASES) {
        test(testCase.name, async () => {
          const p = provider(id);
          if (testCase.kind === 'answer') await runAnswer(p, testCase);
          else if (testCase.kind === 'failure') await runFailure(p, testCase);
          else if (testCase.kind === 'recovery') await runRecovery(p, testCase);
          else await runDisconnect(p, testCase);
        });
      }
    });
  }
});
