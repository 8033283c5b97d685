// The first start with no key configured generates a master key and shows it once. A start that
// fails before it listens must not leave the key's hash behind with the key itself never shown.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

test('a first start that fails before listening (port taken) keeps no hash of a key nobody saw', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-first-start-'));
  try {
    const env = { PATH: process.env.PATH ?? '', HOME: dir, PORT: String(port), HOST: '127.0.0.1', LLM_PROXY_DB: join(dir, 'data', 'proxy.db'), LLM_PROXY_LOG_LEVEL: 'warn' };
    const failed = spawnSync(process.execPath, ['dist/src/main.js'], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(failed.status, 1, failed.stderr);
    assert.ok(!failed.stderr.includes('sk-llmp-master-'), 'the key was not shown');
    assert.equal(existsSync(join(dir, 'data', 'master-key.sha256')), false, 'the hash of an unseen key was kept');
  } finally {
    blocker.close();
  }
});
