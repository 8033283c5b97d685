// RELIABILITY §4d#5: SQL is parameterised only, enforced by lint. The source is read as text: every
// statement goes through Kysely (its builder, or the `sql` tag, which binds each `${}` as a
// parameter). Text that becomes SQL as written (`sql.raw`, `sql.lit`, a driver's own query or exec)
// is allowed only where listed below, each reviewed: built from constants, never from a request.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sourceFiles } from '../../test/support/source-files.js';

// dist/src/store → the repository root, where the TypeScript sources are.
const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');

/** Each file's reviewed count of verbatim-SQL calls. */
const REVIEWED: Record<string, number> = {
  // Column lists and ORDER BY from constant maps (COLUMN, AGGREGATES, the sort table) keyed by enum-checked dimensions; the source's column lists are constants;
  // the breakdowns' sums, labels and grouping sets are constants and COLUMN's names for the dimensions the route asks for.
  'src/store/usage-analytics.ts': 14,
  // The daily sums' ON CONFLICT clause: column names from a constant list.
  'src/store/usage-store.ts': 1,
  // PRAGMAs: constants (cache_size from a constant too), and busy_timeout from a number floored in place.
  'src/store/database.ts': 4,
  // The session's statement_timeout: set_config with the value bound.
  'src/store/postgres-pool.ts': 1,
  // The usage reader thread's PRAGMAs: busy_timeout a number the store chose, cache_size a constant.
  'src/store/sqlite-reader-worker.ts': 2,
};

/** `sql.raw`/`lit`/`id`, PRAGMAs, and any driver call (pg's query, better-sqlite3's exec/prepare, postgres' unsafe) given SQL text. */
const VERBATIM = /\bsql\.(?:raw|lit|id)\s*\(|\.pragma\s*\(|\.(?:query|exec|prepare|unsafe)\s*\(\s*[`'"]/g;

test('verbatim SQL only where reviewed; everything else is bound parameters', () => {
  const found: Record<string, number> = {};
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const count = readFileSync(file, 'utf8').match(VERBATIM)?.length ?? 0;
    if (count > 0) found[relative(ROOT, file)] = count;
  }
  assert.deepEqual(found, REVIEWED, 'a new verbatim-SQL call: build it with the sql tag or the query builder, or review it and list it here');
});
