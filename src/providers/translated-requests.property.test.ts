// Property tests: any chat request the schema accepts, translated for Anthropic or Gemini, gives a
// body that provider takes (roles alternating after merging, calls and results paired, max_tokens
// set, system hoisted, no undefined or NaN), or a 400 GatewayError naming the param at fault.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { makeTarget } from '../../test/providers/codec-harness.js';
import { assertJsonClean } from '../../test/providers/openai-shape.js';
import { chatRequest, consistentConversation } from '../../test/providers/request-arbitraries.js';
import { acceptedBy } from '../../test/providers/wire-arbitraries.js';
import { validateChatRequest } from '../openai/chat-request-schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { isRecord } from '../json/guards.js';
import type { ChatCompletionRequest } from '../openai/types.js';
import type { AnthropicContentBlockParam, AnthropicMessagesRequest } from './anthropic/anthropic-wire.js';
import { MAX_CACHE_BREAKPOINTS } from './anthropic/convert-cache-control.js';
import { convertAnthropicRequest } from './anthropic/convert-request.js';
import { convertGeminiRequest } from './gemini/convert-request.js';
import type { GeminiGenerateContentRequest } from './gemini/gemini-wire.js';
import type { ChatTarget } from './provider.js';

const RUNS = { numRuns: 400, seed: 20261128 };
const ANTHROPIC_ID = /^[a-zA-Z0-9_-]+$/;

/** Translates, or checks the refusal is a 400 naming a param; undefined when refused. */
function translate<T>(convert: (request: ChatCompletionRequest, target: ChatTarget) => T, request: ChatCompletionRequest, target: ChatTarget): T | undefined {
  try {
    return convert(structuredClone(request), target);
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    assert.equal(error.status, 400, `${error.code}: ${error.message}`);
    assert.ok(typeof error.param === 'string' && error.param.length > 0, `a 400 without a param: ${error.code}: ${error.message}`);
    return undefined;
  }
}

function blocksOf(content: string | AnthropicContentBlockParam[]): AnthropicContentBlockParam[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}

/** What Anthropic's Messages API requires of a body, as far as the request alone can show it. */
function assertAnthropicBody(body: AnthropicMessagesRequest, request: ChatCompletionRequest): void {
  assertJsonClean(body);
  assert.equal(body.model, 'claude-sonnet-4-5');
  assert.ok(Number.isSafeInteger(body.max_tokens) && body.max_tokens >= 1, `max_tokens ${body.max_tokens}`);
  if (body.temperature !== undefined) assert.ok(body.temperature >= 0 && body.temperature <= 1);
  // "stop_sequences: each stop sequence must contain non-whitespace" (Anthropic's 400).
  for (const stop of body.stop_sequences ?? []) assert.match(stop, /\S/, `stop sequence ${JSON.stringify(stop)}`);
  assert.ok(!(body.temperature !== undefined && body.top_p !== undefined), 'temperature and top_p together');
  if (body.system !== undefined) {
    if (typeof body.system === 'string') assert.match(body.system, /\S/, 'a system of only whitespace');
    else assert.ok(body.system.length > 0 && body.system.every((block) => block.type === 'text' && /\S/.test(block.text)), 'system blocks');
  }
  const hasSystem = request.messages.some((message) => (message.role === 'system' || message.role === 'developer') && typeof message.content === 'string' && /\S/.test(message.content));
  if (hasSystem) assert.ok(body.system !== undefined, 'system text was not hoisted');
  assert.ok(body.messages.length > 0, 'no messages (Anthropic requires one)');
  let markers = body.cache_control === undefined ? 0 : 1;
  body.messages.forEach((message, index) => {
    assert.ok(message.role === 'user' || message.role === 'assistant');
    if (index > 0) assert.notEqual(message.role, body.messages[index - 1]?.role, `messages[${index}] repeats the role before it`);
    const blocks = blocksOf(message.content);
    assert.ok(blocks.length > 0, `messages[${index}] is empty`);
    let seenOther = false;
    for (const block of blocks) {
      if (block.cache_control !== undefined) markers++;
      // "text content blocks must contain non-whitespace text" (Anthropic's 400).
      if (block.type === 'text') assert.match(block.text, /\S/, `messages[${index}] has a text block of only whitespace`);
      if (block.type === 'tool_use') {
        assert.equal(message.role, 'assistant');
        assert.match(block.id, ANTHROPIC_ID, `tool_use id ${JSON.stringify(block.id)}`);
        assert.ok(isRecord(block.input));
      }
      if (block.type === 'tool_result') {
        assert.equal(message.role, 'user');
        assert.ok(!seenOther, `messages[${index}]: a tool_result after other blocks`);
        assert.match(block.tool_use_id, ANTHROPIC_ID);
      } else seenOther = true;
      if (block.type === 'image' || block.type === 'document') assert.equal(message.role, 'user');
    }
  });
  // "final assistant content cannot end with trailing whitespace" (Anthropic's 400 for a prefill).
  const last = body.messages.at(-1);
  const lastBlock = last?.role === 'assistant' ? blocksOf(last.content).at(-1) : undefined;
  if (lastBlock?.type === 'text') assert.doesNotMatch(lastBlock.text, /\s$/, 'a prefill ending in whitespace');
  // "tools: Tool names must be unique" (Anthropic's 400).
  const toolNames = (body.tools ?? []).map((tool) => tool.name);
  assert.equal(new Set(toolNames).size, toolNames.length, `tool names ${toolNames.join(', ')}`);
  for (const tool of body.tools ?? []) {
    // "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'" (Anthropic's 400).
    assert.match(tool.name, /^[a-zA-Z0-9_-]{1,128}$/, `tool name ${JSON.stringify(tool.name)}`);
    // The generated requests carry function tools only (no web_search_options).
    assert.ok('input_schema' in tool, tool.name);
    assert.equal(tool.input_schema.type, 'object');
    assert.ok(!('$schema' in tool.input_schema));
    if (tool.cache_control !== undefined) markers++;
  }
  if (Array.isArray(body.system)) markers += body.system.filter((block) => block.cache_control !== undefined).length;
  assert.ok(markers <= MAX_CACHE_BREAKPOINTS, `${markers} cache breakpoints`);
  // Anthropic's order: tools, system, messages, then the top-level one; a 1-hour breakpoint after a 5-minute one is a 400 there.
  const ttls = [
    ...(body.tools ?? []).map((tool) => tool.cache_control),
    ...(Array.isArray(body.system) ? body.system.map((block) => block.cache_control) : []),
    ...body.messages.flatMap((message) => blocksOf(message.content).map((block) => block.cache_control)),
    body.cache_control,
  ].flatMap((marker) => (marker === undefined ? [] : [marker.ttl === '1h' ? '1h' : '5m']));
  assert.ok(ttls.indexOf('5m') < 0 || ttls.lastIndexOf('1h') < ttls.indexOf('5m'), `breakpoints in the order ${ttls.join(', ')}`);
  if (body.tool_choice !== undefined) assert.ok(body.tools !== undefined && body.tools.length > 0, 'tool_choice without tools');
  if (body.tool_choice?.type === 'tool') {
    const name = body.tool_choice.name;
    if (name === 'json_response') assert.ok(body.tools?.some((tool) => tool.name === name), 'the JSON tool is forced but not sent');
  }
}

