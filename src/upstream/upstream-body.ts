// An upstream response body read straight from undici's dispatch handler: the chunks the
// connection delivers, queued for one reader, with backpressure (the connection is paused while
// the reader is behind) and no Node stream. undici's request() wraps each response in a Readable
// (and the handler in an AsyncResource) whose set-up and async iteration were ~5% of a streamed
// request's CPU. The reader gets what one socket read brought as one buffer: an SSE upstream sends
// an HTTP chunk per event, and handing them over one by one cost a scanner pass, a generator step
// and a client write per event.
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { CallSignal } from './call-signal.js';

/** Bytes queued before the connection is paused (undici's body stream used the same). */
const HIGH_WATER_MARK = 64 * 1024;

interface Waiter {
  resolve(result: IteratorResult<Buffer>): void;
  reject(error: unknown): void;
}

const DONE: IteratorResult<Buffer> = { value: undefined, done: true };

/** One reader's view of an upstream body. */
export class UpstreamBody implements AsyncIterable<Buffer> {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: unknown = undefined;
  private waiter: Waiter | undefined;
  /** While dump() runs: bytes it may still drop before it closes the connection instead. */
  private dumpLeft = -1;
  private dumped: (() => void) | undefined;
  /** A delivery to the waiting reader is scheduled for the end of the current socket read. */
  private delivering = false;
  /** Set by destroy(): the call was aborted and nothing more is read. */
  destroyed = false;
  /** Called once when the call is over: the body ended, failed or was destroyed (see onSettled). */
  private settled: ((failure: unknown) => void) | undefined;

  constructor(private readonly controller: Dispatcher.DispatchController) {}

  /** Every byte of the body has been read (the reader saw its end). */
  get readableEnded(): boolean {
    return this.ended && this.queue.length === 0 && this.failure === undefined;
  }

  // ------------------------------------------------------------------ fed by the dispatch handler

  /** @internal */
  push(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.dumpLeft >= 0) {
      this.dumpLeft -= chunk.length;
      if (this.dumpLeft < 0) this.destroy();
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    // The chunks of one socket read arrive together (one per HTTP chunk: an SSE upstream sends one
    // per event); the waiting reader gets them joined, at the end of that read, not one by one.
    if (this.waiter !== undefined && !this.delivering) {
      this.delivering = true;
      queueMicrotask(this.deliver);
    }
    if (this.queued >= HIGH_WATER_MARK && !this.controller.paused) this.controller.pause();
  }

  private readonly deliver = (): void => {
    this.delivering = false;
    if (this.queue.length > 0) this.takeWaiter()?.resolve({ value: this.take(), done: false });
  };

  /** The waiting reader, if any, no longer waiting. */
  private takeWaiter(): Waiter | undefined {
    const waiter = this.waiter;
    this.waiter = undefined;
    return waiter;
  }

  /** Everything queued, as one buffer; the connection resumes if it was paused. */
  private take(): Buffer {
    const chunk = this.queue.length === 1 ? (this.queue[0] as Buffer) : Buffer.concat(this.queue, this.queued);
    this.queue.length = 0;
    this.queued = 0;
    if (this.controller.paused) this.controller.resume();
    return chunk;
  }

  /** @internal */
  end(): void {
    this.ended = true;
    this.settleDump();
    this.settle();
    // With chunks queued, a delivery is on its way: the reader gets them first, the end next.
    if (this.queue.length === 0) this.takeWaiter()?.resolve(DONE);
  }

  /** @internal */
  fail(error: unknown): void {
    // After destroy() the reader has had its end; the abort that destroy() caused is not news.
    if (this.ended || this.destroyed || this.failure !== undefined) return;
    this.failure = error;
    this.settleDump();
    this.settle();
    // With chunks queued, a delivery is on its way: the reader gets them first, the failure next.
    if (this.queue.length === 0) this.takeWaiter()?.reject(error);
  }

