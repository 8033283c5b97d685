// What a well-formed OpenAI chat answer is, checked field by field: the property tests of the
// translators hold every output to it, whatever the upstream sent. Each check throws an
// AssertionError naming the path, so a shrunk counterexample says what was wrong.
import assert from 'node:assert/strict';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { isRecord } from '../../src/json/guards.js';

const FINISH_REASONS = new Set(['stop', 'length', 'tool_calls', 'content_filter', 'function_call']);

/** No `undefined` value and no non-finite number anywhere: both vanish or turn to null in JSON. */
export function assertJsonClean(value: unknown, path = '$'): void {
  if (value === undefined) assert.fail(`${path} is undefined`);
  if (typeof value === 'number') assert.ok(Number.isFinite(value), `${path} is ${value}`);
  if (Array.isArray(value)) value.forEach((item, index) => assertJsonClean(item, `${path}[${index}]`));
  else if (isRecord(value)) for (const [key, item] of Object.entries(value)) assertJsonClean(item, `${path}.${key}`);
}

function assertCount(value: unknown, path: string): void {
  assert.ok(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0, `${path} is not a token count: ${String(value)}`);
}

export function assertUsage(usage: unknown, path: string): void {
  assert.ok(isRecord(usage), `${path} is not an object`);
  assertCount(usage.prompt_tokens, `${path}.prompt_tokens`);
  assertCount(usage.completion_tokens, `${path}.completion_tokens`);
  assertCount(usage.total_tokens, `${path}.total_tokens`);
  assert.equal(usage.total_tokens, (usage.prompt_tokens as number) + (usage.completion_tokens as number), `${path}.total_tokens is not the sum`);
  for (const detailsKey of ['prompt_tokens_details', 'completion_tokens_details']) {
    const details = usage[detailsKey];
    if (details === undefined) continue;
    assert.ok(isRecord(details), `${path}.${detailsKey} is not an object`);
    for (const [key, count] of Object.entries(details)) assertCount(count, `${path}.${detailsKey}.${key}`);
  }
}

function assertToolCall(call: unknown, path: string): void {
  assert.ok(isRecord(call), `${path} is not an object`);
  assert.equal(typeof call.id, 'string', `${path}.id`);
  assert.equal(call.type, 'function', `${path}.type`);
  assert.ok(isRecord(call.function), `${path}.function`);
  assert.equal(typeof call.function.name, 'string', `${path}.function.name`);
  assert.equal(typeof call.function.arguments, 'string', `${path}.function.arguments`);
  JSON.parse(call.function.arguments as string);
}

function assertChoiceIndexes(choices: readonly unknown[], path: string): void {
  const seen = new Set<unknown>();
  choices.forEach((choice, position) => {
    assert.ok(isRecord(choice), `${path}[${position}] is not an object`);
    assertCount(choice.index, `${path}[${position}].index`);
    assert.ok(!seen.has(choice.index), `${path}[${position}].index ${String(choice.index)} repeats`);
    seen.add(choice.index);
  });
}

/** A chat.completion as OpenAI's schema has it. */
export function assertChatCompletion(response: unknown): void {
  assertJsonClean(response);
  assert.ok(isRecord(response));
  assert.ok(typeof response.id === 'string' && response.id.length > 0, 'id');
  assert.equal(response.object, 'chat.completion');
  assertCount(response.created, 'created');
  assert.equal(typeof response.model, 'string', 'model');
  assert.ok(Array.isArray(response.choices) && response.choices.length > 0, 'choices');
  assertChoiceIndexes(response.choices, 'choices');
  response.choices.forEach((choice: Record<string, unknown>, position: number) => {
    const path = `choices[${position}]`;
    assert.ok(FINISH_REASONS.has(choice.finish_reason as string), `${path}.finish_reason ${String(choice.finish_reason)}`);
    assert.ok(choice.logprobs === null || isRecord(choice.logprobs), `${path}.logprobs`);
    const message = choice.message;
    assert.ok(isRecord(message), `${path}.message`);
    assert.equal(message.role, 'assistant', `${path}.message.role`);
    assert.ok(message.content === null || typeof message.content === 'string', `${path}.message.content`);
    if (message.tool_calls !== undefined) {
      assert.ok(Array.isArray(message.tool_calls) && message.tool_calls.length > 0, `${path}.message.tool_calls`);
      message.tool_calls.forEach((call, index) => assertToolCall(call, `${path}.message.tool_calls[${index}]`));
    }
    if (message.content === null) assert.ok(message.tool_calls !== undefined || message.function_call !== undefined, `${path}.message has neither content nor calls`);
  });
  if (response.usage !== undefined) assertUsage(response.usage, 'usage');
}

