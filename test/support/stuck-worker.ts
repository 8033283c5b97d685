// Preloaded (node --import) into a `--workers` gateway: its cluster workers get stuck, as a worker
// whose event loop never comes back would (a synchronous wait that does not end). The primary is
// left alone. STUCK_WORKER_AT: `load` (before the worker's own code runs), `config` (once the
// primary has answered its request for the config). With STUCK_WORKER_FILE, only while that file exists.
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';

function stuck(): void {
  const file = process.env.STUCK_WORKER_FILE;
  if (file !== undefined && !existsSync(file)) return;
  // Blocks this thread for good: no timer, message or signal handler of the worker runs again.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

if (cluster.isWorker) {
  if (process.env.STUCK_WORKER_AT === 'load') stuck();
  if (process.env.STUCK_WORKER_AT === 'config') {
    process.on('message', (message: unknown) => {
      if (typeof message === 'object' && message !== null && (message as { t?: unknown }).t === 'reply') stuck();
    });
  }
}
