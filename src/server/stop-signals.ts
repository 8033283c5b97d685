// How a server process (single, cluster primary or worker) takes SIGTERM and SIGINT: the first
// starts its drain; a repeat within REPEAT_WINDOW_MS is the same stop delivered twice (systemd's
// stop reaches every process and the parent passes it on as well) and is ignored; a later one is
// an operator insisting, and ends the process at once, as the signal does by default, after the
// caller's last synchronous words (buffered usage records saved to the spool file).
// Before that handler exists the entry points hold both signals from their first line (as
// reload-signal.ts holds SIGHUP): node ends a process on a SIGTERM nobody listens for (exit 143), and
// a server takes seconds to get to its handler. While only modules load, a stop exits 0 at once
// (nothing has started); from keepStopSignals() on (the server reads its config, may make a key
// file, migrates) it is kept, and onStopSignals() starts the drain with it. Nothing here may import.

export type StopSignal = 'SIGTERM' | 'SIGINT';

/** Until keepStopSignals(): a stop ends the process at once. After it: the stop onStopSignals() takes. */
let keeping = false;
let held: StopSignal | undefined;
const holder = (signal: NodeJS.Signals): void => {
  if (!keeping) process.exit(0);
  held ??= signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM';
};

/** From the entry's first line: a SIGTERM or SIGINT ends the process with exit 0, not 143 (nothing has started). */
export function holdStopSignals(): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) if (!process.listeners(signal).includes(holder)) process.on(signal, holder);
}

/** The server has begun (config, key file, migrations): a stop from now on is kept for onStopSignals(). */
export function keepStopSignals(): void {
  holdStopSignals();
  keeping = true;
}

/** Not a server after all (another CLI command, or a CLI that runs the server in a child): the signals' default action again. */
export function releaseStopSignals(): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.off(signal, holder);
  keeping = false;
  if (held !== undefined) process.kill(process.pid, held);
}

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
  if (target !== processTarget) return;
  for (const signal of signals) process.off(signal, holder);
  // A stop that came while the server started: its drain starts now (the caller is ready for it).
  const early = held;
  held = undefined;
  if (early !== undefined) listeners[signals.indexOf(early)]?.();
}
