// RELIABILITY.md §4c load figures at reduced sizes (TEST_SIZES in test/support/load-support.ts): each
// against the real `node dist/src/main.js` and bench/load-upstream.mjs, over HTTP on 127.0.0.1. The
// full sizes run with `npm run load`. Rows with tests elsewhere are not repeated here: the one-instance
// budget race (virtual-keys.test.ts), one stream cut by SIGTERM (graceful-shutdown.test.ts), one 413 and
// one slow socket (reliability-inputs.test.ts).
//
// Latency and rate checks (marked `timing`) also move with CPU that other processes take on a shared
// machine, so a figure whose only failures are timing checks is measured once more; any other failure,
// and a timing failure that repeats, fails the test.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { failures, figures, formatResult, TEST_SIZES, type FigureResult } from '../support/load-support.js';

/**
 * Checks the proxy fails today, each a reported finding (see the load notes): the test still runs and
 * reports them, as TODO, and turns into a plain pass once they are fixed.
 */
const KNOWN_FINDINGS = new Map<string, string>();

function assertFigure(result: FigureResult): void {
  assert.ok(result.checks.length > 0, `${result.figure} measured nothing`);
  assert.deepEqual(
    failures(result).map((check) => check.name),
    [],
    formatResult(result),
  );
}

describe('RELIABILITY §4c load figures (reduced sizes)', () => {
  for (const figure of figures(TEST_SIZES)) {
    test(figure.name, async (t) => {
      let result = await figure.run();
      const failed = failures(result);
      if (failed.length > 0 && failed.every((check) => check.timing === true)) {
        t.diagnostic(`timing only, measured again:\n${formatResult(result)}`);
        result = await figure.run();
      }
      if (result.skipped !== undefined) {
        if (process.env.CI === 'true') assert.fail(`${figure.name}: ${result.skipped}; CI=true requires it`);
        t.skip(result.skipped);
        return;
      }
      t.diagnostic(formatResult(result));
      const open = failures(result);
      if (open.length > 0 && open.every((check) => KNOWN_FINDINGS.has(check.name))) {
        t.todo(open.map((check) => `known finding: ${KNOWN_FINDINGS.get(check.name)}`).join('; '));
      }
      assertFigure(result);
    });
  }
});
