// A worker thread of CountPool (token-counts.ts): counts one job at a time, off the event loop.
import { parentPort } from 'node:worker_threads';
import { runCountJob, type CountJob } from './token-counts.js';
import { loadTokenCounter } from './token-estimator.js';

const port = parentPort;
if (port === null) throw new Error('token-count-worker runs only as a worker thread');

port.on('message', (message: { id: number; job: CountJob }) => {
  loadTokenCounter().then(
    (counter) => {
      try {
        port.postMessage({ id: message.id, result: runCountJob(counter, message.job) });
      } catch (error) {
        port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
      }
    },
    (error: unknown) => port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
