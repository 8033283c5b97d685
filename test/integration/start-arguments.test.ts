// `llm-proxy start` / `npm start --` arguments: a mistyped option stops the start naming it,
// instead of a server started without it (one process where `--wrokers 4` asked for four).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const MAIN = join(process.cwd(), 'dist', 'src', 'main.js');
const CLI = join(process.cwd(), 'dist', 'src', 'cli.js');
/** The flags `npm start` gives, so the CLI runs the server in its own process (no relaunch). */
const NODE_FLAGS = ['--max-semi-space-size=8', '--heap-growing-percent=20', '--expose-gc'];

/** Runs node with `args`; a server that starts after all is stopped (its pid only) after 8 s. */
function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...NODE_FLAGS, ...args], { env, timeout: 8_000, killSignal: 'SIGKILL' }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr });
    });
  });
}

describe('start arguments', () => {
  let dir: string;
  let env: Record<string, string>;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-start-args-'));
    env = { PATH: process.env.PATH ?? '', PORT: '0', LLM_PROXY_DB: join(dir, 'llm-proxy.db'), LLM_PROXY_MASTER_KEY: 'start-arguments-master-key-0123456789', LLM_PROXY_CACHE: 'off' };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, args, named] of [
    ['npm start -- --wrokers 4', [MAIN, '--wrokers', '4'], /--wrokers/],
    ['llm-proxy start --wrokers 4', [CLI, 'start', '--wrokers', '4'], /--wrokers/],
    ['llm-proxy start --workers (no count)', [CLI, 'start', '--workers'], /--workers/],
    ['llm-proxy start 4', [CLI, 'start', '4'], /"4"/],
  ] as const) {
    test(`${name}: exits 1 naming the argument and what start takes`, async () => {
      const { code, stderr } = await run([...args], env);
      assert.equal(code, 1, stderr);
      assert.match(stderr, named);
      assert.match(stderr, /--workers N\|auto/);
    });
  }

  for (const [name, args] of [
    ['npm start -- --workers 2 --workers 4', [MAIN, '--workers', '2', '--workers', '4']],
    ['llm-proxy start --workers 2 --workers=4', [CLI, 'start', '--workers', '2', '--workers=4']],
  ] as const) {
    // The last one won: a server with 4 processes where the first count said 2.
    test(`${name}: exits 1 naming the flag given twice`, async () => {
      const { code, stderr } = await run([...args], env);
      assert.equal(code, 1, stderr);
      assert.equal(stderr, 'llm-proxy: --workers is given twice ("2", then "4"): give it once; see llm-proxy start --help\n');
    });
  }
});
