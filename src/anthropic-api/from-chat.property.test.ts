// Property tests: a chat answer as a pass-through host may send it (fields missing, null, mistyped,
// negative or huge counts), rewritten for an Anthropic Messages client, is a well-formed `message`
// or event sequence, or a throw (the pipeline answers that with a 502). Never NaN, null or a missing
// count in `usage`, never a block event out of order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertJsonClean } from '../../test/providers/openai-shape.js';
import { checkUnlessThrows, openAiChunk, openAiCompletion } from '../../test/providers/wire-arbitraries.js';
import { isRecord } from '../json/guards.js';
import type { ChatCompletionChunk, ChatCompletionResponse } from '../openai/types.js';
import { SseParser } from '../streaming/sse-decoder.js';
import { AnthropicStreamWriter, toAnthropicMessage } from './from-chat.js';

const RUNS = { numRuns: 400, seed: 20261128 };
const STOP_REASONS = new Set(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal']);

function assertCount(value: unknown, path: string): void {
  assert.ok(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0, `${path} is not a token count: ${String(value)}`);
}

function assertAnthropicUsage(usage: unknown, path: string): void {
  assert.ok(isRecord(usage), path);
  assertCount(usage.input_tokens, `${path}.input_tokens`);
  assertCount(usage.output_tokens, `${path}.output_tokens`);
  for (const key of ['cache_creation_input_tokens', 'cache_read_input_tokens']) if (usage[key] !== null && usage[key] !== undefined) assertCount(usage[key], `${path}.${key}`);
}

function assertMessage(message: unknown): void {
  // Serialised first: what the client gets, where an undefined has vanished and NaN turned null.
  assertJsonClean(message);
  const sent: unknown = JSON.parse(JSON.stringify(message));
  assert.ok(isRecord(sent));
  assert.ok(typeof sent.id === 'string' && sent.id.startsWith('msg_'), 'id');
  assert.equal(sent.type, 'message');
  assert.equal(sent.role, 'assistant');
  assert.equal(typeof sent.model, 'string', 'model');
  assert.ok(STOP_REASONS.has(sent.stop_reason as string), `stop_reason ${String(sent.stop_reason)}`);
  assert.ok(Array.isArray(sent.content));
  for (const block of sent.content as unknown[]) {
    assert.ok(isRecord(block));
    if (block.type === 'text') assert.ok(typeof block.text === 'string' && block.text.length > 0, 'text block');
    else if (block.type === 'tool_use') assert.ok(typeof block.id === 'string' && block.id.length > 0 && typeof block.name === 'string' && isRecord(block.input), 'tool_use block');
    else assert.equal(block.type, 'thinking');
  }
  assertAnthropicUsage(sent.usage, 'usage');
}

/** The Messages event grammar: start, ping, blocks opened, fed and closed in order, message_delta, stop. */
function assertEventSequence(text: string): void {
  const parser = new SseParser();
  const events = [...parser.push(text), ...parser.end()];
  const types = events.map((event) => {
    const data = JSON.parse(event.data) as Record<string, unknown>;
    assert.equal(event.event, data.type, 'the event name is the data type');
    assertJsonClean(data);
    return data;
  });
  assert.equal(types[0]?.type, 'message_start');
  assert.equal(types[1]?.type, 'ping');
  assert.equal(types.at(-1)?.type, 'message_stop');
  assert.equal(types.at(-2)?.type, 'message_delta');
  let open: number | undefined;
  let next = 0;
  for (const event of types.slice(2, -2)) {
    if (event.type === 'content_block_start') {
      assert.equal(open, undefined, 'a block opened inside another');
      assert.equal(event.index, next, 'block indexes in order');
      open = next++;
      const block = event.content_block as Record<string, unknown>;
      if (block.type === 'tool_use') assert.ok(typeof block.id === 'string' && block.id.length > 0, 'tool_use id');
    } else if (event.type === 'content_block_delta') {
      assert.equal(event.index, open, 'a delta for a block that is not open');
    } else if (event.type === 'content_block_stop') {
      assert.equal(event.index, open, 'a stop for a block that is not open');
      open = undefined;
    } else assert.fail(`an unexpected ${String(event.type)} mid-message`);
  }
  assert.equal(open, undefined, 'a block left open');
  const delta = types.at(-2) as Record<string, unknown>;
  assert.ok(STOP_REASONS.has((delta.delta as Record<string, unknown>).stop_reason as string));
  assertAnthropicUsage(delta.usage, 'message_delta.usage');
}

/** Parallel calls, each with a JSON input cut in pieces, fragments in any interleaving, text now and then. */
const interleavedCalls = fc
  .array(fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.constant([1, { x: '}' }]))), { minLength: 1, maxLength: 3 })
  .chain((inputs) => {
    const pieces = inputs.map((input) => fc.array(fc.nat(8), { maxLength: 4 }).map((cuts) => cut(JSON.stringify(input), cuts)));
    return fc.tuple(fc.constant(inputs), fc.tuple(...pieces), fc.array(fc.nat(inputs.length), { minLength: 20, maxLength: 20 }), fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }));
  });

