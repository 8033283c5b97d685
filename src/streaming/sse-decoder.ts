// The one SSE decoder: bytes → events, per the WHATWG event-stream rules.
// Handles events split across reads and inside UTF-8 code points, CR/LF/CRLF line ends,
// comments, `data:` with or without a space, multi-line data, and a final event with no blank line.
// @see https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

export interface SseEvent {
  /** The `event:` field; undefined when absent (the spec's "message"). */
  event?: string;
  data: string;
  id?: string;
}

/**
 * The most one event may hold while it is still arriving (its unfinished line and its data lines):
 * an upstream that never ends a line or an event must not grow the process without bound
 * (RELIABILITY 4b#12). Larger than any real event (a Gemini image arrives whole in one, a few MB).
 */
export const MAX_SSE_EVENT_CHARS = 16 * 1024 * 1024;

/** An upstream event outgrew MAX_SSE_EVENT_CHARS: the stream is ended as a bad upstream stream. */
export class SseEventTooLarge extends Error {
  constructor(limit: number) {
    super(`an event larger than ${Math.round(limit / (1024 * 1024))} MiB`);
    this.name = 'SseEventTooLarge';
  }
}

/** Incremental decoder; feed it text, take complete events. Exposed for tests and fast paths. */
export class SseParser {
  /**
   * The start of a line still without its end, as the reads that brought it. Joined only when the
   * line ends: appending each read to one buffer and scanning that from its start again made one
   * long line quadratic (8 MB with no line break took 14 s in 16 KB reads).
   */
  private partial: string[] = [];
  private data: string[] = [];
  /** Characters held in `partial` and `data`: what the event still arriving takes. */
  private partialChars = 0;
  private dataChars = 0;
  private event: string | undefined;
  private id: string | undefined;
  private pendingCr = false;

  constructor(private readonly maxEventChars = MAX_SSE_EVENT_CHARS) {}

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): SseEvent[] {
    // An empty read (a zero-length chunk, or bytes that end inside a code point) must not clear a
    // pending CR, or the LF of a split CRLF would count as a blank line and end the event early.
    if (text.length === 0) return [];
    const out: SseEvent[] = [];
    let input = text;
    if (this.pendingCr) {
      // A CR ended the previous read; a LF now belongs to that same line end.
      this.pendingCr = false;
      if (input.startsWith('\n')) input = input.slice(1);
    }
    // `partial` holds no line end, so only this read is searched.
    let start = 0;
    for (;;) {
      let end = -1;
      let next = -1;
      for (let i = start; i < input.length; i++) {
        const c = input.charCodeAt(i);
        if (c === 10) {
          end = i;
          next = i + 1;
          break;
        }
        if (c === 13) {
          end = i;
          if (i + 1 < input.length) {
            next = input.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
          } else {
            next = i + 1;
            this.pendingCr = true;
          }
          break;
        }
      }
      if (end < 0) break;
      let line = input.slice(start, end);
      if (this.partial.length > 0) {
        this.partial.push(line);
        line = this.partial.join('');
        this.partial = [];
        this.partialChars = 0;
      }
      this.line(line, out);
      start = next;
    }
    if (start < input.length) {
      this.partial.push(start === 0 ? input : input.slice(start));
      this.partialChars += input.length - start;
      this.checkSize();
    }
    return out;
  }

  /** Ends the input: a last event without its blank line still counts (many servers omit it). */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.partial.length > 0) {
      this.line(this.partial.join(''), out);
      this.partial = [];
      this.partialChars = 0;
    }
    this.dispatch(out);
    return out;
  }

  private checkSize(): void {
    if (this.partialChars + this.dataChars > this.maxEventChars) throw new SseEventTooLarge(this.maxEventChars);
  }

  private line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return; // comment
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    if (field === 'data') {
      this.data.push(value);
      this.dataChars += value.length;
      this.checkSize();
    }
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
    // `retry` and unknown fields are ignored, as the spec says.
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length === 0) {
      this.event = undefined;
      return;
    }
    const event: SseEvent = { data: this.data.length === 1 ? (this.data[0] as string) : this.data.join('\n') };
    if (this.event !== undefined) event.event = this.event;
    if (this.id !== undefined) event.id = this.id;
    out.push(event);
    this.data = [];
    this.dataChars = 0;
    this.event = undefined;
  }
}

/**
 * Decodes a byte stream into batches of SSE events: one batch per read that completed any.
 * Batches let the pass-through path write one frame group per upstream read, not one per event.
 * `onEarlyExit` runs when the reader stops before the body ends (a reader that stops at its own
 * end marker, `[DONE]` or `message_stop`, or on an error), to release the body.
 */
export async function* decodeSseBatches(body: AsyncIterable<Uint8Array | string>, onEarlyExit?: () => void): AsyncGenerator<SseEvent[]> {
  const decoder = new TextDecoder('utf-8');
  const parser = new SseParser();
  let ended = false;
  try {
    for await (const chunk of body) {
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      const events = parser.push(text);
      if (events.length > 0) yield events;
    }
    ended = true;
  } finally {
    if (!ended) onEarlyExit?.();
  }
  const tail = decoder.decode();
  const last = tail.length > 0 ? parser.push(tail) : [];
  for (const event of parser.end()) last.push(event);
  if (last.length > 0) yield last;
}

/** Decodes a byte stream into SSE events, one at a time. */
export async function* decodeSse(body: AsyncIterable<Uint8Array | string>, onEarlyExit?: () => void): AsyncGenerator<SseEvent> {
  for await (const batch of decodeSseBatches(body, onEarlyExit)) for (const event of batch) yield event;
}
