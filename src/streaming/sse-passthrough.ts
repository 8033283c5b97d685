// The pass-through path for OpenAI-format chat streams: upstream bytes go to the client as they
// came, cut only at event boundaries. An event is decoded and handed to the caller only when it
// may matter: before the first content (the stream is still held and may fail over), or when its
// bytes show a non-null `usage` or `error` (usage to record or strip, an error to report). A
// non-null `finish_reason` with neither beside it (the end of the answer) is noted and passes. Every other chunk is a `data: {…}` line passed without a
// TextDecoder, a JSON.parse or a re-encode: that per-event work was most of a streamed request's
// CPU. Anything unusual (CR line ends, comments, multi-line data, `event:` fields, no space after
// `data:`) goes through the one SSE decoder and leaves re-framed, as before. An unread event must
// also have its `"choices":[` where the stream's last decoded chunk had it, or it is decoded too:
// so an event that is no chunk (`{"unexpected":true}`) meets the caller's check instead of passing.
import { TextDecoder } from 'node:util';
import { MAX_SSE_EVENT_CHARS, SseEventTooLarge, SseParser, type SseEvent } from './sse-decoder.js';
import { encodeSseData, SSE_DONE } from './sse-encoder.js';

/** What goes to the client in one write: text, or upstream bytes passed through. */
export type Frame = string | Buffer;

export function frameText(frame: Frame): string {
  return typeof frame === 'string' ? frame : frame.toString('utf8');
}

/** One write from several frames (a held stream's start); text stays text. */
export function joinFrames(frames: readonly Frame[]): Frame {
  if (frames.length === 1) return frames[0] as Frame;
  if (frames.every((frame) => typeof frame === 'string')) return frames.join('');
  return Buffer.concat(frames.map((frame) => (typeof frame === 'string' ? Buffer.from(frame, 'utf8') : frame)));
}

/** What the scanner keeps up to date for the stream's holder and its usage record. */
export interface PassthroughStats {
  contentStarted: boolean;
  /** A chunk with a finish_reason has passed (set here for the ones that pass unread). */
  finished: boolean;
  chunks: number;
}

/**
 * Looks at one event's data (JSON text): returns undefined to send it unchanged, '' to drop it, or
 * the frame to send instead. May throw: the stream then fails after what came before it.
 */
export type InspectEvent = (data: string) => string | undefined;

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const DATA_PREFIX = 'data: ';
const DONE_DATA = '[DONE]';
/**
 * A key whose non-null value makes an event worth decoding. JSON strings escape `"`, so a match
 * cannot start inside a string value. The lookahead takes the spaces after the colon itself (a
 * backtracking `[ \t]*` would let `: null` pass as ` null`). One compiled scan per read: the three
 * keys searched with indexOf cost ~0.3 µs per key and event, most of a passed event's CPU.
 */
const WORTH_DECODING = /"(?:usage|error|finish_reason)"[ \t]*:(?![ \t]*null)/g;
const FINISH_KEY = '"finish_reason"';
const CHOICES_KEY = '"choices"';
const OPEN_BRACKET = 0x5b;
const QUOTE = 0x22;
const LETTER_C = 0x63;
const LETTER_S = 0x73;
const COLON = 0x3a;
const SPACE = 0x20;
const TAB = 0x09;
const EMPTY = Buffer.alloc(0);
/** UTF-8's byte-order mark: one at the start of a stream is not part of it (the spec's decode step strips it). */
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The pieces so far, plus the unchanged run [runStart, upTo) of `data` and what replaces the event after it. */
function cut(pieces: Frame[] | undefined, data: Buffer, runStart: number, upTo: number, replacement: string | undefined): Frame[] {
  const out = pieces ?? [];
  if (upTo > runStart) out.push(data.subarray(runStart, upTo));
  if (replacement !== undefined && replacement.length > 0) out.push(replacement);
  return out;
}

export class SsePassthrough {
  /** `data: [DONE]` has been sent: nothing after it is read. */
  done = false;
  /** Set when `inspect` threw: the frame returned with it is what came before. */
  failure: unknown = undefined;
  /**
   * An event that continues in the next read (bytes mode), as the reads that brought it: it holds no
   * CR and no blank line. Joined and scanned only once a read can end it; concatenating and
   * rescanning it on every read made one long event quadratic (8 MB took 6 s in 16 KB reads).
   */
  private carry: Buffer[] | undefined;
  /** Bytes in `carry`: an event that never ends must not grow without bound. */
  private carryBytes = 0;
  /** After the first CR: the rest of the stream goes through the full decoder. */
  private decoder: TextDecoder | undefined;
  private readonly parser = new SseParser();
  /** Per read: the offset of the next key with a value at or after the scan position (-1 none, -2 not searched). */
  private next = -2;
  /**
   * The stream's first bytes while they may still be a byte-order mark (undefined once decided).
   * Passed on, the mark made the first event's field `\uFEFFdata`, which the decoder ignores: a
   * first event lost, where the translated path (TextDecoder) strips the mark.
   */
  private head: Buffer | undefined = EMPTY;
  /**
   * Where the stream's decoded chunks have their `"choices":[` (offset from the event's `{`, -1 until
   * one is learnt) and its length (`"choices": [` on hosts that space it). A host writes every
   * chunk with the same keys in the same order (id, model and created keep their length), whatever
   * that order is (OpenAI and vLLM put choices sixth, Azure, Gemini and llama.cpp first), so a few
   * character compares at one offset tell a chunk from an event that is none. A full prefix compare
   * or a search for the key cost ~150 ns per event (about a third of a passed event's CPU); this
   * costs ~10. A chunk laid out otherwise is only decoded (never refused) and its layout learnt.
   */
  private choicesAt = -1;
  private choicesLength = 0;