function cut(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
  return [0, ...at].map((from, i) => text.slice(from, at[i] ?? text.length)).filter((piece) => piece.length > 0);
}

describe('chat answers → Anthropic Messages answers, property-based', () => {
  it('any chat.completion-shaped body → a well-formed message, or a throw the pipeline answers with 502', () => {
    fc.assert(
      fc.property(openAiCompletion, (body) => checkUnlessThrows(() => toAnthropicMessage(body as unknown as ChatCompletionResponse, 'req1'), assertMessage)),
      RUNS,
    );
  });

  it('any chunk sequence → the Messages event grammar with sound usage, up to a chunk the writer refuses', () => {
    fc.assert(
      fc.property(fc.array(openAiChunk, { maxLength: 6 }), (chunks) => {
        const writer = new AnthropicStreamWriter('req1', 'model-x');
        let out = '';
        for (const chunk of chunks) {
          try {
            out += writer.push(chunk as unknown as ChatCompletionChunk);
          } catch {
            // The pipeline ends the stream with an error event here: no closing events follow.
            return;
          }
        }
        assertEventSequence(out + writer.end());
      }),
      RUNS,
    );
  });

  it("interleaved parallel calls → sequential blocks, each call's input whole; one call after another streams each fragment live", () => {
    fc.assert(
      fc.property(interleavedCalls, ([inputs, pieces, order, texts]) => {
        const left = pieces.map((list) => [...list]);
        const chunks: ChatCompletionChunk[] = [];
        const chunkOf = (delta: ChatCompletionChunk['choices'][number]['delta']): ChatCompletionChunk => ({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: null }] });
        const started = new Set<number>();
        let interleaved = false;
        let last: number | undefined;
        // The order array picks which call speaks next; then every fragment left goes out in call order.
        const picks = [...order, ...pieces.flatMap((list, call) => list.map(() => call))];
        picks.forEach((pick, step) => {
          const call = pick % pieces.length;
          const piece = left[call]?.shift();
          if (piece === undefined) return;
          if (last !== undefined && call !== last && started.has(call)) interleaved = true;
          last = call;
          const head = started.has(call) ? {} : { id: `call_${call}`, type: 'function' as const, function: { name: `f${call}` } };
          started.add(call);
          chunks.push(chunkOf({ tool_calls: [{ index: call, ...head, function: { ...('function' in head ? head.function : {}), arguments: piece } }] }));
          if (texts[step] === true && step < order.length) chunks.push(chunkOf({ content: 'x' }));
        });
        const writer = new AnthropicStreamWriter('req1', 'model-x');
        const frames = chunks.map((chunk) => writer.push(chunk));
        const text = frames.join('') + writer.end();
        assertEventSequence(text);
        const parser = new SseParser();
        const events = [...parser.push(text), ...parser.end()].map((event) => JSON.parse(event.data) as Record<string, unknown>);
        const ids = new Map<unknown, string>();
        const inputsById = new Map<string, string>();
        for (const event of events) {
          const block = event.content_block as Record<string, unknown> | undefined;
          if (event.type === 'content_block_start' && block?.type === 'tool_use') {
            ids.set(event.index, String(block.id));
            inputsById.set(String(block.id), '');
          }
          const d = event.delta as Record<string, unknown> | undefined;
          const id = ids.get(event.index);
          if (event.type === 'content_block_delta' && d?.type === 'input_json_delta' && id !== undefined) inputsById.set(id, (inputsById.get(id) ?? '') + String(d.partial_json));
        }
        inputs.forEach((input, call) => {
          if (started.has(call)) assert.deepEqual(JSON.parse(inputsById.get(`call_${call}`) ?? 'null'), JSON.parse(JSON.stringify(input)), `call ${call}`);
        });
        // Text only between whole calls and calls one after another: every tool fragment is its own delta, sent as it came.
        if (!interleaved && !chunks.some((chunk) => chunk.choices[0]?.delta.content !== undefined)) {
          chunks.forEach((_chunk, index) => assert.ok((frames[index] ?? '').includes('input_json_delta'), `fragment ${index} held back`));
        }
      }),
      RUNS,
    );
  });
});
