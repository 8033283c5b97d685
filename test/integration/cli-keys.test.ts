// `llm-proxy keys create|list|revoke` against the store a running server uses: a key made by the
// CLI works at once, and one it revokes is refused by the server within its poll interval.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { chat, errorCode } from '../support/key-support.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'src', 'cli.js');

describe('llm-proxy keys (CLI)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-cli-'));
    const db = join(dir, 'llm-proxy.db');
    env = { PATH: process.env.PATH ?? '', LLM_PROXY_DB: db };
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '0', LLM_PROXY_DB: db });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--help describes the commands', async () => {
    const { stdout } = await run(process.execPath, [CLI, '--help'], { env });
    assert.match(stdout, /keys create/);
    assert.match(stdout, /keys revoke ID/);
  });

  test('create, list and revoke, seen by the running server', async () => {
    const created = await run(process.execPath, [CLI, 'keys', 'create', '--name', 'from-cli', '--rpm', '5', '--budget', '1.5', '--models', 'gpt-4,gpt-4o'], { env });
    const key = JSON.parse(created.stdout) as { id: string; key: string; rpm_limit: number; max_budget: number; models: string[] };
    assert.match(key.key, /^sk-gw_/);
    assert.equal(key.rpm_limit, 5);
    assert.equal(key.max_budget, 1.5);
    assert.deepEqual(key.models, ['gpt-4', 'gpt-4o']);
    assert.match(created.stderr, /only this once/);

    assert.equal((await chat(gateway.url, key.key)).status, 200);

    const listed = await run(process.execPath, [CLI, 'keys', 'list'], { env });
    assert.match(listed.stdout, new RegExp(`${key.id}\\s+from-cli`));
    assert.ok(!listed.stdout.includes(key.key.slice(-40)));
    const json = JSON.parse((await run(process.execPath, [CLI, 'keys', 'list', '--json'], { env })).stdout) as { keys: Array<{ id: string; key?: string }> };
    assert.ok(json.keys.some((item) => item.id === key.id && item.key === undefined));

    const revoked = await run(process.execPath, [CLI, 'keys', 'revoke', key.id], { env });
    assert.equal((JSON.parse(revoked.stdout) as { state: string }).state, 'revoked');
    // No Redis here: the server's poll of the keys table notices within about a second.
    const deadline = Date.now() + 3_000;
    let response = await chat(gateway.url, key.key);
    while (response.status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      response = await chat(gateway.url, key.key);
    }
    assert.equal(response.status, 403);
    assert.equal(errorCode(response), 'key_revoked');
  });

  // `keys revoke A B` revoked A alone and said nothing of B, which stayed active: a leaked key the
  // operator believed revoked. Words and flags an action does not take are refused before it runs.
  test('an action refuses what it does not take, and changes nothing', async () => {
    const first = JSON.parse((await run(process.execPath, [CLI, 'keys', 'create', '--name', 'one'], { env })).stdout) as { id: string; key: string };
    const second = JSON.parse((await run(process.execPath, [CLI, 'keys', 'create', '--name', 'two'], { env })).stdout) as { id: string; key: string };
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'revoke', first.id, second.id], { env }), (error: { stderr: string }) => {
      assert.equal(error.stderr, `llm-proxy: keys revoke takes one key id, not also ${JSON.stringify(second.id)}; run it once for each key\n`);
      return true;
    });
    const states = async () => {
      const listed = JSON.parse((await run(process.execPath, [CLI, 'keys', 'list', '--json'], { env })).stdout) as { keys: Array<{ id: string; state: string }> };
      return [first.id, second.id].map((id) => listed.keys.find((key) => key.id === id)?.state);
    };
    assert.deepEqual(await states(), ['active', 'active']);
    for (const [args, said] of [
      [['keys', 'list', 'revoked'], 'llm-proxy: keys list takes no argument, not "revoked"; see llm-proxy keys --help\n'],
      [['keys', 'create', 'app'], 'llm-proxy: keys create takes no argument, not "app" (a name is --name NAME); see llm-proxy keys --help\n'],
      [['keys', 'list', '--name', 'one'], 'llm-proxy: keys list has no option --name (it lists every key); see llm-proxy keys --help\n'],
      [['keys', 'revoke', first.id, '--expires', '2099-01-01'], 'llm-proxy: keys revoke has no option --expires; see llm-proxy keys --help\n'],
    ] as const) {
      await assert.rejects(run(process.execPath, [CLI, ...args], { env }), (error: { stderr: string }) => {
        assert.equal(error.stderr, said);
        return true;
      });
    }
    assert.deepEqual(await states(), ['active', 'active']);
    const countBefore = (JSON.parse((await run(process.execPath, [CLI, 'keys', 'list', '--json'], { env })).stdout) as { count: number }).count;
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', 'app', '--rpm', '5'], { env }));
    assert.equal((JSON.parse((await run(process.execPath, [CLI, 'keys', 'list', '--json'], { env })).stdout) as { count: number }).count, countBefore);
  });

  test('--model names one model per flag, repeatable, so a name may hold a comma (as the dashboard\'s one-per-line field)', async () => {
    // --models splits at commas: `vendor/model,v2` could only be given as two names.
    const created = await run(process.execPath, [CLI, 'keys', 'create', '--model', 'vendor/model,v2', '--model', 'gpt-4', '--models', 'gpt-4o,gpt-4o-mini'], { env });
    assert.deepEqual((JSON.parse(created.stdout) as { models: string[] }).models, ['gpt-4o', 'gpt-4o-mini', 'vendor/model,v2', 'gpt-4']);
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', '--model', ' '], { env }), (error: { stderr: string }) => {
      assert.equal(error.stderr, 'llm-proxy: --model needs a model name (leave it out for every model)\n');
      return true;
    });
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'list', '--model', 'gpt-4'], { env }), /keys list has no option --model/);
  });

  test('a flag given twice is refused, naming it, and no key is made', async () => {
    const count = async () => (JSON.parse((await run(process.execPath, [CLI, 'keys', 'list', '--json'], { env })).stdout) as { count: number }).count;
    const before = await count();
    // Last value won: `--rpm 5 --rpm 6` made a key with 6, a typo or a pasted line silently undone.
    for (const [args, said] of [
      [['--rpm', '5', '--rpm', '6'], 'llm-proxy: --rpm is given twice ("5", then "6"): give it once; see llm-proxy keys --help\n'],
      [['--name', 'a', '--models', 'gpt-4', '--name=b'], 'llm-proxy: --name is given twice ("a", then "b"): give it once; see llm-proxy keys --help\n'],
    ] as const) {
      await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', ...args], { env }), (error: { stderr: string }) => {
        assert.equal(error.stderr, said);
        return true;
      });
    }
    assert.equal(await count(), before);
  });

  test('bad input is refused with a message', async () => {
    // Named by the flag the user typed, with what the flag takes (null is the API's, no flag's).
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', '--period', 'yearly'], { env }), (error: { stderr: string }) => {
      assert.equal(error.stderr, 'llm-proxy: Invalid value for --period: must be one of daily, weekly, monthly.\n');
      return true;
    });
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', '--rpm', '1.5'], { env }), (error: { stderr: string }) => {
      assert.equal(error.stderr, 'llm-proxy: Invalid type for --rpm: expected an integer.\n');
      return true;
    });
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', '--expires', 'tomorrow'], { env }), /^llm-proxy: Invalid value for --expires: must be an ISO 8601 date/m);
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'revoke'], { env }), /needs a key id/);
    // A negative number is a value, not an option: refused for what it is, in the API's words for the flag.
    for (const [flag, value, said] of [
      ['--rpm', '-5', 'llm-proxy: Invalid value for --rpm: must be between 0 and 1000000000 (0 means no limit).\n'],
      ['--budget', '-1', 'llm-proxy: Invalid value for --budget: must be between 0 and 1e9 USD.\n'],
      ['--rpm', '0x10', 'llm-proxy: --rpm takes a number in decimal digits (--rpm 60), not "0x10".\n'],
      ['--tpm', '1e3', 'llm-proxy: --tpm takes a number in decimal digits (--tpm 60), not "1e3".\n'],
    ] as const) {
      await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', flag, value], { env }), (error: { stderr: string }) => {
        assert.equal(error.stderr, said);
        return true;
      });
    }
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', '--rpm'], { env }), (error: { stderr: string }) => {
      assert.equal(error.stderr, 'llm-proxy: --rpm needs a value (--rpm N); see llm-proxy keys --help\n');
      return true;
    });
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', '--rpm', '--name', 'x'], { env }), /^llm-proxy: --rpm needs a value/m);
    await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', '--bogus', '1'], { env }), (error: { stderr: string }) => {
      assert.equal(error.stderr, 'llm-proxy: keys has no option --bogus; see llm-proxy keys --help\n');
      return true;
    });
    // An empty list (an unset shell variable) would make a key that may use no model at all, while
    // leaving --models out means every model: neither is what was meant, so it is refused.
    for (const models of ['', ' , ']) {
      await assert.rejects(run(process.execPath, [CLI, 'keys', 'create', '--models', models], { env }), /--models needs at least one model name/, JSON.stringify(models));
    }
  });
});
