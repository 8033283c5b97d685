// Preloaded (node --import) into a `--workers` gateway: its cluster workers get stuck, as a worker
// whose event loop never comes back would (a synchronous wait that does not end). The primary is
// left alone. STUCK_WORKER_AT: `load` (before the worker's own code runs), `config` (once the
// primary has answered its request for the config), `reload` (when the primary asks it to reload).
// With STUCK_WORKER_FILE, only while that file exists; at `reload`, each worker stuck appends its
// pid to STUCK_WORKER_FILE.pids first (the test ends it, as the OOM killer would), and with
// STUCK_WORKER_ONE=1 the first worker to delete the file is the only one stuck. With
// STUCK_WORKER_DIE=1 such a worker kills itself (SIGKILL) instead of hanging, as one the OOM killer
// ends while it applies the reload: a test then waits on the primary's log, not on a pid to kill. A
// worker that asked for the reload (POST /admin/reload reached it) is never stuck: it answers the client.
import cluster from 'node:cluster';
import { appendFileSync, existsSync, rmSync } from 'node:fs';

function stuck(): void {
  const file = process.env.STUCK_WORKER_FILE;
  if (file !== undefined && !existsSync(file)) return;
  // Blocks this thread for good: no timer, message or signal handler of the worker runs again.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** A reload message: stuck, when the file says so (claimed by deleting it, with STUCK_WORKER_ONE). */
function stuckOnReload(): void {
  const file = process.env.STUCK_WORKER_FILE;
  if (file === undefined) return stuck();
  // The worker whose client asked for this reload (POST /admin/reload) stays free to answer it.
  if (asked) return;
  if (process.env.STUCK_WORKER_ONE === '1') {
    try {
      // One unlink succeeds: that worker is the one stuck.
      rmSync(file);
    } catch {
      return;
    }
  } else if (!existsSync(file)) return;
  appendFileSync(`${file}.pids`, `${process.pid}\n`);
  if (process.env.STUCK_WORKER_DIE === '1') process.kill(process.pid, 'SIGKILL');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** Set once this worker has asked the primary for a reload. */
let asked = false;

function isMessage(message: unknown, type: string): boolean {
  return typeof message === 'object' && message !== null && (message as { t?: unknown }).t === type;
}

if (cluster.isWorker) {
  if (process.env.STUCK_WORKER_AT === 'load') stuck();
  if (process.env.STUCK_WORKER_AT === 'config') {
    process.on('message', (message: unknown) => {
      if (isMessage(message, 'reply')) stuck();
    });
  }
  if (process.env.STUCK_WORKER_AT === 'reload') {
    // Noted as it leaves: this worker's client is waiting on the reload's answer.
    const send = process.send?.bind(process);
    if (send !== undefined) {
      process.send = ((message: unknown, ...rest: unknown[]) => {
        if (isMessage(message, 'reload.request')) asked = true;
        return (send as (...args: unknown[]) => boolean)(message, ...rest);
      }) as typeof process.send;
    }
    process.on('message', (message: unknown) => {
      if (isMessage(message, 'reload')) stuckOnReload();
    });
  }
}
