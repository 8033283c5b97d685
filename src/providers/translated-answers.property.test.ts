// Property tests: whatever an Anthropic or Gemini upstream answers (any JSON value, or its own format
// with fields missing, mistyped, negative or huge), the translators give a well-formed OpenAI chat
// completion or chunk stream, or a GatewayError (a 502 unless the upstream reported an error itself).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CREATED, makeTarget } from '../../test/providers/codec-harness.js';
import { assertChatCompletion, assertChunkStream, assertUpstreamFailure } from '../../test/providers/openai-shape.js';
import { anthropicMessage, anthropicStream, geminiEvent, geminiResponse } from '../../test/providers/wire-arbitraries.js';
import { readdirSync } from 'node:fs';
import { decodeSse, type SseEvent } from '../streaming/sse-decoder.js';
import { ANTHROPIC_FIXTURE_DIR, readAnthropicFixture } from '../../test/support/fake-anthropic.js';
import { GEMINI_FIXTURE_DIR, readGeminiFixture } from '../../test/support/fake-gemini.js';
import type { ChatCompletionChunk } from '../openai/types.js';
import { isRecord } from '../json/guards.js';
import { parseAnthropicResponse } from './anthropic/convert-response.js';
import { convertAnthropicStream } from './anthropic/convert-stream.js';
import { parseGeminiResponse } from './gemini/convert-response.js';
import { convertGeminiStream } from './gemini/convert-stream.js';
import type { ChatTarget } from './provider.js';
import { convertOpenAiStream } from './openai-compatible.js';

const RUNS = { numRuns: 400, seed: 20261128 };
const options = fc.record({ legacyFunctions: fc.boolean(), includeUsage: fc.boolean() });

function checkAnswer(parse: (body: unknown, target: ChatTarget) => unknown, body: unknown, target: ChatTarget): void {
  let response: unknown;
  try {
    response = parse(body, target);
  } catch (error) {
    assertUpstreamFailure(error, false);
    return;
  }
  assertChatCompletion(response);
  assert.equal((response as { created: number }).created, CREATED);
}

async function* replay(events: readonly unknown[]): AsyncGenerator<SseEvent> {
  // Now and then an event that is not JSON at all, as a broken proxy in between sends.
  for (const event of events) yield { data: event === 'not json' ? '{"half":' : JSON.stringify(event) ?? 'null' };
}

/** Runs a stream translator to its end or its error; checks what came out either way. */
async function checkStream(
  convert: (events: AsyncIterable<SseEvent>, target: ChatTarget) => AsyncIterable<ChatCompletionChunk>,
  events: readonly unknown[],
  target: ChatTarget,
  reportsError: (event: unknown) => boolean,
): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  let failed = false;
  try {
    for await (const chunk of convert(replay(events), target)) chunks.push(JSON.parse(JSON.stringify(chunk)) as ChatCompletionChunk);
  } catch (error) {
    failed = true;
    assertUpstreamFailure(error, events.some(reportsError));
  }
  // Chunks are compared as they leave (serialised), so an `undefined` would already have vanished: checked before too.
  assertChunkStream(chunks, target.includeUsage);
  if (!failed) {
    const opened = new Set(chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.index)));
    const finished = new Set(chunks.flatMap((chunk) => chunk.choices.filter((choice) => choice.finish_reason !== null).map((choice) => choice.index)));
    assert.deepEqual([...finished].sort(), [...opened].sort(), 'a completed stream finishes every choice it opened');
    if (target.includeUsage) assert.ok(chunks.at(-1)?.usage, 'a completed stream with include_usage ends with the usage chunk');
  }
  return chunks;
}

const anyEvents = fc.array(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant('not json')), { maxLength: 6 });

describe('Anthropic answers, property-based', () => {
  it('any JSON value or message-shaped body → a well-formed chat.completion or a 502', () => {
    fc.assert(
      fc.property(fc.oneof(anthropicMessage, fc.jsonValue()), options, (body, extra) => checkAnswer(parseAnthropicResponse, body, makeTarget('anthropic', extra))),
      RUNS,
    );
  });

  it('any event stream → well-formed chunks, then the end or a GatewayError', async () => {
    const isError = (event: unknown) => isRecord(event) && event.type === 'error';
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: anthropicStream }, { weight: 1, arbitrary: anyEvents }), options, async (events, extra) => {
        await checkStream(convertAnthropicStream, events, makeTarget('anthropic', { stream: true, ...extra }), isError);
      }),
      RUNS,
    );
  });
});

