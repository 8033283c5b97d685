// The first start with no key configured generates a master key and shows it once. A start that
// fails before it listens must not leave the key's hash behind with the key itself never shown.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { eventually } from '../support/gateway-harness.js';

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

/** The start-up output of a process with `env`, up to its "no master key" warning. */
async function outputUntilNoMasterKeyWarning(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['dist/src/main.js'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no warning in: ${output}`)), 20_000);
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('no master key')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      child.on('exit', () => reject(new Error(`exited: ${output}`)));
    });
    return output;
  } finally {
    child.kill('SIGKILL');
  }
}

test('client keys without a master key: the start-up log says the admin API and dashboard are closed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-first-start-'));
  const env = { PATH: process.env.PATH ?? '', HOME: dir, PORT: '0', HOST: '127.0.0.1', LLM_PROXY_DB: join(dir, 'data', 'proxy.db'), LLM_PROXY_API_KEYS: 'client-key', LLM_PROXY_LOG_LEVEL: 'warn' };
  const output = await outputUntilNoMasterKeyWarning(env);
  assert.match(output, /no master key: client keys are set \(LLM_PROXY_API_KEYS or auth\.api_keys\) without a master key \(LLM_PROXY_MASTER_KEY or auth\.master_key\), so the admin API \(\/admin\/\*\), the dashboard/);
  assert.ok(!output.includes('sk-llmp-master-'), 'no key is generated while client keys are configured');
});

test('client keys from the config file alone: the warning names the file\'s field too, not only the variable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-first-start-'));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, 'auth: { api_keys: [file-client-key] }\n');
  const env = { PATH: process.env.PATH ?? '', HOME: dir, PORT: '0', HOST: '127.0.0.1', LLM_PROXY_DB: join(dir, 'data', 'proxy.db'), LLM_PROXY_CONFIG: file, LLM_PROXY_LOG_LEVEL: 'warn' };
  const output = await outputUntilNoMasterKeyWarning(env);
  assert.match(output, /no master key: client keys are set \(LLM_PROXY_API_KEYS or auth\.api_keys\)/);
  assert.ok(!output.includes('sk-llmp-master-'), 'no key is generated while client keys are configured');
});

test('the generated key is shown after the start-up log, the last thing on the screen, and its banner names the keys that are not configured', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-first-start-'));
  // One file for stdout and stderr, as a terminal shows them: in the order they were written.
  const screen = join(dir, 'screen.txt');
  const fd = openSync(screen, 'w');
  // A provider's key set, as the README's Quick start has it: the banner names the keys that are
  // missing. Its base URL is a local fake (nothing beyond 127.0.0.1 is a test's target): the
  // model-list read at start succeeds, as with a real key, and logs nothing at info.
  const upstream = await startFakeOpenAi({ apiKey: 'sk-not-a-client-key' });
  const env = { PATH: process.env.PATH ?? '', HOME: dir, PORT: '0', HOST: '127.0.0.1', LLM_PROXY_DB: join(dir, 'data', 'proxy.db'), OPENAI_API_KEY: 'sk-not-a-client-key', OPENAI_BASE_URL: `${upstream.url}/v1` };
  const child = spawn(process.execPath, ['dist/src/main.js'], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  try {
    await eventually(() => readFileSync(screen, 'utf8').includes('to choose your own keys.'), 20_000);
    const text = readFileSync(screen, 'utf8');
    const key = text.indexOf('sk-llmp-master-');
    const lastLogLine = text.lastIndexOf('{"level"');
    assert.ok(text.indexOf('"msg":"llm-proxy listening"') < key && lastLogLine < key, text);
    assert.match(text, /No client or master key is configured \(LLM_PROXY_API_KEYS, LLM_PROXY_MASTER_KEY\), so llm-proxy\n  generated a master key/);
    // PORT=0 binds a free port: the banner gives that one, where the key works (it said `:0`).
    const shown = /      (sk-llmp-master-\S+)\n[\s\S]*to (http:\/\/127\.0\.0\.1:(\d+))\/v1 /.exec(text);
    assert.ok(shown !== null && shown[3] !== '0', text);
    const models = await fetch(`${shown[2]}/v1/models`, { headers: { authorization: `Bearer ${shown[1]}` } });
    assert.equal(models.status, 200);
  } finally {
    child.kill('SIGKILL');
    await upstream.close();
  }
});

test('PORT=0 with workers: the start-up log gives the port the workers bound, which answers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-port-zero-'));
  const env = { PATH: process.env.PATH ?? '', HOME: dir, PORT: '0', HOST: '127.0.0.1', LLM_PROXY_DB: join(dir, 'proxy.db'), LLM_PROXY_API_KEYS: 'port-zero-client-key' };
  const child = spawn(process.execPath, ['dist/src/main.js', '--workers', '2'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  try {
    await eventually(() => output.includes('"msg":"llm-proxy listening"'), 20_000);
    const line = output.split('\n').find((entry) => entry.includes('"msg":"llm-proxy listening"')) as string;
    const { address, workers } = JSON.parse(line) as { address: string; workers: number };
    assert.equal(workers, 2);
    assert.match(address, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/, line);
    const health = await fetch(`${address}/health`);
    assert.equal(health.status, 200);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
});
