// docs/reliability.md maps every row of RELIABILITY.md (its copy in docs/spec/) to the tests that
// cover it. This keeps the map from rotting: each named test file must exist and hold a test or
// suite whose name starts with the name given, and each row of the spec must be on the map, in
// order, once. The copy must equal the shared RELIABILITY.md when that sits beside the checkout.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { figures, TEST_SIZES } from '../support/load-support.js';

// dist/test/integration → the repository root, where the sources and docs are.
const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
const SPEC = join(ROOT, 'docs', 'spec', 'RELIABILITY.md');
const MAP = join(ROOT, 'docs', 'reliability.md');
/** The shared spec, for a checkout that sits beside it (as the project's main checkout does). */
const SHARED = join(ROOT, '..', 'shared', 'RELIABILITY.md');

/** Files whose test names are made at run time, with the names they make. */
const RUNTIME_NAMES: Record<string, () => string[]> = {
  'test/integration/load-figures.test.ts': () => figures(TEST_SIZES).map((figure) => figure.name),
};

interface SpecRow {
  id: string;
  /** The row's bold label (§4c, §4d), which the map's wording must start with. */
  label?: string;
}

interface MapRow {
  id: string;
  text: string;
  refs: Array<{ file: string; name: string }>;
}

/** The rows of §4a–§4d: table rows by number, §4c's bullets by their order, §4d's numbered rules. */
function specRows(text: string): SpecRow[] {
  const rows: SpecRow[] = [];
  let section: string | undefined;
  let bullets = 0;
  for (const line of text.split('\n')) {
    const heading = /^### (4[a-d])\. /.exec(line);
    if (heading !== null) {
      section = heading[1];
      continue;
    }
    if (line.startsWith('#')) section = undefined;
    if (section === '4a' || section === '4b') {
      const row = /^\| (\d+) \|/.exec(line);
      if (row !== null) rows.push({ id: `${section}#${row[1]}` });
    } else if (section === '4c') {
      const bullet = /^- \*\*(.+?):\*\*/.exec(line);
      if (bullet !== null) rows.push({ id: `4c#${++bullets}`, label: bullet[1] as string });
    } else if (section === '4d') {
      const rule = /^(\d+)\. \*\*(.+?)[.:]?\*\*/.exec(line);
      if (rule !== null) rows.push({ id: `4d#${rule[1]}`, label: (rule[2] as string).replace(/\s*\(.*\)$/, '') });
    }
  }
  return rows;
}

function mapRows(text: string): MapRow[] {
  const rows: MapRow[] = [];
  for (const line of text.split('\n')) {
    const row = /^- \*\*(4[a-d]#\d+)\*\* (.+)$/.exec(line);
    if (row !== null) {
      rows.push({ id: row[1] as string, text: row[2] as string, refs: [] });
      continue;
    }
    const ref = /^ {2}- `([^`]+)` › (.+)$/.exec(line);
    if (ref !== null) {
      const current = rows.at(-1);
      assert.ok(current !== undefined, `a test named before any row: ${line}`);
      current.refs.push({ file: ref[1] as string, name: (ref[2] as string).trim() });
    }
  }
  return rows;
}

/** A string literal's text as the test runner sees it. */
function unescape(literal: string): string {
  return literal.replace(/\\(.)/g, (_match, char: string) => ({ n: '\n', r: '\r', t: '\t' })[char] ?? char);
}

/**
 * The names of a file's tests and suites as written: quoted names whole, a template name up to
 * its first `${` (the map names such a test by the part that does not vary).
 */
function testNames(source: string): string[] {
  const call = /\b(?:test|it|describe)(?:\.(?:skip|todo|only))?\(\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\$]|\\.|\$(?!\{))*))/g;
  return [...source.matchAll(call)].map((match) => unescape(match[1] ?? match[2] ?? match[3] ?? '')).filter((name) => name !== '');
}

describe('docs/reliability.md, the map of RELIABILITY.md to the tests', () => {
  const spec = specRows(readFileSync(SPEC, 'utf8'));
  const map = mapRows(readFileSync(MAP, 'utf8'));

  test('the spec copy reads as §4a–§4d rows (so a change to its layout fails here, not silently)', () => {
    const count = (section: string) => spec.filter((row) => row.id.startsWith(section)).length;
    assert.deepEqual([count('4a#'), count('4b#'), count('4c#'), count('4d#')].map((n) => n > 0), [true, true, true, true], JSON.stringify(spec));
  });

  test('every row of the spec is on the map, once, in order, and each names at least one test', () => {
    assert.deepEqual(map.map((row) => row.id), spec.map((row) => row.id));
    for (const row of map) assert.ok(row.refs.length > 0, `${row.id} names no test`);
  });

  test('the map words §4c and §4d rows by their labels in the spec', () => {
    const labels = new Map(spec.map((row) => [row.id, row.label]));
    for (const row of map) {
      const label = labels.get(row.id);
      if (label !== undefined) assert.ok(row.text.toLowerCase().startsWith(label.toLowerCase()), `${row.id}: "${row.text}" should start with "${label}"`);
    }
  });

  test('every test file named exists, and holds a test or suite whose name starts with the name given', () => {
    const missing: string[] = [];
    const names = new Map<string, string[]>();
    for (const row of map) {
      for (const { file, name } of row.refs) {
        if (!names.has(file)) {
          const path = join(ROOT, file);
          names.set(file, existsSync(path) ? [...testNames(readFileSync(path, 'utf8')), ...(RUNTIME_NAMES[file]?.() ?? [])] : []);
          if (!existsSync(path)) missing.push(`${row.id}: no file ${file}`);
        }
        if (!(names.get(file) ?? []).some((candidate) => candidate.startsWith(name))) missing.push(`${row.id}: no test "${name}" in ${file}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  test('the copy in docs/spec/ is the shared RELIABILITY.md', (t) => {
    if (!existsSync(SHARED)) {
      t.skip(`no shared spec at ${SHARED}`);
      return;
    }
    assert.equal(readFileSync(SPEC, 'utf8'), readFileSync(SHARED, 'utf8'), 'docs/spec/RELIABILITY.md differs from the shared one: copy it, then map its rows');
  });
});

describe('the map checker itself', () => {
  test('a name must start a test name; template names count up to their first ${…}', () => {
    const names = testNames("test('4a#1 plain', () => {}); it(\"x \\\"q\\\"\", () => {}); test(`HTTP ${status}: tail`, () => {}); describe('a key\\'s', () => {});");
    assert.deepEqual(names, ['4a#1 plain', 'x "q"', 'HTTP ', "a key's"]);
  });

  test('rows and their tests are read from the list; a spec layout gives its rows', () => {
    const rows = mapRows('- **4a#1** one\n  - `a.ts` › first\n  - Partial: no\n- **4a#2** two\n');
    assert.deepEqual(rows, [
      { id: '4a#1', text: 'one', refs: [{ file: 'a.ts', name: 'first' }] },
      { id: '4a#2', text: 'two', refs: [] },
    ]);
    const spec = specRows('### 4a. X\n\n| # | a |\n|---|---|\n| 1 | x |\n| 2 | y |\n### 4c. L\n- **Proxy overhead:** a\n  - **nested:** no\n### 4d. S\n1. **Virtual keys:** a\n9. **Canary sweep (CI):**\n');
    assert.deepEqual(spec, [
      { id: '4a#1' },
      { id: '4a#2' },
      { id: '4c#1', label: 'Proxy overhead' },
      { id: '4d#1', label: 'Virtual keys' },
      { id: '4d#9', label: 'Canary sweep' },
    ]);
  });
});
