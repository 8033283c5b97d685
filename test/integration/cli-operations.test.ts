// `llm-proxy check-config` and `llm-proxy models` (issue #9), run as the built CLI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'src', 'cli.js');

describe('llm-proxy check-config and models (CLI)', () => {
  let dir: string;
  const base = { PATH: process.env.PATH ?? '' };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-cli-ops-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('check-config prints the resolved config with every secret masked', async () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(file, 'server:\n  shutdown_timeout_s: 5\nmetrics:\n  token: metrics-token-abcdefghij0123\nproviders:\n  groq:\n    api_key: ${GROQ_KEY}\n');
    const env = {
      ...base,
      LLM_PROXY_CONFIG: file,
      GROQ_KEY: 'gsk-secret-groq-key-98765',
      LLM_PROXY_MASTER_KEY: 'sk-master-very-secret-key-0123456789',
      LLM_PROXY_API_KEYS: 'client-secret-key-aaaa',
      OPENAI_API_KEY: 'sk-openai-secret-1111',
      DATABASE_URL: 'postgres://user:db-password-xyz@127.0.0.1:5432/proxy',
    };
    const { stdout, stderr } = await run(process.execPath, [CLI, 'check-config', '--json'], { env });
    const printed = JSON.parse(stdout) as { server: { shutdown_timeout_s: number }; auth: { master_key: string }; providers: Record<string, { api_key?: string }>; storage: { database_url: string } };
    assert.equal(printed.server.shutdown_timeout_s, 5);
    for (const secret of ['gsk-secret-groq-key-98765', 'sk-master-very-secret-key-0123456789', 'client-secret-key-aaaa', 'sk-openai-secret-1111', 'db-password-xyz', 'metrics-token-abcdefghij0123']) {
      assert.ok(!stdout.includes(secret), `${secret} printed`);
      assert.ok(!stderr.includes(secret), `${secret} printed`);
    }
    assert.equal(printed.auth.master_key, '****6789');
    assert.match(printed.storage.database_url, /^postgres:\/\/user:\*{4}@127\.0\.0\.1:5432\/proxy$/);
    assert.match(stderr, /configuration OK/);
    assert.match(stderr, /groq/);
    const yaml = await run(process.execPath, [CLI, 'check-config'], { env });
    assert.match(yaml.stdout, /^server:\n/);
  });

  test('check-config exits 1 naming the bad field', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'server:\n  port: "not-a-port"\n');
    await assert.rejects(run(process.execPath, [CLI, 'check-config'], { env: { ...base, LLM_PROXY_CONFIG: file } }), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr, /server\.port/);
      return true;
    });
  });

  test('check-config refuses what the server would: 0.0.0.0 without a strong master key', async () => {
    await assert.rejects(run(process.execPath, [CLI, 'check-config'], { env: { ...base, HOST: '0.0.0.0', LLM_PROXY_MASTER_KEY: 'short' } }), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr, /would not start: .*0\.0\.0\.0/);
      return true;
    });
  });

  test('check-config warns, and still passes, when a public listener has short client keys', async () => {
    const env = { ...base, HOST: '0.0.0.0', LLM_PROXY_MASTER_KEY: 'm'.repeat(40), LLM_PROXY_API_KEYS: `your-api-key,${'k'.repeat(32)}` };
    const { stderr } = await run(process.execPath, [CLI, 'check-config'], { env });
    assert.match(stderr, /configuration OK/);
    assert.match(stderr, /^warning: auth\.api_keys: key 1 of LLM_PROXY_API_KEYS is shorter than 32 characters while the proxy listens on 0\.0\.0\.0: /m);
    assert.doesNotMatch(stderr, /your-api-key/);
  });

  test('check-config warns, and still passes, when condense.model names no routable model', async () => {
    const file = join(dir, 'condense.yaml');
    const env = { ...base, LLM_PROXY_CONFIG: file, OPENAI_API_KEY: 'sk-openai-0123456789' };
    writeFileSync(file, 'condense:\n  model: gpt-4o-mni\n');
    for (const format of [['--json'], []]) {
      const { stdout, stderr } = await run(process.execPath, [CLI, 'check-config', ...format], { env });
      assert.match(stdout, /gpt-4o-mni/);
      assert.match(stderr, /configuration OK/);
      assert.match(
        stderr,
        /^warning: condense\.model 'gpt-4o-mni' names no routable model \(no configured provider, model group or alias serves that name\), so every condensation that uses it \(\/api\/condense without 'model', the condense context policy\) gets the extractive summary, written without an LLM, until a provider's model list \(discovery\) offers that name$/m,
      );
    }
    writeFileSync(file, 'condense:\n  model: gpt-4o-mini\n');
    assert.doesNotMatch((await run(process.execPath, [CLI, 'check-config'], { env })).stderr, /warning/);
  });

  test('models lists and searches the catalog offline', async () => {
    const all = await run(process.execPath, [CLI, 'models', '--json'], { env: base });
    const listed = JSON.parse(all.stdout) as { models: Array<{ id: string; provider: string }>; count: number };
    assert.ok(listed.count > 10);
    const found = await run(process.execPath, [CLI, 'models', '--search', 'CLAUDE', '--provider', 'anthropic', '--json'], { env: base });
    const result = JSON.parse(found.stdout) as { models: Array<{ id: string; provider: string }>; count: number };
    assert.ok(result.count > 0);
    for (const model of result.models) {
      assert.equal(model.provider, 'anthropic');
      assert.match(model.id, /claude/i);
    }
    // With a provider configured, only what it serves.
    const configured = await run(process.execPath, [CLI, 'models', '--json'], { env: { ...base, OPENAI_API_KEY: 'sk-x-1234567890' } });
    const openai = JSON.parse(configured.stdout) as { models: Array<{ provider: string }>; count: number };
    assert.ok(openai.count > 0);
    assert.ok(openai.models.every((model) => model.provider === 'openai'));
    const table = await run(process.execPath, [CLI, 'models', '--search', 'claude'], { env: base });
    assert.match(table.stdout, /^id\s+provider/);
    assert.match(table.stdout, /\d+ models?\n$/);
  });

  test('models: --search or --provider given twice is refused, naming it', async () => {
    // The last one won: `--search claude --search gpt` listed the gpt models alone without a word.
    for (const [args, said] of [
      [['--search', 'claude', '--search', 'gpt'], 'llm-proxy: --search is given twice ("claude", then "gpt"): give it once; see llm-proxy models --help\n'],
      [['--provider', 'openai', '--json', '--provider=anthropic'], 'llm-proxy: --provider is given twice ("openai", then "anthropic"): give it once; see llm-proxy models --help\n'],
    ] as const) {
      await assert.rejects(run(process.execPath, [CLI, 'models', ...args], { env: base }), (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.equal(error.stderr, said);
        return true;
      });
    }
  });

  test('models: --capability repeated combines, as a comma list and /api/models/search do (a model needs every one)', async () => {
    const listed = async (...args: string[]) =>
      (JSON.parse((await run(process.execPath, [CLI, 'models', '--all', '--json', ...args], { env: base })).stdout) as { models: Array<{ id: string; capabilities: string[] }>; count: number });
    const vision = await listed('--capability', 'vision');
    const both = await listed('--capability', 'vision', '--capability', 'function_calling');
    const commas = await listed('--capability', 'vision,function_calling');
    assert.ok(both.count > 0);
    // The last one alone won before: every function_calling model, vision or not.
    assert.ok(both.models.every((model) => model.capabilities.includes('vision') && model.capabilities.includes('function_calling')));
    assert.ok(both.count < (await listed('--capability', 'function_calling')).count);
    assert.ok(both.count <= vision.count);
    assert.deepEqual(both, commas);
    // A name the API does not know is refused in either form.
    await assert.rejects(run(process.execPath, [CLI, 'models', '--capability', 'vision', '--capability', 'telepathy'], { env: base }), /capability/);
  });

  test('--help everywhere', async () => {
    assert.match((await run(process.execPath, [CLI, '--help'], { env: base })).stdout, /check-config/);
    const checkConfig = (await run(process.execPath, [CLI, 'check-config', '--help'], { env: base })).stdout;
    assert.match(checkConfig, /secret masked|every secret masked/);
    // It names every warning check-config gives with exit 0, as the README's CLI entry does.
    assert.match(checkConfig, /condense\.model or a fallback names no routable model/);
    assert.match(checkConfig, /short client keys/);
    const models = (await run(process.execPath, [CLI, 'models', '--help'], { env: base })).stdout;
    assert.match(models, /--search Q/);
    assert.match(models, /repeated or comma-separated \(a,b\), a model needs every one/);
    // Each command has its own text, not the general one.
    const keys = (await run(process.execPath, [CLI, 'keys', '--help'], { env: base })).stdout;
    assert.match(keys, /^llm-proxy keys create\|list\|revoke/);
    assert.match(keys, /--expires ISO-8601 .*a date alone is that day's start/);
    assert.match(keys, /--models a,b,c +models the key may use, split at commas/);
    assert.match(keys, /--model NAME +one model the key may use; repeatable, and a name may hold a comma/);
    assert.doesNotMatch(keys, /check-config/);
    const start = (await run(process.execPath, [CLI, 'start', '--help'], { env: base })).stdout;
    assert.match(start, /^llm-proxy \[start\] \[--workers N\|auto\]/);
    assert.match(start, /SIGHUP reloads/);
    assert.doesNotMatch(start, /keys create/);
  });
});
