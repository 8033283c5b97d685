// RELIABILITY.md §4b#9: the SSE decoder against the ways real upstreams and networks cut streams:
// events split across reads and inside UTF-8 code points, CR / LF / CRLF line ends (a CRLF split
// across reads too), `data:` with and without a space, comments, multi-line data, and a last event
// with no blank line after it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeSse, MAX_SSE_EVENT_CHARS, SseEventTooLarge, SseParser, type SseEvent } from './sse-decoder.js';

async function* chunks(parts: Array<Uint8Array | string>): AsyncGenerator<Uint8Array | string> {
  for (const part of parts) yield part;
}

async function decodeAll(parts: Array<Uint8Array | string>): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const event of decodeSse(chunks(parts))) out.push(event);
  return out;
}

/** Every way of cutting `bytes` in two, plus one byte per read. */
function splits(bytes: Uint8Array): Array<Uint8Array[]> {
  const out: Array<Uint8Array[]> = [];
  for (let cut = 0; cut <= bytes.length; cut++) out.push([bytes.subarray(0, cut), bytes.subarray(cut)]);
  out.push(Array.from(bytes, (_, index) => bytes.subarray(index, index + 1)));
  return out;
}

const data = (...values: string[]): SseEvent[] => values.map((value) => ({ data: value }));