/**
 * Every tool_use answered by a tool_result in the next user turn and every tool_result answering a
 * tool_use of the assistant turn before it; ids unique. Anthropic refuses a body that breaks any.
 */
function assertAnthropicPairs(body: AnthropicMessagesRequest): void {
  const seen = new Set<string>();
  body.messages.forEach((message, index) => {
    const blocks = blocksOf(message.content);
    if (message.role === 'assistant') {
      const uses = blocks.flatMap((block) => (block.type === 'tool_use' ? [block.id] : []));
      for (const id of uses) {
        assert.ok(!seen.has(id), `tool_use id ${id} repeats`);
        seen.add(id);
      }
      if (uses.length === 0) return;
      const next = body.messages[index + 1];
      assert.ok(next !== undefined && next.role === 'user', `messages[${index}]: tool_use with no user turn after it`);
      const answered = new Set(blocksOf(next.content).flatMap((block) => (block.type === 'tool_result' ? [block.tool_use_id] : [])));
      for (const id of uses) assert.ok(answered.has(id), `tool_use ${id} is not answered`);
      return;
    }
    const previous = body.messages[index - 1];
    const asked = new Set(previous === undefined ? [] : blocksOf(previous.content).flatMap((block) => (block.type === 'tool_use' ? [block.id] : [])));
    for (const block of blocks) if (block.type === 'tool_result') assert.ok(asked.has(block.tool_use_id), `tool_result ${block.tool_use_id} answers no tool_use before it`);
  });
}

