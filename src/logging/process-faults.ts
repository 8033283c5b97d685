// What the process does with an error no code caught. An unhandled rejection is logged (message
// and stack, through the redactor) and the process keeps serving: the promise's work failed, the
// rest stands. An uncaught exception leaves the process in a state no one can vouch for (Node's own
// advice), so it is logged the same way, the usage records not yet written go to the spool file,
// and the process exits 1 (a cluster primary starts a new worker; a supervisor restarts the rest).
// Until a logger exists (the config is being loaded), lines go to stderr through a redactor that
// knows no configured secret but still hides key-shaped strings.
import type { Logger } from './logger.js';
import { Redactor } from './redactor.js';

/** How long the last log line may take to be written before the process exits anyway. */
const FLUSH_LIMIT_MS = 1_000;

/** An unknown thrown value as log fields: its type, message and stack (an Error), or its text. */
export function faultFields(reason: unknown): { type: string; err: string; stack?: string } {
  if (reason instanceof Error) {
    return { type: reason.name, err: reason.message, ...(reason.stack === undefined ? {} : { stack: reason.stack }) };
  }
  let text: string;
  try {
    text = typeof reason === 'string' ? reason : (JSON.stringify(reason) ?? String(reason));
  } catch {
    // A cyclic object, a BigInt inside one.
    text = String(reason);
  }
  return { type: reason === null ? 'null' : typeof reason, err: text };
}

export interface FaultSink {
  logger: Logger;
  /** Keeps what must survive the exit (the usage records still in memory). */
  beforeExit?: () => void;
}

/** The process's fault handling: `report` once a logger exists, `unhandledRejection`/`uncaughtException` wired by install(). */
export class ProcessFaults {
  private sink: FaultSink | undefined;
  private readonly fallback = new Redactor([]);
  private exiting = false;

  constructor(
    private readonly writeStderr: (text: string) => void = (text) => process.stderr.write(text),
    private readonly exit: (code: number) => void = (code) => process.exit(code),
  ) {}

  /** From now on, faults are logged by `sink.logger` (whose lines pass through the configured redactor). */
  report(sink: FaultSink): void {
    this.sink = sink;
  }

  unhandledRejection(reason: unknown): void {
    this.log('error', reason, 'unhandled rejection; the process keeps serving');
  }

  uncaughtException(error: unknown): void {
    this.log('fatal', error, 'uncaught exception; the process exits');
    // Another one while the log is flushed: logged, but the spool and the exit are already on their way.
    if (this.exiting) return;
    this.exiting = true;
    try {
      this.sink?.beforeExit?.();
    } catch {
      // Exiting anyway: a failed spool must not keep a broken process alive.
    }
    const logger = this.sink?.logger;
    if (logger === undefined) return this.exit(1);
    let exited = false;
    const exitOnce = () => {
      if (exited) return;
      exited = true;
      this.exit(1);
    };
    setTimeout(exitOnce, FLUSH_LIMIT_MS).unref();
    logger.flush(exitOnce);
  }

  install(target: NodeJS.Process = process): void {
    target.on('unhandledRejection', (reason) => this.unhandledRejection(reason));
    target.on('uncaughtException', (error) => this.uncaughtException(error));
  }

  private log(level: 'error' | 'fatal', reason: unknown, message: string): void {
    const fields = faultFields(reason);
    if (this.sink !== undefined) {
      this.sink.logger[level]({ component: 'process', ...fields }, message);
      return;
    }
    const stack = fields.stack === undefined ? '' : `\n${fields.stack}`;
    this.writeStderr(this.fallback.redact(`llm-proxy: ${message}: ${fields.type}: ${fields.err}${stack}\n`));
  }
}
