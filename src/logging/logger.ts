// pino, JSON lines, with every line passed through the one redactor at every level.
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
