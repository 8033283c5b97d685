// Property tests of the SSE decoder and the pass-through scanner: a stream written from known events
// (any line end, comments, `event:`/`id:` fields, data over several lines, no newline at the end)
// decodes to those events however it is cut into reads, inside UTF-8 sequences and between CR and
// LF included; and the scanner lets through what a full decode would, seeing every usage, error
// and finish a full decode sees.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeSse, SseEventTooLarge, SseParser, type SseEvent } from './sse-decoder.js';
import { frameText, SsePassthrough, type InspectEvent } from './sse-passthrough.js';

const RUNS = { numRuns: 300, seed: 20261128 };

/** Text on one line: no CR or LF, with multi-byte characters (2, 3 and 4 bytes) likely. */
const lineText = fc.string({ unit: fc.constantFrom('a', ' ', ':', '{', '"', 'é', '€', '👋', '\u2028', 'x'), maxLength: 10 });

interface EventModel {
  comment?: string;
  event?: string;
  id?: string;
  /** Each a `data:` line; at least one, or the event is not dispatched at all. */
  data: string[];
  /** `data:value` instead of `data: value` (only where the value does not start with a space). */
  tight: boolean;
}

const eventModel: fc.Arbitrary<EventModel> = fc.record(
  {
    comment: lineText,
    event: lineText,
    id: fc.string({ unit: fc.constantFrom('1', '2', 'a'), maxLength: 3 }),
    data: fc.array(lineText, { minLength: 1, maxLength: 3 }),
    tight: fc.boolean(),
  },
  { requiredKeys: ['data', 'tight'] },
);

type Ending = '\n' | '\r\n' | '\r';

function writeStream(events: readonly EventModel[], ending: Ending, finalBlank: boolean): string {
  let out = '';
  events.forEach((event, index) => {
    const lines: string[] = [];
    if (event.comment !== undefined) lines.push(`:${event.comment}`);
    if (event.event !== undefined) lines.push(`event: ${event.event}`);
    if (event.id !== undefined) lines.push(`id: ${event.id}`);
    for (const value of event.data) lines.push(event.tight && !value.startsWith(' ') ? `data:${value}` : `data: ${value}`);
    out += lines.join(ending);
    // The last event may end without its blank line, or with no line end at all.
    if (index < events.length - 1 || finalBlank) out += ending + ending;
  });
  return out;
}

/** What the spec says those events decode to; `id` is the last one seen, as the spec keeps it. */
function expectedEvents(events: readonly EventModel[]): SseEvent[] {
  let id: string | undefined;
  return events.map((event) => {
    if (event.id !== undefined) id = event.id;
    const out: SseEvent = { data: event.data.join('\n') };
    if (event.event !== undefined) out.event = event.event;
    if (id !== undefined) out.id = id;
    return out;
  });
}

/** `bytes` cut at `cuts` (any positions, repeats give empty reads). */
function cutAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const reads: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    reads.push(bytes.subarray(start, point));
    start = point;
  }
  reads.push(bytes.subarray(start));
  return reads;
}

async function decodeReads(reads: readonly Uint8Array[]): Promise<SseEvent[]> {
  async function* body(): AsyncGenerator<Uint8Array> {
    for (const read of reads) yield read;
  }
  const out: SseEvent[] = [];
  for await (const event of decodeSse(body())) out.push(event);
  return out;
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });

describe('SSE decoder, property-based', () => {
  it('any events, any line end, any cut into reads → exactly those events', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventModel, { maxLength: 5 }), fc.constantFrom<Ending>('\n', '\r\n', '\r'), fc.boolean(), cuts, async (events, ending, finalBlank, at) => {
        const bytes = Buffer.from(writeStream(events, ending, finalBlank), 'utf8');
        assert.deepEqual(await decodeReads(cutAt(bytes, at)), expectedEvents(events));
      }),
      RUNS,
    );
  });

  it('any bytes at all (invalid UTF-8, stray CRs, NULs) decode the same in one read as in many', async () => {
    const byte = fc.oneof(fc.constantFrom(0x0a, 0x0d, 0x3a, 0x20, 0x64, 0x61, 0x74, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0xff, 0x00), fc.integer({ min: 0, max: 255 }));
    const prefix = fc.constantFrom('', 'data:', 'data: ', 'event: x\n', ':c\r\n');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(prefix, fc.array(byte, { maxLength: 12 })), { maxLength: 6 }), cuts, async (pieces, at) => {
        const bytes = Buffer.concat(pieces.map(([start, rest]) => Buffer.concat([Buffer.from(start), Buffer.from(rest)])));
        assert.deepEqual(await decodeReads(cutAt(bytes, at)), await decodeReads([bytes]));
      }),
      RUNS,
    );
  });

  it('fed as text cut anywhere (between CR and LF too), the parser gives the events the whole text gives', () => {
    fc.assert(
      fc.property(fc.array(eventModel, { maxLength: 5 }), fc.constantFrom<Ending>('\n', '\r\n', '\r'), fc.boolean(), cuts, (events, ending, finalBlank, at) => {
        const text = writeStream(events, ending, finalBlank);
        const parser = new SseParser();
        const out: SseEvent[] = [];
        let start = 0;
        for (const point of [...new Set(at.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b)) {
          out.push(...parser.push(text.slice(start, point)));
          start = point;
        }
        out.push(...parser.push(text.slice(start)), ...parser.end());
        assert.deepEqual(out, expectedEvents(events));
      }),
      RUNS,
    );
  });
});

