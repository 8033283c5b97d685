// The reporter of scripts/run-tests.mjs: node's own (TAP, or spec on a terminal), plus one line for a
// file stopped at the per-file limit saying which test it was still running, since node's own
// failure names only the file ("test timed out after …ms").
import { Readable } from 'node:stream';
import { spec, tap } from 'node:test/reporters';

/** What a stopped file was doing: its tests started and not ended, outermost first. */
function describeRunning(open, seenTests) {
  if (open.length > 0) return `it was running: ${open.map((entry) => entry.name).join(' > ')}`;
  return seenTests
    ? 'every test it started had ended: an after() hook, or something a test left waiting, kept it from finishing'
    : 'no test had started: its top-level code or a before() hook outside any describe() did not finish';
}

async function* annotate(source, limitS) {
  /** Per file: the tests started (dequeued) and not yet ended, in the order they started. */
  const running = new Map();
  const seen = new Set();
  for await (const event of source) {
    yield event;
    const { file, name, nesting } = event.data ?? {};
    // The file's own entry (named by its path) stands for its process, not a test in it.
    if (file === undefined || name === file) {
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
