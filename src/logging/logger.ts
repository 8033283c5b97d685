// pino, JSON lines, with every line passed through the one redactor at every level.
import { EventEmitter } from 'node:events';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Redactor } from './redactor.js';

export type { Logger };

export function createLogger(level: string, redactor: Redactor, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'llm-proxy' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Structured fields that carry credentials are censored before serialisation…
      redact: {
        paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]', 'apiKey', 'api_key'],
        censor: '[redacted]',
      },
      // …and the finished line is scrubbed of any configured secret or key-shaped string.
      hooks: { streamWrite: (line: string) => redactor.redact(line) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/**
 * Runs `then` once the lines logged so far have been written (the log goes to stdout
 * asynchronously, so a direct write to stderr would land among them), or after `waitMs` when no
 * write is under way to signal its end (a level that logged nothing, a destination of a test's own).
 */
export function afterLogWritten(logger: Logger, then: () => void, waitMs = 250): void {
  const stream: unknown = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  if (!(stream instanceof EventEmitter)) {
    then();
    return;
  }
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    stream.off('drain', once);
    then();
  };
  const timer = setTimeout(once, waitMs);
  stream.once('drain', once);
}
