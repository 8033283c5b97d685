// The reporter of scripts/run-tests.mjs: node's own (TAP, or spec on a terminal), plus one line for a
// file stopped at the per-file limit saying which test it was still running, since node's own
// failure names only the file ("test timed out after …ms"). At the end it names the slowest files
// (wall time from the file's start to its end), to keep the suite inside CI's ten minutes.
import { Readable } from 'node:stream';
import { spec, tap } from 'node:test/reporters';

/** What a stopped file was doing: its tests started and not ended, outermost first. */
function describeRunning(open, seenTests) {
  if (open.length > 0) return `it was running: ${open.map((entry) => entry.name).join(' > ')}`;
  return seenTests
    ? 'every test it started had ended: an after() hook, or something a test left waiting, kept it from finishing'
    : 'no test had started: its top-level code or a before() hook outside any describe() did not finish';
}

/** The files that took longest, one diagnostic line, slowest first. */
function slowest(started, took, count) {
  const list = [...took].sort((a, b) => b[1] - a[1]).slice(0, count);
  const total = [...took.values()].reduce((sum, ms) => sum + ms, 0);
  const names = list.map(([file, ms]) => `${(ms / 1000).toFixed(1)} s ${file.replace(/^.*?dist\//, '')}`);
  return `slowest of ${started.size} files (${(total / 1000).toFixed(0)} s of file time in all): ${names.join(', ')}`;
}

async function* annotate(source, limitS) {
  /** Per file: the tests started (dequeued) and not yet ended, in the order they started. */
  const running = new Map();
  const seen = new Set();
  /** Per file: when its process started, and how long it ran (both on the reporter's clock). */
  const started = new Map();
  const took = new Map();
  let named = false;
  for await (const event of source) {
    // Before the run's own summary (`tests N`): --test-force-exit may end the process before
    // anything after the summary is written.
    if (!named && event.type === 'test:diagnostic' && event.data?.file === undefined && event.data?.message?.startsWith('tests ')) {
      named = true;
      if (took.size > 1) yield { type: 'test:diagnostic', data: { nesting: 0, message: slowest(started, took, 12) } };
    }
    yield event;
    const { file, name, nesting } = event.data ?? {};
    // The file's own entry (named by its path) stands for its process, not a test in it.
    if (file === undefined || name === file) {
      if (file !== undefined && nesting === 0) {
        if (event.type === 'test:dequeue') started.set(file, performance.now());
        else if (event.type === 'test:complete' && started.has(file)) took.set(file, performance.now() - started.get(file));
      }
      const error = event.data?.details?.error;
      if (event.type === 'test:fail' && name === file && error?.failureType === 'testTimeoutFailure') {
        const message = `${file} did not finish in ${limitS} s (TEST_FILE_TIMEOUT_S) and was stopped; ${describeRunning(running.get(file) ?? [], seen.has(file))}`;
        yield { type: 'test:diagnostic', data: { nesting: 0, file, message } };
      }
      continue;
    }
    if (event.type === 'test:dequeue') {
      if (!running.has(file)) running.set(file, []);
      running.get(file).push({ name, nesting });
      seen.add(file);
    } else if (event.type === 'test:complete') {
      const open = running.get(file) ?? [];
      const at = open.findLastIndex((entry) => entry.name === name && entry.nesting === nesting);
      if (at !== -1) open.splice(at, 1);
    }
  }
}

export default async function* runTestsReporter(source) {
  const events = annotate(source, Number(process.env.TEST_FILE_TIMEOUT_S ?? '0'));
  if (process.stdout.isTTY) yield* Readable.from(events).pipe(new spec());
  else yield* tap(events);
}
