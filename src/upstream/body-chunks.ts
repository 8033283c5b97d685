// An upstream body read as an async iterator of chunks, for streams (SSE). Node's own Readable
// iterator is an async generator that yields each chunk through a promise of its own and waits on a
// second one when the buffer is empty; here a chunk already buffered costs no wait at all and
// everything buffered is taken in one read (one scan and one client write for chunks that arrived
// together). Same contract as `body.iterator({ destroyOnReturn: false })`: errors and a premature
// close are thrown, the end returns, and stopping early leaves the body for the caller to release.
import { finished, type Readable } from 'node:stream';

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

export class BodyChunks implements AsyncIterableIterator<Buffer> {
  /** Resolves the pending next() once the body has more, ends or fails. */
  private wake: (() => void) | undefined = undefined;
  /** undefined: still open; null: ended; an error: failed. */
  private outcome: Error | null | undefined = undefined;
  private stopped = false;
  private readonly onReadable = (): void => this.signal();
  private readonly cleanup: () => void;

  constructor(private readonly body: Readable) {
    body.on('readable', this.onReadable);
    // finished() is what Node's iterator uses too: it tells an end from a close before the end.
    this.cleanup = finished(body, { writable: false }, (error) => {
      this.outcome = error ?? null;
      this.signal();
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Buffer>> {
    if (this.stopped) return Promise.resolve(DONE);
    const chunk = this.body.destroyed ? null : (this.body.read() as Buffer | null);
    if (chunk !== null) return Promise.resolve({ value: chunk, done: false });
    const outcome = this.outcome;
    if (outcome === null) return this.stop();
    if (outcome !== undefined) {
      this.detach();
      return Promise.reject(outcome);
    }
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    }).then(() => this.next());
  }

  return(): Promise<IteratorResult<Buffer>> {
    return this.stop();
  }

  private stop(): Promise<IteratorReturnResult<undefined>> {
    this.detach();
    return Promise.resolve(DONE);
  }

  private detach(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.body.off('readable', this.onReadable);
    this.cleanup();
  }

  private signal(): void {
    const wake = this.wake;
    if (wake === undefined) return;
    this.wake = undefined;
    wake();
  }
}