describe('Gemini answers, property-based', () => {
  it('any JSON value or GenerateContentResponse-shaped body → a well-formed chat.completion or a 502', () => {
    fc.assert(
      fc.property(fc.oneof(geminiResponse, fc.jsonValue()), options, (body, extra) => checkAnswer(parseGeminiResponse, body, makeTarget('gemini', extra))),
      RUNS,
    );
  });

  it('any event stream → well-formed chunks, then the end or a GatewayError', async () => {
    const isError = (event: unknown) => isRecord(event) && event.error !== undefined;
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: fc.array(geminiEvent, { maxLength: 6 }) }, { weight: 1, arbitrary: anyEvents }), options, async (events, extra) => {
        await checkStream(convertGeminiStream, events, makeTarget('gemini', { stream: true, ...extra }), isError);
      }),
      RUNS,
    );
  });
});

/** The recorded streams, with CRLF line ends now and then (legal SSE), cut into reads at the given points. */
async function* reads(text: string, crlf: boolean, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(crlf ? text.replace(/\r?\n/g, '\r\n') : text, 'utf8');
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const point of [...points, bytes.length]) {
    yield bytes.subarray(start, point);
    start = point;
  }
}

async function outcome(chunks: AsyncIterable<ChatCompletionChunk>): Promise<{ chunks: ChatCompletionChunk[]; error: string | undefined }> {
  const out: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of chunks) out.push(chunk);
  } catch (error) {
    return { chunks: out, error: error instanceof Error ? error.message : String(error) };
  }
  return { chunks: out, error: undefined };
}

describe('recorded streams cut into reads anywhere, property-based', () => {
  const fixtures = [
    ...readdirSync(ANTHROPIC_FIXTURE_DIR).filter((name) => name.endsWith('.chunks.txt')).map((name) => ({ name, text: readAnthropicFixture(name), convert: convertAnthropicStream, provider: 'anthropic' as const })),
    ...readdirSync(GEMINI_FIXTURE_DIR).filter((name) => name.endsWith('.chunks.txt')).map((name) => ({ name, text: readGeminiFixture(name), convert: convertGeminiStream, provider: 'gemini' as const })),
  ];

  it('give the chunks, usage, finish and error that one read gives (CRLF line ends too)', async () => {
    // Some runs cut at every byte, so every UTF-8 sequence and every CR LF is split somewhere.
    const cutsOf = fc.oneof(fc.array(fc.nat(), { maxLength: 16 }), fc.constant(Array.from({ length: 20_000 }, (_, index) => index)));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fixtures), fc.boolean(), cutsOf, fc.boolean(), async (fixture, crlf, cuts, includeUsage) => {
        const target = () => makeTarget(fixture.provider, { stream: true, includeUsage });
        const whole = await outcome(fixture.convert(decodeSse(reads(fixture.text, false, [])), target()));
        const cut = await outcome(fixture.convert(decodeSse(reads(fixture.text, crlf, cuts)), target()));
        assert.deepEqual(cut, whole, fixture.name);
      }),
      { numRuns: 200, seed: 20261128 },
    );
  });
});

describe('OpenAI-format streams decoded to chunks, property-based', () => {
  it('any event → a chunk object, the end at [DONE], or a 502; usage only when asked for', async () => {
    await fc.assert(
      fc.asyncProperty(anyEvents, fc.boolean(), async (events, includeUsage) => {
        const target = makeTarget('gemini', { provider: 'openai', stream: true, includeUsage });
        try {
          for await (const chunk of convertOpenAiStream(replay(events), target)) {
            assert.ok(isRecord(chunk) && Array.isArray(chunk.choices));
            if (!includeUsage) assert.ok(!chunk.usage, 'usage the client did not ask for');
          }
        } catch (error) {
          assertUpstreamFailure(error, false);
        }
      }),
      RUNS,
    );
  });
});
