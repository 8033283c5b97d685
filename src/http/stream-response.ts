// Writes a stream of SSE frames to a client: backpressure honoured (no frame is read from the
// upstream while the client's socket is full), `: keepalive` comments on idle streams from one
// shared timer, and a failure after the first byte ends the stream with one error event, no [DONE].
import type { ServerResponse } from 'node:http';
import { isGatewayError, upstreamStreamError, type GatewayError } from '../errors/gateway-error.js';
import { encodeSseError, SSE_KEEPALIVE } from '../streaming/sse-encoder.js';
import type { Frame } from '../streaming/sse-passthrough.js';

interface ActiveStream {
  res: ServerResponse;
  lastWrite: number;
  blocked: boolean;
  /** Stops the upstream read (the route's abort), so an interrupted stream ends at once. */
  abort: (() => void) | undefined;
  /** Set by interrupt(): the error event this stream ends with (graceful shutdown). */
  interrupted: GatewayError | undefined;
  /** Its index in the registry's list; -1 once removed. */
  slot: number;
}

/** Keeps idle streams alive with one interval for all of them, not a timer per stream. */
export class StreamRegistry {
  /**
   * Open streams, each knowing its slot: removal moves the last one into the gap. A Set here
   * allocated a new hash table every few dozen streams as deletions piled up (V8 rehashes an
   * OrderedHashSet when its deleted entries fill it), and those tables reached the old generation
   * (~110 bytes per stream, V8's sampling heap profiler); the list allocates nothing per stream.
   */
  private readonly active: ActiveStream[] = [];
  private readonly timer: NodeJS.Timeout;

  /** `writeStallMs`: how long a client may leave its socket full before it is dropped. */
  constructor(
    private readonly keepaliveMs: number,
    readonly writeStallMs = 60_000,
  ) {
    this.timer = setInterval(() => this.tick(Date.now()), Math.max(250, Math.min(keepaliveMs / 3, 5000)));
    this.timer.unref();
  }

  get size(): number {
    return this.active.length;
  }

  add(res: ServerResponse, abort?: () => void): ActiveStream {
    const stream: ActiveStream = { res, lastWrite: Date.now(), blocked: false, abort, interrupted: undefined, slot: this.active.length };
    this.active.push(stream);
    return stream;
  }

  remove(stream: ActiveStream): void {
    const slot = stream.slot;
    if (slot < 0 || this.active[slot] !== stream) return;
    stream.slot = -1;
    const last = this.active.pop() as ActiveStream;
    if (last === stream) return;
    this.active[slot] = last;
    last.slot = slot;
  }

  private tick(now: number): void {
    for (const stream of this.active) {
      if (stream.blocked || now - stream.lastWrite < this.keepaliveMs || stream.res.destroyed) continue;
      stream.res.write(SSE_KEEPALIVE);
      stream.lastWrite = now;
    }
  }

  /** Ends every active stream with `error` as its last event (graceful shutdown); returns how many. */
  interrupt(error: GatewayError): number {
    // A copy: an abort may remove its stream (and move another into its slot) before the loop ends.
    const streams = this.active.slice();
    for (const stream of streams) {
      stream.interrupted = error;
      // A client that leaves its socket full cannot take the event: drop it.
      if (stream.blocked) stream.res.destroy();
      else stream.abort?.();
    }
    return streams.length;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

function waitForDrain(res: ServerResponse, stallMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (drained: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(drained);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => {
      done(false);
      res.destroy();
    }, stallMs);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

export type StreamEnd =
  | { kind: 'complete' }
  | { kind: 'client_disconnected' }
  | { kind: 'failed'; error: GatewayError };

function openAiErrorFrame(error: GatewayError): string {
  return encodeSseError(error.toBody());
}

/** Writes `first` and every following frame; resolves with how the stream ended. Never throws. */
export async function writeFrames(
  res: ServerResponse,
  first: Frame,
  frames: AsyncGenerator<Frame>,
  registry: StreamRegistry,
  provider: string,
  abort?: () => void,
  /** The endpoint's error event (default: OpenAI's `data: {"error": …}`). */
  errorFrame: (error: GatewayError) => string = openAiErrorFrame,
): Promise<StreamEnd> {
  const stream = registry.add(res, abort);
  try {
    let frame = first;
    for (;;) {
      if (res.destroyed) return { kind: 'client_disconnected' };
      stream.lastWrite = Date.now();
      if (!res.write(frame)) {
        stream.blocked = true;
        const drained = await waitForDrain(res, registry.writeStallMs);
        stream.blocked = false;
        if (!drained) return { kind: 'client_disconnected' };
      }
      let next: IteratorResult<Frame>;
      try {
        next = await frames.next();
      } catch (error) {
        if (res.destroyed) return { kind: 'client_disconnected' };
        const failure = stream.interrupted ?? (isGatewayError(error) ? error : upstreamStreamError(provider, 'the connection broke'));
        res.end(errorFrame(failure));
        return { kind: 'failed', error: failure };
      }
      if (stream.interrupted !== undefined) {
        res.end(errorFrame(stream.interrupted));
        return { kind: 'failed', error: stream.interrupted };
      }
      if (next.done === true) {
        res.end();
        return { kind: 'complete' };
      }
      frame = next.value;
    }
  } finally {
    registry.remove(stream);
    // Stops the upstream read if we left early (client gone); a finished generator ignores it.
    void frames.return(undefined).catch(() => undefined);
  }
}
