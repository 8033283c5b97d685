// Preloaded into the proxy by the load figures only (NODE_OPTIONS=--import=<this file>): on SIGUSR2 it
// runs two full garbage collections and writes one stderr line
//   load-heap-probe {"heapUsed":<bytes>,"rss":<bytes>,"seq":<n>}
// so a driver can read the post-GC heap of the real `node dist/src/main.js` without any endpoint in the
// product. `--expose-gc` may not go in NODE_OPTIONS on Node 20, so gc is exposed from here instead.
// Diagnostics (neither may go in NODE_OPTIONS either): LOAD_TRACE_GC=1 turns on V8's --trace-gc;
// LOAD_CPU_PROF=<file> profiles the CPU from the start and writes the profile there on SIGUSR2 number
// LOAD_CPU_PROF_AT (default 1: the first heap reading, usually the baseline before the load; 2 or
// more takes the load in).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
if (process.env.LOAD_TRACE_GC === '1') setFlagsFromString('--trace-gc');
const gc = runInNewContext('gc');
let seq = 0;
let profiler;
if (process.env.LOAD_CPU_PROF) {
  profiler = new Session();
  profiler.connect();
  profiler.post('Profiler.enable', () => profiler.post('Profiler.setSamplingInterval', { interval: 500 }, () => profiler.post('Profiler.start')));
}

const profileAt = Number(process.env.LOAD_CPU_PROF_AT ?? 1);
process.on('SIGUSR2', () => {
  if (profiler !== undefined && seq + 1 >= profileAt) {
    const session = profiler;
    profiler = undefined;
    session.post('Profiler.stop', (error, result) => {
      if (error === null) writeFileSync(process.env.LOAD_CPU_PROF, JSON.stringify(result.profile));
    });
  }
  gc();
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  seq++;
  process.stderr.write(`\nload-heap-probe ${JSON.stringify({ heapUsed, rss, seq })}\n`);
});
