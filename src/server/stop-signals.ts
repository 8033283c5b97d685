// How a server process (single, cluster primary or worker) takes SIGTERM and SIGINT: the first
// starts its drain; a repeat within REPEAT_WINDOW_MS is the same stop delivered twice (systemd's
// stop reaches every process and the parent passes it on as well) and is ignored; a later one is
// an operator insisting, and ends the process at once, as the signal does by default, after the
// caller's last synchronous words (buffered usage records saved to the spool file).

export type StopSignal = 'SIGTERM' | 'SIGINT';

/** Copies of one stop arrive within milliseconds of each other; a person's second try comes later. */
export const REPEAT_WINDOW_MS = 1_000;

/** The part of `process` this needs (a fake in tests). */
export interface SignalTarget {
  on(signal: StopSignal, listener: () => void): unknown;
  off(signal: StopSignal, listener: () => void): unknown;
  /** Sends `signal` to this process once no listener takes it: its default action ends the process. */
  raise(signal: StopSignal): void;
}

const processTarget: SignalTarget = {
  on: (signal, listener) => process.on(signal, listener),
  off: (signal, listener) => process.off(signal, listener),
  raise: (signal) => process.kill(process.pid, signal),
};

/**
 * Calls `start` on the first SIGTERM or SIGINT, ignores either for REPEAT_WINDOW_MS after it, and
 * ends the process with the next one after that, once `beforeForcedExit` (synchronous) has run.
 */
export function onStopSignals(
  start: (signal: StopSignal) => void,
  beforeForcedExit: () => void = () => undefined,
  target: SignalTarget = processTarget,
  now: () => number = () => performance.now(),
): void {
  let startedAt: number | undefined;
  const signals: StopSignal[] = ['SIGTERM', 'SIGINT'];
  const listeners = signals.map((signal) => {
    const listener = () => {
      if (startedAt === undefined) {
        startedAt = now();
        start(signal);
      } else if (now() - startedAt >= REPEAT_WINDOW_MS) {
        for (const [index, name] of signals.entries()) target.off(name, listeners[index] as () => void);
        try {
          beforeForcedExit();
        } finally {
          target.raise(signal);
        }
      }
    };
    target.on(signal, listener);
    return listener;
  });
}