  constructor(
    private readonly stats: PassthroughStats,
    private readonly inspect: InspectEvent,
  ) {}

  /** One upstream read in; what to write for it out ('' when nothing). */
  push(chunk: Buffer): Frame {
    if (this.done || this.failure !== undefined) return '';
    if (this.head !== undefined) {
      const start = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
      if (start.length < BOM.length && BOM.subarray(0, start.length).equals(start)) {
        this.head = start;
        return '';
      }
      this.head = undefined;
      chunk = BOM.equals(start.subarray(0, BOM.length)) ? start.subarray(BOM.length) : start;
    }
    if (this.decoder !== undefined) return this.decoded(chunk, false);
    if (this.carry !== undefined && !this.mayEnd(this.carry, chunk)) {
      if (chunk.length > 0) this.carry.push(chunk);
      this.carryBytes += chunk.length;
      if (this.carryBytes > MAX_SSE_EVENT_CHARS) {
        this.carry = undefined;
        this.failure = new SseEventTooLarge(MAX_SSE_EVENT_CHARS);
      }
      return '';
    }
    const data = this.carry === undefined ? chunk : Buffer.concat([...this.carry, chunk]);
    this.carry = undefined;
    // Searched as latin1 text, one character per byte, so offsets are byte offsets: one copy,
    // then every search is a string builtin instead of a native Buffer call per event and key.
    const text = data.toString('latin1');
    if (text.indexOf('\r') >= 0) {
      // CR line ends (legal SSE, rare): the decoder takes over, starting with what was held.
      this.decoder = new TextDecoder('utf-8');
      return this.decoded(data, false);
    }
    return this.scan(data, text);
  }

  /** The upstream body ended: a last event without its blank line still counts. */
  end(): Frame {
    if (this.done || this.failure !== undefined) return '';
    const head = this.head;
    this.head = undefined;
    if (head !== undefined && head.length > 0) {
      // Only the start of a mark came, and then the end: those bytes are the stream.
      const held = this.push(head);
      const rest = this.end();
      return rest.length === 0 ? held : held.length === 0 ? rest : joinFrames([held, rest]);
    }
    if (this.decoder !== undefined) return this.decoded(EMPTY, true);
    const held = this.carry;
    this.carry = undefined;
    if (held === undefined) return '';
    return this.events(this.parser.push(Buffer.concat(held).toString('utf8')).concat(this.parser.end()));
  }

  /** Whether `chunk` may end the held event or needs the decoder: a CR, or a blank line (in it, or across the two). */
  private mayEnd(held: readonly Buffer[], chunk: Buffer): boolean {
    if (chunk.indexOf(13) >= 0 || chunk.indexOf('\n\n') >= 0) return true;
    const last = held[held.length - 1];
    return chunk[0] === 10 && last !== undefined && last[last.length - 1] === 10;
  }

  private decoded(bytes: Buffer, last: boolean): Frame {
    const decoder = this.decoder as TextDecoder;
    const text = last ? decoder.decode() : decoder.decode(bytes, { stream: true });
    const events = this.parser.push(text);
    if (last) for (const event of this.parser.end()) events.push(event);
    return this.events(events);
  }

  /** Events from the decoder: each inspected and re-framed. */
  private events(events: readonly SseEvent[]): string {
    let out = '';
    for (const event of events) {
      if (event.data === '[DONE]') {
        this.done = true;
        return out + SSE_DONE;
      }
      const frame = this.inspected(event.data);
      if (this.failure !== undefined) return out;
      out += frame ?? encodeSseData(event.data);
    }
    return out;
  }

  private inspected(data: string): string | undefined {
    try {
      return this.inspect(data);
    } catch (error) {
      this.failure = error;
      return '';
    }
  }

