// RELIABILITY §4d#11: no start with a missing or short (<32 characters) master key on a
// non-loopback bind. servingProblem is what main.ts, `check-config` and a config reload all ask.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../config/config-loader.js';
import { servingProblem } from './config-warnings.js';

const STRONG = 'm'.repeat(32);
const SHORT = 'm'.repeat(31);

function problemFor(env: Record<string, string | undefined>): string | undefined {
  return servingProblem(loadConfig({ LLM_PROXY_DB: join(tmpdir(), 'serving-problem-unused.db'), ...env }).config);
}

test('a public bind needs a master key of 32 characters or more: none, a short one or client keys alone are refused', () => {
  for (const host of ['0.0.0.0', '::', '192.0.2.1', 'proxy.internal', '127.0.0.1.example']) {
    for (const keys of [{}, { LLM_PROXY_API_KEYS: `client-${STRONG}` }, { LLM_PROXY_MASTER_KEY: SHORT }, { LLM_PROXY_MASTER_KEY: 'x' }]) {
      const problem = problemFor({ HOST: host, ...keys });
      assert.ok(problem !== undefined, `${host} ${JSON.stringify(keys)} was allowed`);
      assert.match(problem, /^auth\.master_key: refusing to listen on .* at least 32 characters/);
      // The refusal names the rule, never the key it refused.
      assert.ok(!problem.includes(SHORT) && !problem.includes(`client-${STRONG}`), problem);
    }
    assert.equal(problemFor({ HOST: host, LLM_PROXY_MASTER_KEY: STRONG }), undefined, host);
  }
});

test('a loopback bind starts with any key or none', () => {
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
    for (const keys of [{}, { LLM_PROXY_MASTER_KEY: SHORT }, { LLM_PROXY_API_KEYS: 'k' }]) assert.equal(problemFor({ HOST: host, ...keys }), undefined, `${host} ${JSON.stringify(keys)}`);
  }
});

test('main.js refuses to start on a public address with a short master key: exit 1, the reason on stderr, nothing listening', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serving-problem-'));
  try {
    // 192.0.2.1 (TEST-NET-1) is no address of this machine: even a start that ignored the rule could not bind it.
    const result = spawnSync(process.execPath, ['dist/src/main.js'], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, HOST: '192.0.2.1', PORT: '0', LLM_PROXY_DB: join(dir, 'proxy.db'), LLM_PROXY_MASTER_KEY: SHORT, LLM_PROXY_LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /refusing to listen on 192\.0\.2\.1 without a master key of at least 32 characters/);
    assert.ok(!result.stderr.includes(SHORT) && !result.stdout.includes(SHORT), 'the key is not printed');
    assert.ok(!/listening/i.test(result.stdout), result.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
