// What the call path reads of an AbortSignal, and a light signal that provides it. Every chat call
// needs one to stop its upstream call when the client goes away; on Node 20 an AbortController with
// one listener costs 6-9 µs (an EventTarget, its weak listener bookkeeping), a visible share of a
// request's CPU when nothing is ever aborted. AbortSignal satisfies CallSignal, so a real one is still
// made where an API needs it (a deadline from AbortSignal.timeout), and passed down unchanged; the
// upstream client's dispatch handlers listen to either.

export interface CallSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A signal and its trigger in one object; each listener runs once, on the first abort(). */
export class CallAbort implements CallSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | undefined;

  /** Every listener runs at most once (abort happens once), so `once` needs no handling. */
  addEventListener(_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.listeners;
    if (listeners === undefined) return;
    const index = listeners.indexOf(listener);
    if (index >= 0) listeners.splice(index, 1);
  }

  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }
}

/**
 * An AbortSignal that aborts with `signal`, for an API that takes only a real one (undici's
 * `request`, AbortSignal.any). Made only where such an API is called, off the common path.
 */
export function toAbortSignal(signal: CallSignal): AbortSignal {
  if (signal instanceof AbortSignal) return signal;
  const controller = new AbortController();
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  return controller.signal;
}

/** Waits `ms`; rejects with the signal's reason when it aborts first. */
export function delay(ms: number, signal: CallSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