  /** Bytes mode: complete events pass as one slice of `data` unless one of them had to change. */
  private scan(data: Buffer, text: string): Frame {
    this.next = -2;
    let pieces: Frame[] | undefined;
    let runStart = 0;
    let position = 0;
    for (;;) {
      const boundary = text.indexOf('\n\n', position);
      if (boundary < 0) break;
      const eventEnd = boundary + 2;
      const start = position;
      position = eventEnd;
      if (boundary === start) continue; // a stray blank line
      const canonical = text.indexOf('\n', start) === boundary && text.startsWith(DATA_PREFIX, start);
      const payload = start + DATA_PREFIX.length;
      if (canonical && boundary - payload === DONE_DATA.length && text.startsWith(DONE_DATA, payload)) {
        this.done = true;
        return this.result(data, pieces, runStart, eventEnd);
      }
      if (canonical && this.passes(text, payload, boundary)) {
        this.stats.chunks++;
        continue;
      }
      // This event is looked at (and possibly changed): the run before it is cut off.
      let replacement: string | undefined;
      if (canonical) {
        const frame = this.inspected(data.toString('utf8', payload, boundary));
        if (this.failure !== undefined) return this.result(data, pieces, runStart, start);
        // The caller took it as a chunk: once content has started, its layout is the one unread events must have.
        if (this.stats.contentStarted && !this.choicesWhereLearnt(text, payload, boundary)) this.learnChoices(text, payload, boundary);
        if (frame === undefined) continue; // unchanged: stays in the run
        replacement = frame;
      } else {
        const events = this.parser.push(data.toString('utf8', start, eventEnd));
        replacement = this.events(events);
        if (this.failure !== undefined || this.done) return this.result(data, cut(pieces, data, runStart, start, replacement), eventEnd, eventEnd);
      }
      pieces = cut(pieces, data, runStart, start, replacement);
      runStart = eventEnd;
    }
    if (position < data.length) {
      this.carry = [Buffer.from(data.subarray(position))];
      this.carryBytes = data.length - position;
    }
    return this.result(data, pieces, runStart, position);
  }

  private result(data: Buffer, pieces: Frame[] | undefined, runStart: number, runEnd: number): Frame {
    if (pieces === undefined) return runEnd > runStart ? (runStart === 0 && runEnd === data.length ? data : data.subarray(runStart, runEnd)) : '';
    if (runEnd > runStart) pieces.push(data.subarray(runStart, runEnd));
    return pieces.length === 0 ? '' : joinFrames(pieces);
  }

  /**
   * A data event that can pass unread: content has started and none of the keys has a value, or the
   * only one is `finish_reason` (the end of the answer, all the caller needs to know of it: decoding
   * the finish chunk of every stream was a quarter of the scanner's decodes).
   */
  private passes(text: string, start: number, end: number): boolean {
    if (!this.stats.contentStarted) return false;
    if (text.charCodeAt(start) !== OPEN_BRACE || text.charCodeAt(end - 1) !== CLOSE_BRACE) return false;
    if (!this.choicesWhereLearnt(text, start, end)) return false;
    let at = this.next;
    // A match found for an earlier event that lies beyond it still holds: searched once per read, not per event.
    if (at === -2 || (at >= 0 && at < start)) at = this.nextKey(text, start);
    if (at < 0 || at >= end) return true;
    if (!text.startsWith(FINISH_KEY, at)) return false;
    const after = this.nextKey(text, at + FINISH_KEY.length);
    if (after >= 0 && after < end) return false;
    this.stats.finished = true;
    return true;
  }

  /**
   * Whether the event [start, end) has `"choices"…[` where the learnt chunk had it: its quotes, `c`,
   * `s` and bracket, compared one by one (a loop over the token cost 3 times as much).
   */
  private choicesWhereLearnt(text: string, start: number, end: number): boolean {
    if (this.choicesAt < 0) return false;
    const at = start + this.choicesAt;
    const bracket = at + this.choicesLength - 1;
    return (
      bracket < end &&
      text.charCodeAt(at) === QUOTE &&
      text.charCodeAt(at + 1) === LETTER_C &&
      text.charCodeAt(at + 7) === LETTER_S &&
      text.charCodeAt(at + 8) === QUOTE &&
      text.charCodeAt(bracket) === OPEN_BRACKET
    );
  }

  /**
   * Learns where a chunk the caller accepted has its `"choices":[`: the first `[` that follows the
   * key (a one-character search, not a search for the key). JSON strings escape `"`, so such text
   * is a key, and in a chunk with no nested `choices` before it, the top-level one.
   */
  private learnChoices(text: string, start: number, end: number): void {
    for (let bracket = text.indexOf('[', start); bracket >= 0 && bracket < end; bracket = text.indexOf('[', bracket + 1)) {
      let at = bracket - 1;
      while (text.charCodeAt(at) === SPACE || text.charCodeAt(at) === TAB) at--;
      if (text.charCodeAt(at) !== COLON) continue;
      at--;
      while (text.charCodeAt(at) === SPACE || text.charCodeAt(at) === TAB) at--;
      const key = at - CHOICES_KEY.length + 1;
      if (key < start || !text.startsWith(CHOICES_KEY, key)) continue;
      this.choicesAt = key - start;
      this.choicesLength = bracket - key + 1;
      return;
    }
  }

  /** The offset of the next key with a value at or after `from` (-1: none), remembered for the read. */
  private nextKey(text: string, from: number): number {
    WORTH_DECODING.lastIndex = from;
    const match = WORTH_DECODING.exec(text);
    this.next = match === null ? -1 : match.index;
    return this.next;
  }
}