describe('SSE event size cap, property-based', () => {
  it('a giant line (up to 300 KB, multi-byte characters) cut anywhere decodes whole', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom('x', 'é', '€', '👋'), cuts, async (count, unit, at) => {
        const value = unit.repeat(count);
        assert.deepEqual(await decodeReads(cutAt(Buffer.from(`data: ${value}\n\n`, 'utf8'), at)), [{ data: value }]);
      }),
      { numRuns: 25, seed: 20261128 },
    );
  });

  it('an event within the cap decodes however it is cut; one whose data alone is over it fails, never grows', () => {
    fc.assert(
      fc.property(fc.integer({ min: 16, max: 200 }), fc.integer({ min: 0, max: 400 }), fc.constantFrom('\n', '\r\n', '\r'), cuts, (limit, size, ending, at) => {
        const text = `event: big${ending}data: ${'x'.repeat(size)}${ending}${ending}`;
        const parser = new SseParser(limit);
        const out: SseEvent[] = [];
        let failure: unknown;
        try {
          let start = 0;
          for (const point of [...new Set(at.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b)) {
            out.push(...parser.push(text.slice(start, point)));
            start = point;
          }
          out.push(...parser.push(text.slice(start)), ...parser.end());
        } catch (error) {
          failure = error;
        }
        if (text.length <= limit) assert.deepEqual([failure, out], [undefined, [{ event: 'big', data: 'x'.repeat(size) }]]);
        if (size > limit) assert.ok(failure instanceof SseEventTooLarge, `${size} characters of data passed a cap of ${limit}`);
      }),
      RUNS,
    );
  });
});

// ---- The pass-through scanner ----

interface ChunkModel {
  content: string | undefined;
  finish: string | null | undefined;
  usage: 'absent' | 'null' | 'set';
  error: boolean;
  /** How it is written: the fast path's own form, or one only the decoder reads. */
  form: 'canonical' | 'tight' | 'crlf' | 'cr' | 'comment' | 'event' | 'multiline';
}

const chunkModel: fc.Arbitrary<ChunkModel> = fc.record({
  content: fc.option(fc.string({ unit: fc.constantFrom('a', 'é', '👋', '"', '\\', '\n', 'usage', '"usage":1'), maxLength: 4 }), { nil: undefined }),
  finish: fc.constantFrom(undefined, null, null, 'stop', 'length'),
  usage: fc.constantFrom('absent', 'absent', 'null', 'set'),
  error: fc.constantFrom(false, false, false, true),
  form: fc.constantFrom('canonical', 'canonical', 'canonical', 'canonical', 'tight', 'crlf', 'cr', 'comment', 'event', 'multiline'),
});

function chunkJson(model: ChunkModel, spaced: boolean): string {
  const choice: Record<string, unknown> = { index: 0, delta: model.content === undefined ? {} : { content: model.content } };
  if (model.finish !== undefined) choice.finish_reason = model.finish;
  const chunk: Record<string, unknown> = { id: 'c1', object: 'chat.completion.chunk', choices: model.usage === 'set' && model.content === undefined && model.finish === undefined ? [] : [choice] };
  if (model.usage === 'null') chunk.usage = null;
  if (model.usage === 'set') chunk.usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
  if (model.error) chunk.error = { message: 'late failure' };
  // A host that pretty-prints puts spaces around colons; the scanner's key search must still see them.
  return spaced ? JSON.stringify(chunk).replaceAll('":', '" : ') : JSON.stringify(chunk);
}

function frame(model: ChunkModel, json: string): string {
  switch (model.form) {
    case 'canonical':
      return `data: ${json}\n\n`;
    case 'tight':
      return `data:${json}\n\n`;
    case 'crlf':
      return `data: ${json}\r\n\r\n`;
    // CR alone ends lines too (the spec allows it): the scanner hands the rest to the decoder.
    case 'cr':
      return `data: ${json}\r\r`;
    case 'comment':
      return `: keepalive\ndata: ${json}\n\n`;
    case 'event':
      return `event: chunk\ndata: ${json}\n\n`;
    case 'multiline':
      // Pretty-printed JSON over several data lines: joined with LF it is the same value.
      return `${JSON.stringify(JSON.parse(json), null, 1).split('\n').map((line) => `data: ${line}`).join('\n')}\n\n`;
  }
}