/** What Gemini's generateContent requires of a body, as far as the request alone can show it. */
function assertGeminiBody(body: GeminiGenerateContentRequest): void {
  assertJsonClean(body);
  // Gemini's 400s: "Invalid function name" and "Duplicate function declaration found".
  const names = (body.tools ?? []).flatMap((tool) => tool.functionDeclarations?.map((declaration) => declaration.name) ?? []);
  for (const name of names) assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/, `function name ${JSON.stringify(name)}`);
  assert.equal(new Set(names).size, names.length, `function names ${names.join(', ')}`);
  assert.ok(body.contents.length > 0, 'no contents (Gemini requires one)');
  body.contents.forEach((content, index) => {
    assert.ok(content.role === 'user' || content.role === 'model');
    if (index > 0) assert.notEqual(content.role, body.contents[index - 1]?.role, `contents[${index}] repeats the role before it`);
    assert.ok(content.parts.length > 0, `contents[${index}] has no parts`);
    for (const part of content.parts) {
      assert.ok(Object.keys(part).some((key) => key !== 'thoughtSignature'), `contents[${index}] has an empty part`);
      if (part.text !== undefined) assert.ok(part.text.length > 0, `contents[${index}] has an empty text part`);
      if (part.functionCall !== undefined) {
        assert.equal(content.role, 'model');
        assert.ok(isRecord(part.functionCall.args));
      }
      if (part.functionResponse !== undefined) {
        assert.equal(content.role, 'user');
        assert.ok(isRecord(part.functionResponse.response));
      }
      if (part.inlineData !== undefined) assert.ok(part.inlineData.mimeType.length > 0, 'inlineData without a type');
    }
  });
  for (const part of body.systemInstruction?.parts ?? []) assert.ok(typeof part.text === 'string' && part.text.length > 0);
  const config = body.generationConfig;
  if (config?.temperature !== undefined) assert.ok(config.temperature >= 0 && config.temperature <= 2);
  if (config?.candidateCount !== undefined) assert.ok(Number.isSafeInteger(config.candidateCount) && config.candidateCount > 1);
  for (const declaration of body.tools?.[0]?.functionDeclarations ?? []) assert.ok(declaration.name.length > 0);
}

describe('Anthropic request translation, property-based', () => {
  it('any request the schema accepts → a body Anthropic takes, or a 400 naming the param', () => {
    fc.assert(
      fc.property(chatRequest, fc.boolean(), (request, stream) => {
        const body = translate(convertAnthropicRequest, request, makeTarget('anthropic', { stream }));
        if (body !== undefined) assertAnthropicBody(body, request);
      }),
      RUNS,
    );
  });

  it('a consistent OpenAI conversation with tool calls → tool_use and tool_result paired as Anthropic requires', () => {
    fc.assert(
      fc.property(consistentConversation, (messages) => {
        const request = { model: 'some-model', messages } as unknown as ChatCompletionRequest;
        const body = translate(convertAnthropicRequest, request, makeTarget('anthropic'));
        if (body === undefined) return;
        assertAnthropicBody(body, request);
        assertAnthropicPairs(body);
      }),
      RUNS,
    );
  });
});

/** Requests thick with cache_control markers (a part, a message, a tool, the top), valid or not. */
const markedRequest = (() => {
  const marker = fc.constantFrom<unknown>(undefined, { type: 'ephemeral' }, { type: 'ephemeral', ttl: '1h' }, { type: 'ephemeral', ttl: '5m' }, { type: 'x' }, null);
  const part = fc.record({ type: fc.constant('text'), text: fc.constantFrom('', 'a'), cache_control: marker });
  const message = fc.record({ role: fc.constantFrom('system', 'user', 'assistant', 'tool'), content: fc.oneof(fc.constantFrom('', 'a'), fc.array(part, { maxLength: 3 })), tool_call_id: fc.constant('call_1'), cache_control: marker });
  const tool = fc.record({ type: fc.constant('function'), function: fc.record({ name: fc.constantFrom('f', 'g'), cache_control: marker }), cache_control: marker });
  return fc
    .record({ model: fc.constant('m'), messages: fc.array(message, { minLength: 1, maxLength: 5 }), tools: fc.array(tool, { maxLength: 3 }), cache_control: marker })
    .map((request) => JSON.parse(JSON.stringify(request)) as ChatCompletionRequest)
    .filter(acceptedBy(validateChatRequest));
})();

describe('Anthropic cache_control markers, property-based', () => {
  it('any placement of markers → at most 4 breakpoints, 1-hour ones first, or a 400 naming the marker', () => {
    fc.assert(
      fc.property(markedRequest, (request) => {
        const body = translate(convertAnthropicRequest, request, makeTarget('anthropic'));
        if (body !== undefined) assertAnthropicBody(body, request);
      }),
      RUNS,
    );
  });
});

describe('Gemini request translation, property-based', () => {
  it('any request the schema accepts → a body Gemini takes, or a 400 naming the param', () => {
    fc.assert(
      fc.property(chatRequest, fc.constantFrom('gemini-2.5-flash', 'gemini-3-pro'), (request, model) => {
        const body = translate(convertGeminiRequest, request, makeTarget('gemini', { model }));
        if (body !== undefined) assertGeminiBody(body);
      }),
      RUNS,
    );
  });

  it('a consistent OpenAI conversation with tool calls → every functionResponse after a call of its name', () => {
    fc.assert(
      fc.property(consistentConversation, (messages) => {
        const body = translate(convertGeminiRequest, { model: 'some-model', messages } as unknown as ChatCompletionRequest, makeTarget('gemini'));
        if (body === undefined) return;
        assertGeminiBody(body);
        const called = new Set<string>();
        for (const content of body.contents) {
          for (const part of content.parts) {
            if (part.functionCall !== undefined) called.add(part.functionCall.name);
            if (part.functionResponse !== undefined) assert.ok(called.has(part.functionResponse.name), `functionResponse ${part.functionResponse.name} before any call`);
          }
        }
      }),
      RUNS,
    );
  });
});
