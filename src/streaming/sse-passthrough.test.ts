// The byte pass-through of OpenAI-format streams: what passes untouched, what is looked at, and
// that any way of cutting the stream into reads gives the client the same events.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_SSE_EVENT_CHARS, SseEventTooLarge } from './sse-decoder.js';
import { frameText, SsePassthrough, type Frame, type InspectEvent } from './sse-passthrough.js';

const ROLE = '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}';
const HELLO = '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Héllo 👋"},"finish_reason":null}],"usage":null}';
const WORLD = '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" said \\"usage\\": and usage"},"finish_reason":null}]}';
const STOP = '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}';
const USAGE = '{"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}';
const frame = (data: string) => `data: ${data}\n\n`;
const STREAM = [ROLE, HELLO, WORLD, STOP, USAGE].map(frame).join('') + 'data: [DONE]\n\n';

interface Run {
  out: string;
  inspected: string[];
  stats: { contentStarted: boolean; finished: boolean; chunks: number };
  scanner: SsePassthrough;
  frames: Frame[];
}

/** Feeds `reads` through a scanner whose inspector marks content, drops the usage chunk and fails on `boom`. */
function run(reads: Buffer[], options: { dropUsage?: boolean } = {}): Run {
  const stats = { contentStarted: false, finished: false, chunks: 0 };
  const inspected: string[] = [];
  const inspect: InspectEvent = (data) => {
    inspected.push(data);
    if (data === 'boom') throw new Error('boom');
    const parsed = JSON.parse(data) as { choices: Array<{ delta?: { content?: string } }>; usage?: unknown };
    if (!Array.isArray(parsed.choices)) throw new Error('not a chunk');
    stats.chunks++;
    if (parsed.choices.some((choice) => (choice.delta?.content ?? '').length > 0)) stats.contentStarted = true;
    if (options.dropUsage && parsed.usage !== null && parsed.usage !== undefined && parsed.choices.length === 0) return '';
    return undefined;
  };
  const scanner = new SsePassthrough(stats, inspect);
  const frames: Frame[] = [];
  for (const read of reads) {
    const out = scanner.push(read);
    if (out.length > 0) frames.push(out);
    if (scanner.done || scanner.failure !== undefined) break;
  }
  if (!scanner.done && scanner.failure === undefined) {
    const out = scanner.end();
    if (out.length > 0) frames.push(out);
  }
  return { out: frames.map(frameText).join(''), inspected, stats, scanner, frames };
}

