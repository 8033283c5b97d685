// Preloaded (node --import) into a gateway process: while the file PAUSED_LOAD_FILE exists, the
// loading of the server's modules (`src/server-main.js`, the first one after the entry) waits, as a
// slow module load does (1-1.5 s idle, 12-15 s under load): the entry's first lines have run, none
// of the server's. Each process that waits there appends its pid to PAUSED_LOAD_FILE.reached, so a
// test signals it at that moment, not after a guessed delay. With PAUSED_LOAD_WORKERS=1 only
// cluster workers wait. The hook runs on node's loader thread; the main thread's event loop (its
// signal handlers) runs meanwhile.
import cluster from 'node:cluster';
import { register } from 'node:module';

// Told here: node:cluster has removed NODE_UNIQUE_ID from the environment before the hook's thread starts.
const pauses = process.env.PAUSED_LOAD_WORKERS !== '1' || cluster.isWorker;
register(new URL('./paused-load-hooks.js', import.meta.url), { data: { pauses } });
