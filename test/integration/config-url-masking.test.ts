// Config URLs may carry secrets (`?key=…`, `?sig=…`, `user:password@`, a token as the user name).
// Wherever a config URL is printed (check-config, the start-up log of configured providers, a
// reload's answer) a planted secret must not appear.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { MASTER_KEY } from '../support/gateway-harness.js';
import { send, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

const run = promisify(execFile);
const CLI = join(process.cwd(), 'dist', 'src', 'cli.js');
/** Shapes no redaction pattern knows: only the URL masking can hide them. */
const planted = (name: string) => `planted${name}${randomBytes(8).toString('hex')}`;

describe('config URLs are printed with their secrets masked', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'llm-proxy-url-masking-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('check-config: query secrets, a password and a lone user name are masked; other parameters stay', async () => {
    const [query, signature, password, user, database] = ['Query', 'Signature', 'Password', 'User', 'Database'].map(planted) as [string, string, string, string, string];
    const file = join(dir, 'check.yaml');
    writeFileSync(
      file,
      `providers:\n  box: { type: openai-compatible, base_url: "https://gw.example.com/v1?api-key=${query}&api-version=2024-10-21&sig=${signature}" }\n` +
        `storage: { redis_url: "redis://:${password}@127.0.0.1:6379/0" }\n`,
    );
    const env = { PATH: process.env.PATH ?? '', LLM_PROXY_CONFIG: file, DATABASE_URL: `postgres://${user}@127.0.0.1:5432/proxy?password=${database}&sslmode=disable` };
    for (const format of [['--json'], []]) {
      const { stdout, stderr } = await run(process.execPath, [CLI, 'check-config', ...format], { env });
      for (const secret of [query, signature, password, user, database]) assert.ok(!`${stdout}${stderr}`.includes(secret), `${secret} printed:\n${stdout}`);
      assert.ok(stdout.includes('https://gw.example.com/v1?api-key=****&api-version=2024-10-21&sig=****'), stdout);
      assert.ok(stdout.includes('redis://:****@127.0.0.1:6379/0'), stdout);
      assert.ok(stdout.includes('postgres://****@127.0.0.1:5432/proxy?password=****&sslmode=disable'), stdout);
    }
  });

  describe('the server', () => {
    const startSecret = planted('Start');
    let gateway: GatewayProcess;
    before(async () => {
      gateway = await startGatewayProcess(
        { LLM_PROXY_MASTER_KEY: MASTER_KEY },
        `providers:\n  box: { type: openai-compatible, base_url: "http://127.0.0.1:9/v1?sig=${startSecret}", discover: false }\nrouting: { discovery_interval_s: 0 }\n`,
      );
    });
    after(() => gateway.cleanup());

    test('the start-up log names the configured provider without its URL secret', async () => {
      await gateway.waitFor('provider configured');
      assert.ok(!gateway.output().includes(startSecret), gateway.output());
    });

    test('a reload refusing a mistyped URL neither answers nor logs its secret', async () => {
      const reloadSecret = planted('Reload');
      gateway.writeConfig(`providers:\n  box: { type: openai-compatible, base_url: "127.0.0.1:9/v1?sig=${reloadSecret}" }\n`);
      const answer = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: `Bearer ${MASTER_KEY}` } });
      assert.equal(answer.status, 400, answer.body);
      const error = (JSON.parse(answer.body) as { error: { message: string; param: string | null; code: string } }).error;
      assert.equal(error.code, 'invalid_config');
      assert.equal(error.param, 'providers.box.base_url');
      assert.match(error.message, /not a URL/);
      assert.ok(!answer.body.includes(reloadSecret), answer.body);
      await gateway.waitFor('configuration reload refused');
      assert.ok(!gateway.output().includes(reloadSecret), gateway.output());
    });
  });
});