interface ScanResult {
  out: string;
  inspected: string[];
  finished: boolean;
  failed: boolean;
}

/** The inspector the chat pipeline runs, reduced: marks content and finish, drops a usage-only chunk, fails on an error. */
function scan(reads: readonly Buffer[]): ScanResult {
  const stats = { contentStarted: false, finished: false, chunks: 0 };
  const inspected: string[] = [];
  const inspect: InspectEvent = (data) => {
    inspected.push(data);
    const parsed = JSON.parse(data) as { choices: Array<{ delta?: { content?: string }; finish_reason?: unknown }>; usage?: unknown; error?: unknown };
    if (parsed.error !== undefined && parsed.error !== null) throw new Error('upstream error event');
    for (const choice of parsed.choices) {
      if (typeof choice.finish_reason === 'string') stats.finished = stats.contentStarted = true;
      else if ((choice.delta?.content ?? '').length > 0) stats.contentStarted = true;
    }
    if (parsed.usage !== undefined && parsed.usage !== null && parsed.choices.length === 0) return '';
    return undefined;
  };
  const scanner = new SsePassthrough(stats, inspect);
  let out = '';
  for (const read of reads) {
    out += frameText(scanner.push(read));
    if (scanner.done || scanner.failure !== undefined) break;
  }
  if (!scanner.done && scanner.failure === undefined) out += frameText(scanner.end());
  return { out, inspected, finished: stats.finished, failed: scanner.failure !== undefined };
}

function parseAll(text: string): SseEvent[] {
  const parser = new SseParser();
  return [...parser.push(text), ...parser.end()];
}

/** What a full decode of the input says the client must get, and what the pipeline must have seen. */
function reference(input: string): { data: string[]; mustInspect: string[]; finished: boolean; failed: boolean } {
  const data: string[] = [];
  const mustInspect: string[] = [];
  let finished = false;
  for (const event of parseAll(input)) {
    if (event.data === '[DONE]') {
      data.push(event.data);
      break;
    }
    const parsed = JSON.parse(event.data) as { choices: Array<{ finish_reason?: unknown }>; usage?: unknown; error?: unknown };
    const matters = (parsed.usage !== undefined && parsed.usage !== null) || (parsed.error !== undefined && parsed.error !== null);
    if (matters) mustInspect.push(event.data);
    if (parsed.error !== undefined && parsed.error !== null) return { data, mustInspect, finished, failed: true };
    if (parsed.choices.some((choice) => typeof choice.finish_reason === 'string')) finished = true;
    if (parsed.usage !== undefined && parsed.usage !== null && parsed.choices.length === 0) continue;
    data.push(event.data);
  }
  return { data, mustInspect, finished, failed: false };
}

describe('SsePassthrough, property-based', () => {
  it('any chunk stream, in any form and cut into any reads → the events, usage, errors and finish a full decode finds', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(chunkModel, fc.boolean()), { maxLength: 8 }),
        fc.constantFrom('done', 'none', 'no-newline'),
        cuts,
        (chunks, ending, at) => {
          let input = chunks.map(([model, spaced]) => frame(model, chunkJson(model, spaced))).join('');
          if (ending === 'done') input += 'data: [DONE]\n\n';
          if (ending === 'no-newline' && input.endsWith('\n\n')) input = input.slice(0, input.endsWith('\r\n\r\n') ? -4 : -2);
          const expected = reference(input);
          const result = scan(cutAt(Buffer.from(input, 'utf8'), at).map((read) => Buffer.from(read)));
          assert.deepEqual(
            parseAll(result.out).map((event) => event.data),
            expected.data,
            'the client gets the events a full decode finds, the dropped usage chunk aside',
          );
          assert.equal(result.failed, expected.failed, 'an error event fails the stream');
          const seen = new Set(result.inspected);
          for (const data of expected.mustInspect) assert.ok(seen.has(data), `an event with usage or error passed unread: ${data}`);
          if (!expected.failed) assert.equal(result.finished, expected.finished, 'the finish is noted');
          // The same events however the stream was cut: one read gives the same result.
          const whole = scan([Buffer.from(input, 'utf8')]);
          assert.equal(parseAll(whole.out).length, parseAll(result.out).length);
        },
      ),
      RUNS,
    );
  });

  it('a stream that starts with a byte-order mark loses no event (TextDecoder strips it on the decoder path)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(chunkModel, fc.boolean()), { minLength: 1, maxLength: 4 }), cuts, (chunks, at) => {
        const input = chunks.map(([model, spaced]) => frame(model, chunkJson(model, spaced))).join('');
        const expected = reference(input);
        const result = scan(cutAt(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(input, 'utf8')]), at).map((read) => Buffer.from(read)));
        if (!expected.failed) assert.deepEqual(parseAll(result.out).map((event) => event.data), expected.data);
      }),
      RUNS,
    );
  });
});
