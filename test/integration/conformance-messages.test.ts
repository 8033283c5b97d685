// The conformance suite's second inbound format (issue #11): the same case table as
// conformance.test.ts, every case sent to /v1/messages by the official `@anthropic-ai/sdk`, against
// every adapter (Anthropic passed through, OpenAI and Gemini translated), plain and streamed. The
// client's requests are the recorded Anthropic requests of the codec fixtures; each answer must be
// what the Anthropic API would send for the case's expected answer, and each failure Anthropic's
// error shape with our status.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import type { ChatCase } from '../providers/openai-cases.js';
import { CASES, recoveryPlan, startConformanceStack, type AnswerCase, type ConformanceStack, type DisconnectCase, type FailureCase, type RecoveryCase } from '../support/conformance-cases.js';
import {
  KEYS,
  record,
  type Answer,
  type Json,
  type ProviderId,
  type ProviderUnderTest,
  type Usage,
} from '../support/conformance-providers.js';
import { FAKE_COUNT_TOKENS, readAnthropicJson } from '../support/fake-anthropic.js';
import { CLIENT_KEY, eventually, type Gateway } from '../support/gateway-harness.js';

/** Drops `undefined` members, so SDK objects compare as JSON. */
function asJson(value: unknown): Json {
  return record(JSON.parse(JSON.stringify(value)) as unknown);
}

/** The client's request for a case: the recorded Anthropic request of the codec fixtures. */
function messagesCase(scenario: ChatCase, model: string): Anthropic.MessageCreateParamsNonStreaming {
  return { ...(readAnthropicJson(`anthropic-${scenario}.request.json`) as Anthropic.MessageCreateParamsNonStreaming), model };
}

const STOP: Record<Answer['finish'], Anthropic.StopReason> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', function_call: 'tool_use' };

/** What a translated answer must look like as a Message: text, then one tool_use per call. */
function expectedBlocks(answer: Answer): Json[] {
  const blocks: Json[] = [];
  if (answer.content !== null) blocks.push({ type: 'text', text: answer.content });
  for (const call of answer.toolCalls ?? []) blocks.push({ type: 'tool_use', name: call.name, input: call.arguments });
  if (answer.functionCall !== undefined) blocks.push({ type: 'tool_use', name: answer.functionCall.name, input: answer.functionCall.arguments });
  return blocks;
}

/** A message's blocks without ids (translated ids are the provider's or minted) and citations. */
function blocksOf(message: Anthropic.Message): Json[] {
  return message.content.map((block) => {
    if (block.type === 'text') return { type: 'text', text: block.text };
    if (block.type === 'tool_use') return { type: 'tool_use', name: block.name, input: block.input as Json };
    return { type: block.type };
  });
}

function checkUsage(message: Anthropic.Message, usage: Usage, label: string): void {
  const cached = usage.cached_tokens ?? 0;
  assert.equal(message.usage.input_tokens, usage.prompt_tokens - cached, `${label}: input_tokens`);
  assert.equal(message.usage.output_tokens, usage.completion_tokens, `${label}: output_tokens`);
  assert.equal(message.usage.cache_read_input_tokens ?? 0, cached, `${label}: cache reads`);
}

/** Event order as Anthropic sends it, and every tool_use's input_json_delta fragments forming its complete input. */
function checkEvents(events: Anthropic.MessageStreamEvent[], final: Anthropic.Message, label: string): void {
  assert.equal(events[0]?.type, 'message_start', `${label}: message_start first`);
  assert.equal(events.at(-1)?.type, 'message_stop', `${label}: message_stop last`);
  assert.equal(events.at(-2)?.type, 'message_delta', `${label}: message_delta before it`);
  const open = new Set<number>();
  const json = new Map<number, string>();
  let next = 0;
  for (const event of events) {
    if (event.type === 'content_block_start') {
      assert.equal(event.index, next++, `${label}: blocks in order`);
      open.add(event.index);
      if (event.content_block.type === 'tool_use') json.set(event.index, '');
    } else if (event.type === 'content_block_delta') {
      assert.ok(open.has(event.index), `${label}: a delta inside its block`);
      if (event.delta.type === 'input_json_delta') json.set(event.index, (json.get(event.index) ?? '') + event.delta.partial_json);
    } else if (event.type === 'content_block_stop') {
      assert.ok(open.delete(event.index), `${label}: a stop closes an open block`);
    }
  }
  assert.equal(open.size, 0, `${label}: every block stopped`);
  for (const [index, text] of json) {
    const block = final.content[index];
    assert.ok(block?.type === 'tool_use', `${label}: block ${index} is a tool_use`);
    assert.deepEqual(JSON.parse(text) as unknown, block.input, `${label}: the input_json_delta fragments of block ${index} parse to its input`);
  }
}