describe('SsePassthrough', () => {
  test('a canonical stream leaves byte for byte, in one write per read, and stops at [DONE]', () => {
    const bytes = Buffer.from(`${STREAM}data: {"after":"done"}\n\n`);
    const { out, frames, scanner, stats } = run([bytes]);
    assert.equal(out, STREAM);
    assert.equal(frames.length, 1);
    assert.ok(Buffer.isBuffer(frames[0]), 'passed as upstream bytes, not re-encoded text');
    assert.equal(scanner.done, true);
    assert.equal(stats.chunks, 5);
  });

  test('only events before the first content and those with a usage or error value are decoded; a finish alone is noted unread', () => {
    const { inspected, stats } = run([Buffer.from(STREAM)]);
    // ROLE (no content yet), HELLO (the first content; its "usage":null alone would pass), USAGE.
    // WORLD mentions "usage" only inside its text, which JSON escapes: it passes unread. STOP has
    // only a finish_reason: it passes, and the stream is marked finished.
    assert.deepEqual(inspected, [ROLE, HELLO, USAGE]);
    assert.equal(stats.finished, true);
    assert.equal(stats.chunks, 5);
  });

  test('a finish with a usage or an error beside it is decoded; a null finish_reason is no finish', () => {
    const withUsage = '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}';
    const withError = '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason" : "stop"}],"error":{"message":"late"}}';
    const spaced = '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason" :\t"stop"}]}';
    for (const [event, decoded] of [[withUsage, true], [withError, true], [spaced, false]] as const) {
      const { inspected, stats } = run([Buffer.from(frame(ROLE) + frame(HELLO) + frame(event) + 'data: [DONE]\n\n')]);
      assert.deepEqual(inspected, decoded ? [ROLE, HELLO, event] : [ROLE, HELLO], event);
      if (!decoded) assert.equal(stats.finished, true, event);
    }
    const { stats } = run([Buffer.from(frame(ROLE) + frame(HELLO) + frame(WORLD) + 'data: [DONE]\n\n')]);
    assert.equal(stats.finished, false, 'finish_reason: null everywhere');
  });

  test('a finish before any content is decoded (the stream is still held)', () => {
    const { inspected } = run([Buffer.from(frame(ROLE) + frame(STOP) + 'data: [DONE]\n\n')]);
    assert.deepEqual(inspected, [ROLE, STOP]);
  });

  test('an event the inspector drops is cut out; the events around it still pass', () => {
    const { out, frames } = run([Buffer.from(STREAM)], { dropUsage: true });
    assert.equal(out, [ROLE, HELLO, WORLD, STOP].map(frame).join('') + 'data: [DONE]\n\n');
    assert.equal(frames.length, 1);
  });

  test('any cut of the stream into two reads, and one byte per read, gives the same events', () => {
    const bytes = Buffer.from(STREAM);
    for (let at = 1; at < bytes.length; at++) {
      const { out } = run([bytes.subarray(0, at), bytes.subarray(at)]);
      assert.equal(out, STREAM, `cut at byte ${at}`);
    }
    const single = [...bytes].map((byte) => Buffer.from([byte]));
    assert.equal(run(single).out, STREAM);
  });

  // RELIABILITY 4b#9: `{"unexpected": true}` after the first content passed unread, and the OpenAI
  // SDK handed client code a "chunk" without choices.
  test('an event after the first content without "choices":[ where the chunks have it is decoded, so the caller refuses what is no chunk', () => {
    for (const odd of ['{"unexpected": true}', '{"id":"c1","object":"chat.completion.chunk"}', '{"id":"c1","object":"chat.completion.chunk","choices":null,"x":1}', '{"object":"error","message":"overloaded"}']) {
      const { out, inspected, scanner } = run([Buffer.from(frame(ROLE) + frame(HELLO) + frame(WORLD) + frame(odd) + frame(STOP) + 'data: [DONE]\n\n')]);
      assert.deepEqual(inspected, [ROLE, HELLO, odd], odd);
      assert.equal((scanner.failure as Error).message, 'not a chunk', odd);
      assert.equal(out, frame(ROLE) + frame(HELLO) + frame(WORLD), `what came before it is sent: ${odd}`);
    }
  });

  test('chunks of any key order and spacing pass unread once one was decoded; keepalives, an empty choices list with usage and [DONE] pass', () => {
    const layouts = [
      // OpenAI, vLLM, Groq, DeepSeek: choices after id, object, created, model, system_fingerprint.
      (choices: string, rest = '') => `{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o","system_fingerprint":"fp_1","choices":${choices}${rest},"obfuscation":"ab"}`,
      // Azure, Gemini, llama.cpp, Together: choices first.
      (choices: string, rest = '') => `{"choices":${choices},"created":1735689600,"id":"chatcmpl-9","model":"m","object":"chat.completion.chunk"${rest}}`,
      // OpenRouter: provider before model; Python servers space after the colon.
      (choices: string, rest = '') => `{"id": "gen-1", "provider": "OpenAI", "model": "openai/gpt-4o", "object": "chat.completion.chunk", "created": 1735689600, "choices": ${choices}${rest}}`,
    ];
    for (const layout of layouts) {
      const content = (text: string) => layout(`[{"index":0,"delta":{"content":"${text}"},"finish_reason":null}]`, ',"usage":null');
      const finish = layout('[{"index":0,"delta":{},"finish_reason":"stop"}]');
      const usage = layout('[]', ',"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}');
      const stream = frame(content('Hi')) + frame(content(' there')) + ': keepalive\n\n' + frame(content('!')) + frame(finish) + frame(usage) + 'data: [DONE]\n\n';
      const { out, inspected, stats, scanner } = run([Buffer.from(stream)]);
      assert.equal(scanner.failure, undefined, stream);
      assert.deepEqual(inspected, [content('Hi'), usage], stream);
      assert.equal(out, stream.replace(': keepalive\n\n', ''), 'the comment is dropped by the decoder, the rest passes as it came');
      assert.equal(stats.finished, true);
    }
  });

  test('a chunk laid out otherwise than the last decoded one is decoded, never refused, and its layout then passes unread', () => {
    const longer = '{"id":"c1-longer-id","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}';
    const again = '{"id":"c1-longer-id","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"b"},"finish_reason":null}]}';
    const { out, inspected, scanner } = run([Buffer.from(frame(ROLE) + frame(HELLO) + frame(longer) + frame(again) + frame(WORLD) + 'data: [DONE]\n\n')]);
    assert.equal(scanner.failure, undefined);
    assert.deepEqual(inspected, [ROLE, HELLO, longer, WORLD]);
    assert.equal(out, frame(ROLE) + frame(HELLO) + frame(longer) + frame(again) + frame(WORLD) + 'data: [DONE]\n\n');
  });

  test('CR and CRLF line ends, comments, data: without a space and multi-line data are re-framed by the decoder', () => {
    const crlf = Buffer.from(`data: ${ROLE}\r\n\r\ndata: ${HELLO}\r\n\r\ndata: [DONE]\r\n\r\n`);
    assert.equal(run([crlf]).out, frame(ROLE) + frame(HELLO) + 'data: [DONE]\n\n');
    const odd = Buffer.from(`: keepalive\n\ndata:${ROLE}\n\nevent: chunk\ndata: ${HELLO}\n\ndata: {"id":"c1",\ndata: "choices":[]}\n\ndata: [DONE]\n\n`);
    const { out } = run([odd]);
    assert.equal(out, frame(ROLE) + frame(HELLO) + 'data: {"id":"c1",\ndata: "choices":[]}\n\n' + 'data: [DONE]\n\n');
  });

  test('a CR that arrives after a held partial event switches to the decoder without losing it', () => {
    const text = `data: ${ROLE}\n\ndata: ${HELLO}\r\n\r\ndata: [DONE]\r\n\r\n`;
    const cut = text.indexOf('Héllo');
    assert.equal(run([Buffer.from(text.slice(0, cut)), Buffer.from(text.slice(cut))]).out, frame(ROLE) + frame(HELLO) + 'data: [DONE]\n\n');
  });

  test('when the inspector throws, what came before the failing event is still returned', () => {
    const { out, scanner } = run([Buffer.from(frame(ROLE) + frame(HELLO) + 'data: boom\n\n' + frame(STOP))]);
    assert.equal(out, frame(ROLE) + frame(HELLO));
    assert.equal((scanner.failure as Error).message, 'boom');
  });

  // Found by sse.property.test.ts: the mark made the first field `\uFEFFdata`, and the event was lost.
  test('a byte-order mark at the start of the stream is dropped, as the decoder drops it, even split over reads', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(frame(HELLO) + frame(STOP) + 'data: [DONE]\n\n')]);
    for (const at of [0, 1, 2, 3, 4]) {
      const { out } = run([bytes.subarray(0, at), bytes.subarray(at)]);
      assert.equal(out, frame(HELLO) + frame(STOP) + 'data: [DONE]\n\n', `cut at byte ${at}`);
    }
    // Only the start of a mark, then the end: those bytes are no event, and nothing is lost or thrown.
    assert.equal(run([Buffer.from([0xef, 0xbb])]).out, '');
  });

  test('a last event without its blank line counts at the end of the body', () => {
    const { out, stats } = run([Buffer.from(frame(ROLE) + frame(HELLO) + `data: ${STOP}`)]);
    assert.equal(out, frame(ROLE) + frame(HELLO) + frame(STOP));
    assert.equal(stats.chunks, 3);
  });

  test('a key spelled with spaces before and after its colon is still seen; a null value is not', () => {
    const spaced = '{"choices":[],"usage" : {"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
    const nulled = '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"},"finish_reason" :  null}],"usage": null}';
    const { inspected } = run([Buffer.from(frame(HELLO) + frame(nulled) + frame(spaced) + 'data: [DONE]\n\n')]);
    assert.deepEqual(inspected, [HELLO, spaced]);
  });

  // The work is synchronous, so node:test's timeout could not stop it: the time is checked instead.
  test('one 12 MB event with no line break, in 16 KB reads, is held and passed in linear time (each read re-joined and rescanned it: 8 MB took 6 s)', () => {
    const started = performance.now();
    const big = `{"choices":[{"index":0,"delta":{"content":"${'x\\n'.repeat(8_192 * 1024 / 2)}"},"finish_reason":null}]}`;
    const reads: Buffer[] = [Buffer.from(frame(ROLE) + 'data: ')];
    const body = Buffer.from(big);
    for (let offset = 0; offset < body.length; offset += 16_384) reads.push(body.subarray(offset, offset + 16_384));
    reads.push(Buffer.from('\n\n' + frame(STOP) + 'data: [DONE]\n\n'));
    const { out, stats } = run(reads);
    assert.equal(out, frame(ROLE) + frame(big) + frame(STOP) + 'data: [DONE]\n\n');
    assert.equal(stats.chunks, 3);
    assert.ok(performance.now() - started < 5_000, `${Math.round(performance.now() - started)} ms`);
  });

  test('an event that never ends fails the stream at the cap instead of growing the process (RELIABILITY 4b#12)', () => {
    for (const piece of ['x'.repeat(65_536), `data: ${'y'.repeat(65_530)}\n`]) {
      const stats = { contentStarted: true, finished: false, chunks: 0 };
      const scanner = new SsePassthrough(stats, () => undefined);
      assert.equal(frameText(scanner.push(Buffer.from(frame(HELLO) + 'data: '))), frame(HELLO));
      let reads = 0;
      while (scanner.failure === undefined && reads < 1_000) {
        scanner.push(Buffer.from(piece));
        reads++;
      }
      assert.ok(scanner.failure instanceof SseEventTooLarge, `no failure after ${reads} reads`);
      assert.ok(reads * piece.length >= MAX_SSE_EVENT_CHARS && reads * piece.length < MAX_SSE_EVENT_CHARS + 2 * piece.length, `${reads} reads`);
      assert.equal(scanner.push(Buffer.from('\n\n')), '', 'nothing after the failure');
    }
  });
});