describe('SSE decoder', () => {
  test('a whole stream in one read', async () => {
    assert.deepEqual(await decodeAll(['data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n']), data('{"a":1}', '{"b":2}', '[DONE]'));
  });

  test('events split across reads at every byte, and one byte per read', async () => {
    const bytes = new TextEncoder().encode('data: {"choices":[{"delta":{"content":"Hi"}}]}\n\nevent: message\ndata: second\n\ndata: [DONE]\n\n');
    const expected = [{ data: '{"choices":[{"delta":{"content":"Hi"}}]}' }, { event: 'message', data: 'second' }, { data: '[DONE]' }];
    for (const parts of splits(bytes)) assert.deepEqual(await decodeAll(parts), expected);
  });

  test('a UTF-8 code point split across reads is reassembled (2, 3 and 4 byte sequences)', async () => {
    const text = 'héllo – 世界 😀 ∑';
    const bytes = new TextEncoder().encode(`data: ${text}\n\ndata: ${JSON.stringify({ content: text })}\n\n`);
    for (const parts of splits(bytes)) {
      const events = await decodeAll(parts);
      assert.deepEqual(events, data(text, JSON.stringify({ content: text })));
      assert.ok(!events.some((event) => event.data.includes('\ufffd')), 'no replacement characters');
    }
  });

  test('CR, LF and CRLF line ends, mixed in one stream', async () => {
    const expected = data('one', 'two', 'three', 'four');
    for (const stream of [
      'data: one\n\ndata: two\n\ndata: three\n\ndata: four\n\n',
      'data: one\r\rdata: two\r\rdata: three\r\rdata: four\r\r',
      'data: one\r\n\r\ndata: two\r\n\r\ndata: three\r\n\r\ndata: four\r\n\r\n',
      'data: one\r\n\ndata: two\r\rdata: three\n\r\ndata: four\r\n\r',
    ]) {
      assert.deepEqual(await decodeAll([stream]), expected, JSON.stringify(stream));
      for (const parts of splits(new TextEncoder().encode(stream))) assert.deepEqual(await decodeAll(parts), expected, JSON.stringify(stream));
    }
  });

  test('a CRLF split across reads is one line end, even with an empty read between its halves', () => {
    const parser = new SseParser();
    const events = [...parser.push('data: a\r'), ...parser.push('\ndata: b\r'), ...parser.push('\n\r\n'), ...parser.end()];
    assert.deepEqual(events, data('a\nb'));
    // An empty read (a zero-length chunk) between CR and LF must not turn the LF into a blank line.
    const gapped = new SseParser();
    assert.deepEqual([...gapped.push('data: a\r'), ...gapped.push(''), ...gapped.push('\ndata: b\n\n'), ...gapped.end()], data('a\nb'));
  });

  test('data: with or without the one optional space', async () => {
    assert.deepEqual(await decodeAll(['data:x\n\ndata: x\n\ndata:  x\n\ndata:\n\n']), data('x', 'x', ' x', ''));
  });

  test('comment lines are skipped (keepalives, a bare colon)', async () => {
    assert.deepEqual(await decodeAll([': keepalive\n\n:\ndata: a\n: in the middle\ndata: b\n\n: OPENROUTER PROCESSING\n\ndata: c\n\n']), data('a\nb', 'c'));
  });

  test('multi-line data is joined with LF', async () => {
    assert.deepEqual(await decodeAll(['data: {"a":\ndata: 1}\n\ndata: line1\ndata:\ndata: line3\n\n']), data('{"a":\n1}', 'line1\n\nline3'));
  });

  test('the last event counts without its blank line, with or without a final line end', async () => {
    assert.deepEqual(await decodeAll(['data: a\n\ndata: last\n']), data('a', 'last'));
    assert.deepEqual(await decodeAll(['data: a\n\ndata: last']), data('a', 'last'));
    assert.deepEqual(await decodeAll(['data: a\n\ndata: last\r']), data('a', 'last'));
  });

  test('event and id fields; retry and unknown fields ignored; a leading BOM dropped', async () => {
    const events = await decodeAll([new Uint8Array([0xef, 0xbb, 0xbf]), 'event: content_block_delta\nid: 7\nretry: 100\nfoo: bar\ndata: {"x":1}\n\nevent: ping\n\ndata: after\n\n']);
    // The last event id carries over to later events, as the spec's "last event ID" does.
    assert.deepEqual(events, [{ event: 'content_block_delta', id: '7', data: '{"x":1}' }, { id: '7', data: 'after' }]);
  });

  test('string reads, empty reads and many events in one read', async () => {
    const many = Array.from({ length: 1000 }, (_, index) => `data: ${index}\n\n`).join('');
    const events = await decodeAll(['', new Uint8Array(0), many, '', 'data: end\n\n']);
    assert.equal(events.length, 1001);
    assert.equal(events[999]?.data, '999');
    assert.equal(events[1000]?.data, 'end');
  });

  test('a body that fails mid-way rejects the iterator (no hang, no unhandled rejection)', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield new TextEncoder().encode('data: one\n\ndata: tw');
      throw new Error('socket hang up');
    }
    const seen: string[] = [];
    await assert.rejects(async () => {
      for await (const event of decodeSse(failing())) seen.push(event.data);
    }, /socket hang up/);
    assert.deepEqual(seen, ['one']);
  });

  // The work is synchronous, so node:test's timeout could not stop it: the time is checked instead.
  test('one 15 MB event with no line break, in 16 KB reads, is decoded in linear time (each read rescanned the whole buffer: 8 MB took 14 s)', () => {
    const started = performance.now();
    const parser = new SseParser();
    const read = 'x'.repeat(16_384);
    assert.deepEqual(parser.push('data: '), []);
    for (let index = 0; index < 960; index++) assert.deepEqual(parser.push(read), []);
    const events = parser.push('\r\n\r\n');
    assert.equal(events.length, 1);
    assert.equal(events[0]?.data.length, 16_384 * 960);
    assert.ok(performance.now() - started < 5_000, `${Math.round(performance.now() - started)} ms`);
  });

  test('an event that outgrows the cap fails: a line that never ends, or data lines without the blank line (RELIABILITY 4b#12)', () => {
    const endless = new SseParser(1024);
    endless.push('data: ');
    assert.throws(() => {
      for (let index = 0; index < 100; index++) endless.push('x'.repeat(100));
    }, SseEventTooLarge);
    const lines = new SseParser(1024);
    assert.throws(() => {
      for (let index = 0; index < 100; index++) lines.push(`data: ${'y'.repeat(50)}\n`);
    }, SseEventTooLarge);
    // Events under the cap, however many, pass: the count is per event.
    const many = new SseParser(1024);
    let count = 0;
    for (let index = 0; index < 100; index++) count += many.push(`data: ${'z'.repeat(500)}\n\n`).length;
    assert.equal(count, 100);
    assert.equal(MAX_SSE_EVENT_CHARS, 16 * 1024 * 1024);
  });
});