describe('conformance: /v1/messages, the Anthropic SDK through the proxy, every adapter', () => {
  let stack: ConformanceStack;
  let gateway: Gateway;
  let client: Anthropic;
  let clientVersion: string | null = null;

  before(async () => {
    stack = await startConformanceStack('anthropic');
    gateway = stack.gateway;
    // The SDK sends the key as x-api-key, as it does to Anthropic; its anthropic-version is noted to check it travels on.
    client = new Anthropic({
      apiKey: CLIENT_KEY,
      baseURL: gateway.url,
      maxRetries: 0,
      fetch: (url: string | URL | Request, init?: RequestInit) => {
        clientVersion = new Headers(init?.headers).get('anthropic-version');
        return fetch(url, init);
      },
    });
  });
  after(() => stack?.close());

  const provider = (id: ProviderId): ProviderUnderTest => stack.provider(id);
  const noKeyIn = (text: string): void => stack.noKeyIn(text);

  /** The last usage record, once it is written: endpoint, model and tokens. */
  async function lastUsage(): Promise<Record<string, unknown>> {
    await eventually(() => gateway.usage.recent().length > 0);
    return gateway.usage.recent().at(-1) as unknown as Record<string, unknown>;
  }

  async function runAnswer(p: ProviderUnderTest, testCase: AnswerCase): Promise<void> {
    const expected = testCase.expect(p.id);
    const model = p.models.main;
    const request = messagesCase(testCase.scenario, model);

    if ('status' in expected) {
      p.reset();
      await assert.rejects(client.messages.create(request), (error: unknown) => {
        assert.ok(error instanceof Anthropic.APIError, String(error));
        assert.equal(error.status, expected.status);
        assert.deepEqual(Object.keys(record(error.error)), ['type', 'error', 'request_id']);
        assert.equal(record(error.error).type, 'error');
        assert.equal(record(record(error.error).error).type, 'invalid_request_error');
        return true;
      });
      assert.equal(p.sent().length, 0, 'refused before any upstream call');
      return;
    }

    // Plain.
    p.reset();
    p.serve(testCase.scenario, expected, false);
    const before = gateway.usage.recent().length;
    const { data: plain, response } = await client.messages.create(request).withResponse();
    assert.equal(plain.type, 'message');
    assert.equal(plain.role, 'assistant');
    assert.match(plain.id, /^msg_/);
    assert.equal(p.sent().length, 1, 'one upstream call');
    const sent = p.sent()[0];
    assert.ok(sent !== undefined);
    if (p.id === 'anthropic') {
      // The fast path: the client's body with the routed model and our key; the answer's bytes unchanged.
      assert.deepEqual(asJson(plain), readAnthropicJson(`anthropic-${testCase.scenario}.response.json`));
      assert.equal(sent.path, '/v1/messages');
      assert.deepEqual(sent.body, { ...request, model });
      assert.equal(sent.headers['x-api-key'], KEYS.anthropic);
      assert.equal(sent.headers.authorization, undefined);
      assert.ok(clientVersion !== null);
      assert.equal(sent.headers['anthropic-version'], clientVersion, "the client's API version travels on");
      assert.equal(response.headers.get('x-llm-proxy-warnings'), null);
    } else {
      assert.deepEqual(blocksOf(plain), expectedBlocks(expected), 'content blocks');
      assert.equal(plain.stop_reason, STOP[expected.finish], 'stop_reason');
      assert.equal(plain.stop_sequence, null);
      checkUsage(plain, p.usage(testCase.scenario), 'plain');
      for (const block of plain.content) if (block.type === 'tool_use') assert.ok(block.id.length > 0, 'a tool_use id');
      // The translated request reaches the provider in its own format, with our key.
      p.checkSent(sent, model, false, {}, undefined);
    }
    await eventually(() => gateway.usage.recent().length > before);
    const usage = await lastUsage();
    assert.equal(usage.endpoint, 'messages');
    assert.equal(usage.model, model);
    assert.equal(usage.status, 'ok');
    assert.ok(Number(usage.promptTokens) > 0 && Number(usage.completionTokens) > 0, 'usage recorded');

    // Streamed, through the SDK's accumulator.
    p.reset();
    p.serve(testCase.scenario, expected, true);
    const stream = client.messages.stream(request);
    const events: Anthropic.MessageStreamEvent[] = [];
    stream.on('streamEvent', (event) => events.push(event));
    const final = await stream.finalMessage();
    checkEvents(events, final, 'streamed');
    const { parsed_output: _parsed, ...finalJson } = asJson(final);
    if (p.id === 'anthropic') {
      assert.deepEqual(finalJson, readAnthropicJson(`anthropic-${testCase.scenario}.response.json`), 'the stream rebuilds the recorded message');
      assert.deepEqual(p.sent()[0]?.body, { ...request, model, stream: true });
    } else {
      assert.deepEqual(blocksOf(final), blocksOf(plain), 'the stream rebuilds the plain answer');
      assert.equal(final.stop_reason, plain.stop_reason);
      checkUsage(final, p.usage(testCase.scenario), 'streamed');
      p.checkSent(p.sent()[0] as NonNullable<ReturnType<ProviderUnderTest['sent']>[number]>, model, true, {}, undefined);
    }
    assert.equal(p.sent().length, 1, 'one upstream call');
    const streamedUsage = await lastUsage();
    assert.equal(streamedUsage.endpoint, 'messages');
    assert.equal(streamedUsage.stream, true);
    assert.equal(streamedUsage.estimated, false, 'usage read from the stream');
  }

  async function runFailure(p: ProviderUnderTest, testCase: FailureCase): Promise<void> {
    const model = p.models[testCase.slot];
    const { reply, times } = testCase.reply(p);
    const expected = testCase.expect(p);
    p.reset();
    p.fail(reply, times);
    await assert.rejects(client.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] }), (error: unknown) => {
      assert.ok(error instanceof Anthropic.APIError, String(error));
      assert.equal(error.status, expected.status, error.message);
      const body = record(error.error);
      assert.equal(body.type, 'error');
      const inner = record(body.error);
      const type = { 400: 'invalid_request_error', 429: 'rate_limit_error', 502: 'api_error' }[expected.status];
      assert.equal(inner.type, type, JSON.stringify(body));
      assert.equal(typeof inner.message, 'string');
      noKeyIn(JSON.stringify(body));
      if (expected.retryAfter !== undefined) assert.equal(error.headers?.get('retry-after'), expected.retryAfter);
      return true;
    });
    const [least, most] = typeof expected.attempts === 'number' ? [expected.attempts, expected.attempts] : expected.attempts;
    assert.ok(p.sent().length >= least && p.sent().length <= most, `upstream attempts: ${p.sent().length}, expected ${least}..${most}`);
    noKeyIn(gateway.logs.join('\n'));
  }

  async function runDisconnect(p: ProviderUnderTest, testCase: DisconnectCase): Promise<void> {
    const model = p.models[testCase.slot];
    p.reset();
    p.cutAfterFirstContent();
    const response = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': CLIENT_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model, max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }], stream: true }),
    });
    assert.equal(response.status, 200, 'the first content was sent: the status is fixed');
    const blocks = (await response.text()).split('\n\n').filter((block) => block.length > 0);
    const names = blocks.map((block) => /^event: (\S+)/.exec(block)?.[1]);
    assert.equal(names[0], 'message_start');
    assert.ok(names.includes('content_block_delta'), 'content before the cut reached the client');
    assert.equal(names.at(-1), 'error', 'one error event, last');
    assert.equal(names.filter((name) => name === 'error').length, 1);
    assert.ok(!names.includes('message_stop'), 'no message_stop');
    const data = record(JSON.parse((blocks.at(-1) ?? '').split('\ndata: ')[1] ?? '') as unknown);
    assert.equal(data.type, 'error');
    assert.equal(record(data.error).type, 'api_error');
    noKeyIn(JSON.stringify(data));
    assert.equal(p.sent().length, 1, 'no retry once content was sent');
  }

  async function runRecovery(p: ProviderUnderTest, testCase: RecoveryCase): Promise<void> {
    const { model, expected, deployment } = recoveryPlan(p, testCase);
    for (const stream of [false, true]) {
      p.reset();
      p.fail({ status: 500 }, 1);
      p.serve(testCase.scenario, expected, stream);
      const request = messagesCase(testCase.scenario, model);
      let message: Anthropic.Message;
      let headers: Headers;
      if (stream) {
        const runner = client.messages.stream(request);
        message = await runner.finalMessage();
        headers = (await runner.withResponse()).response.headers;
      } else {
        const { data, response } = await client.messages.create(request).withResponse();
        message = data;
        headers = response.headers;
      }
      const blocks = blocksOf(message);
      if (p.id === 'anthropic') assert.deepEqual(blocks, blocksOf(readAnthropicJson(`anthropic-${testCase.scenario}.response.json`) as unknown as Anthropic.Message));
      else assert.deepEqual(blocks, expectedBlocks(expected));
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

      test('messages.countTokens', async () => {
        const p = provider(id);
        p.reset();
        const { input_tokens: tokens } = await client.messages.countTokens({ model: p.models.main, messages: [{ role: 'user', content: 'What is the weather in Paris?' }], system: 'Be brief.' });
        if (id === 'anthropic') {
          // Anthropic's own count, from its count_tokens endpoint.
          assert.equal(tokens, FAKE_COUNT_TOKENS);
          assert.equal(p.sent()[0]?.path, '/v1/messages/count_tokens');
          assert.equal(p.sent()[0]?.headers['x-api-key'], KEYS.anthropic);
        } else {
          // Our tokenizer: a few tokens of text plus the per-message framing, and no upstream call.
          assert.ok(tokens > 10 && tokens < 40, String(tokens));
          assert.equal(p.sent().length, 0);
        }
      });
    });
  }
});