  /**
   * Calls `callback` once the upstream call is over, however it ends: the body's end, a failure
   * (a reset, a timeout, the client's abort: passed on) or destroy(); at once if it is over already.
   */
  onSettled(callback: (failure: unknown) => void): void {
    if (this.ended || this.destroyed || this.failure !== undefined) callback(this.failure);
    else this.settled = callback;
  }

  private settle(): void {
    const settled = this.settled;
    this.settled = undefined;
    settled?.(this.failure);
  }

  // -------------------------------------------------------------------------------- the reader

  /** What has arrived since the last read, as one chunk; rejects with the call's failure (a timeout, a reset, an abort). */
  read(): Promise<IteratorResult<Buffer>> {
    if (this.queue.length > 0) return Promise.resolve({ value: this.take(), done: false });
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended || this.destroyed) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * An iterator over the chunks. With `destroyOnReturn` (the default, as for a for-await loop), a
   * reader that stops early aborts the call; without, the body is left for releaseBody (a reader
   * that stops at the stream's own end marker, with a few bytes left, keeps the connection reusable).
   */
  chunks(destroyOnReturn = true): AsyncIterableIterator<Buffer> {
    const iterator: AsyncIterableIterator<Buffer> = {
      next: () => this.read(),
      return: (): Promise<IteratorResult<Buffer>> => {
        if (destroyOnReturn && !this.ended) this.destroy();
        return Promise.resolve(DONE);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.chunks(true);
  }

  /** Aborts the call: the connection is closed, and nothing more is read. */
  destroy(error?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.queue.length = 0;
    this.queued = 0;
    if (!this.ended && !this.controller.aborted) this.controller.abort(error ?? new undiciErrors.RequestAbortedError());
    this.settleDump();
    this.settle();
    this.takeWaiter()?.resolve(DONE);
  }

  /** Reads and drops what is left, up to `limit` bytes, then closes the connection if more remains. */
  dump(limit: number): Promise<void> {
    if (this.ended || this.destroyed || this.failure !== undefined) return Promise.resolve();
    let left = limit;
    for (const chunk of this.queue) left -= chunk.length;
    this.queue.length = 0;
    this.queued = 0;
    if (left < 0) {
      this.destroy();
      return Promise.resolve();
    }
    this.dumpLeft = left;
    if (this.controller.paused) this.controller.resume();
    return new Promise((resolve) => {
      this.dumped = resolve;
    });
  }

  private settleDump(): void {
    const dumped = this.dumped;
    this.dumped = undefined;
    dumped?.();
  }
}

/** An upstream answer at its headers, its body still to be read. */
export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: UpstreamBody;
}

/**
 * Resolves at the response headers with a body fed as the connection delivers it; rejects when
 * the call fails before them. The signal aborts the call at any point.
 */
export class StreamingHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private body: UpstreamBody | undefined;
  private settled = false;
  private finished = false;
  private readonly onAbort = (): void => {
    const reason = this.signal.reason instanceof Error ? this.signal.reason : new undiciErrors.RequestAbortedError();
    this.finish();
    if (!this.settled) {
      this.settled = true;
      this.reject(reason);
    } else this.body?.fail(reason);
    if (this.controller !== undefined && !this.controller.aborted) this.controller.abort(reason);
  };

  constructor(
    private readonly signal: CallSignal,
    private readonly resolve: (answer: UpstreamResponse) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    if (signal.aborted) this.onAbort();
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Aborted (or failed) before it was dispatched: nothing to send. */
  get done(): boolean {
    return this.finished;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.finished && !controller.aborted) controller.abort(new undiciErrors.RequestAbortedError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: UpstreamResponse['headers']): void {
    // 1xx informational answers come before the real one.
    if (statusCode < 200 || this.settled) return;
    this.settled = true;
    this.body = new UpstreamBody(controller);
    this.resolve({ status: statusCode, headers, body: this.body });
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.body?.push(chunk);
  }

  onResponseEnd(): void {
    this.finish();
    this.body?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.finish();
    if (!this.settled) {
      this.settled = true;
      this.reject(error);
    } else this.body?.fail(error);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.signal.removeEventListener('abort', this.onAbort);
  }
}