/**
 * A chunk sequence as a client library reads it: well-formed chunks, one finish per choice and
 * none after it, a tool call's first delta naming its id and function, usage only when asked for.
 */
export function assertChunkStream(chunks: readonly unknown[], includeUsage: boolean): void {
  const finished = new Set<number>();
  const calls = new Set<string>();
  chunks.forEach((chunk, position) => {
    const path = `chunks[${position}]`;
    assertJsonClean(chunk, path);
    assert.ok(isRecord(chunk), path);
    assert.ok(typeof chunk.id === 'string' && chunk.id.length > 0, `${path}.id`);
    assert.equal(chunk.id, (chunks[0] as Record<string, unknown>).id, `${path}.id changed mid-stream`);
    assert.equal(chunk.object, 'chat.completion.chunk', `${path}.object`);
    assert.ok(Array.isArray(chunk.choices), `${path}.choices`);
    assertChoiceIndexes(chunk.choices, `${path}.choices`);
    if (includeUsage) assert.ok('usage' in chunk, `${path}.usage missing with include_usage`);
    if (chunk.usage !== undefined && chunk.usage !== null) {
      assert.ok(includeUsage, `${path} has usage the client did not ask for`);
      assert.equal(chunk.choices.length, 0, `${path}: the usage chunk has choices`);
      assertUsage(chunk.usage, `${path}.usage`);
    }
    for (const choice of chunk.choices as Array<Record<string, unknown>>) {
      const index = choice.index as number;
      assert.ok(!finished.has(index), `${path}: choice ${index} continues after its finish`);
      assert.ok(choice.finish_reason === null || FINISH_REASONS.has(choice.finish_reason as string), `${path}.finish_reason ${String(choice.finish_reason)}`);
      if (choice.finish_reason !== null) finished.add(index);
      const delta = choice.delta;
      assert.ok(isRecord(delta), `${path}.delta`);
      if (delta.content !== undefined) assert.equal(typeof delta.content, 'string', `${path}.delta.content`);
      if (delta.tool_calls === undefined) continue;
      assert.ok(Array.isArray(delta.tool_calls), `${path}.delta.tool_calls`);
      for (const call of delta.tool_calls as Array<Record<string, unknown>>) {
        assertCount(call.index, `${path}.delta.tool_calls[].index`);
        const key = `${index}/${String(call.index)}`;
        assert.ok(isRecord(call.function) && typeof call.function.arguments === 'string', `${path}.delta.tool_calls[].function.arguments`);
        if (!calls.has(key)) {
          assert.ok(typeof call.id === 'string' && call.type === 'function' && typeof call.function.name === 'string', `${path}: tool call ${key} starts without id, type and name`);
          calls.add(key);
        }
      }
    }
  });
}

/** What a translator may throw for a bad upstream answer: the gateway's own error, a 502 unless the upstream reported an error itself. */
export function assertUpstreamFailure(error: unknown, upstreamReportedError: boolean): void {
  if (!(error instanceof GatewayError)) throw error;
  if (!upstreamReportedError) assert.equal(error.status, 502, `${error.code}: ${error.message}`);
}
