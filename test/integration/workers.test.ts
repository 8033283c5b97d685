// `--workers N` on the real process: N workers on one port share one rate limit (through the
// primary over IPC, or through Redis), one memory response cache and key revocations; SIGHUP and
// POST /admin/reload reload every worker; a killed worker is replaced; SIGTERM drains them all.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startScriptFlags } from '../../src/server/node-flags.js';
import { createRedisPrefix, type RedisPrefix } from '../support/backing-services.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { eventually, MASTER_KEY, UPSTREAM_KEY } from '../support/gateway-harness.js';
import { childPids, openStream, send, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';

const MASTER_AUTH = { authorization: `Bearer ${MASTER_KEY}`, 'content-type': 'application/json' };
/** `serverLines`: more `server:` settings, each line indented by two spaces. */
function baseConfig(serverLines = ''): string {
  return `server:\n  shutdown_timeout_s: 10\n${serverLines}routing:\n  discovery_interval_s: 0\n`;
}
const BASE_CONFIG = baseConfig();

function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
}

function chat(model: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });
}

async function createKey(url: string, settings: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const created = await send(url, '/admin/keys', { headers: MASTER_AUTH, body: JSON.stringify(settings) });
  assert.equal(created.status, 201, created.body);
  return JSON.parse(created.body) as { id: string; key: string };
}

/** `total` requests, each on its own connection (the cluster hands connections to workers in turn). */
async function statuses(url: string, key: string, total: number): Promise<number[]> {
  const results: number[] = [];
  for (let index = 0; index < total; index++) results.push((await send(url, '/v1/models', { headers: bearer(key) })).status);
  return results;
}

/** An rpm limit of 5 across two workers: exactly 5 of 12 requests pass, the rest are 429. */
async function assertOneLimit(url: string): Promise<void> {
  const { key } = await createKey(url, { name: 'shared-limit', rpm_limit: 5 });
  const results = await statuses(url, key, 12);
  assert.equal(results.filter((status) => status === 200).length, 5, results.join(','));
  assert.equal(results.filter((status) => status === 429).length, 7, results.join(','));
}

/** Whether the worker in `slot` logged an answer on `path` after `from` (an offset in the output): its access lines name the slot. */
function answeredBy(gateway: GatewayProcess, from: number, path: string, slot: number): boolean {
  return gateway.output().slice(from).split('\n').some((line) => line.includes(`"path":"${path}"`) && line.includes(`"worker":${slot},`));
}

/**
 * Requests until both workers have logged an answer after `from`. A worker's lines reach the one
 * pipe in the order it wrote them, so by then every line it logs before it listens has been read.
 */
async function untilBothWorkersAnswer(gateway: GatewayProcess, from: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(answeredBy(gateway, from, '/v1/models', 0) && answeredBy(gateway, from, '/v1/models', 1))) {
    assert.ok(Date.now() < deadline, `both workers did not answer in 15 s:\n${gateway.output().slice(-3000)}`);
    // Refused while no worker listens (every one was killed): the primary's listener is closed then.
    const status = await send(gateway.url, '/v1/models', { headers: bearer(MASTER_KEY) }).then(
      (answer) => answer.status,
      () => 0,
    );
    assert.ok(status === 200 || status === 0, `status ${status}`);
    await sleep(20);
  }
}

/**
 * Runs `check` (requests that must succeed) until the worker that replaced the last one to die has
 * answered on `path`: once it listens, the cluster hands it connections too, in the dead one's slot.
 */
async function untilReplacementAnswers(gateway: GatewayProcess, path: string, check: () => Promise<void>): Promise<void> {
  const exitLine = gateway.output().split('\n').filter((line) => line.includes('worker exited; starting a new one')).at(-1) as string;
  const slot = (JSON.parse(exitLine) as { worker: number }).worker;
  const from = gateway.output().length;
  const deadline = Date.now() + 15_000;
  const served = () => answeredBy(gateway, from, path, slot);
  while (!served()) {
    assert.ok(Date.now() < deadline, 'the replacement worker never answered');
    await check();
    await sleep(50);
  }
}

// Two at a time: each describe has a cluster of its own, and much of each waits (on a restart's
// back-off, workers loading). The shutdown delay runs alone after them: its requests must all be
// answered within the delay.
describe('workers', { concurrency: 2 }, () => {
  // One test at a time (not the wrapper's two): they share one cluster and build on each other's state.
  describe('workers: state through the primary (no Redis)', { concurrency: 1 }, () => {
    let fake: FakeOpenAi;
    let gateway: GatewayProcess;

    before(async () => {
      fake = await startFakeOpenAi({ apiKey: UPSTREAM_KEY, answer: () => 'one two three four five six seven eight' });
      gateway = await startGatewayProcess(
        { LLM_PROXY_MASTER_KEY: MASTER_KEY, OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${fake.url}/v1`, LLM_PROXY_CACHE: 'memory' },
        // The test client stands in for a load balancer on 127.0.0.1 (127.0.0.2 stays an untrusted client).
        baseConfig('  trust_proxy: 127.0.0.1\n'),
        ['--workers', '2'],
      );
      assert.equal(childPids(gateway.child.pid as number).length, 2);
    });

    after(async () => {
      await gateway.cleanup();
      await fake.close();
    });

    test('two workers share one rate limit: exactly N of the requests pass', async () => {
      await assertOneLimit(gateway.url);
      // Both workers answered (each access line names its worker), so a per-process count would have let more through.
      const served = (worker: number) => gateway.output().split('\n').some((line) => line.includes('"path":"/v1/models"') && line.includes(`"worker":${worker}`));
      await eventually(() => served(0) && served(1), 3_000);
    });

    test('/metrics on any worker counts the requests of every worker', async () => {
      for (let index = 0; index < 2; index++) {
        const scraped = await send(gateway.url, '/metrics', { headers: { authorization: MASTER_AUTH.authorization } });
        assert.equal(scraped.status, 200, scraped.body);
        const refusals = scraped.body.split('\n').find((line) => line.startsWith('llm_proxy_http_requests_total{') && line.includes('route="/v1/models"') && line.includes('status="429"'));
        assert.equal(refusals?.split(' ').at(-1), '7', refusals);
      }
    });

    test('failed authentications of one address are counted once for all workers', async () => {
      // After the /metrics count of 429s above. From 127.0.0.2, an address of its own: the other tests' requests from 127.0.0.1 are not locked out.
      const results: number[] = [];
      for (let index = 0; index < 70; index++) {
        results.push((await send(gateway.url, '/v1/models', { headers: bearer(`sk-wrong-${index}`), localAddress: '127.0.0.2' })).status);
      }
      // The default limit is 60 a minute per address; counted per worker, two workers would allow 120.
      assert.equal(results.filter((status) => status === 401).length, 60, results.join(','));
      assert.equal(results.filter((status) => status === 429).length, 10, results.join(','));
      assert.equal((await send(gateway.url, '/v1/models', { headers: bearer(MASTER_KEY), localAddress: '127.0.0.2' })).status, 200);
    });

    test('a budget is held exactly across workers: of 6 concurrent calls, the 3 that fit run, 3 are refused', async () => {
      // Each call holds about $0.0006 (1,000 output tokens of gpt-4o-mini) until it settles; $0.0019 fits three.
      const { key } = await createKey(gateway.url, { name: 'budget', max_budget: 0.0019 });
      // The admitted calls stay in flight until all 6 are decided. One that ended first would count at
      // its real cost (~$0.000005), and a request that a loaded machine delivered after it would rightly
      // fit in the freed hold: a 4th 200 that says nothing about holds.
      fake.reset();
      let release = (): void => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      for (let index = 0; index < 6; index++) fake.enqueue({ kind: 'gated-stream', chunks: 1, release: released });
      const body = chat('gpt-4o-mini', { stream: true, max_tokens: 1_000 });
      let answered = 0;
      const pending = Array.from({ length: 6 }, async () => {
        const answer = await send(gateway.url, '/v1/chat/completions', { headers: { ...bearer(key), 'cache-control': 'no-store' }, body });
        answered += 1;
        return answer;
      });
      try {
        // Each call is decided once it is refused (answered) or admitted (its upstream call made, and held).
        await eventually(() => answered + fake.requests.length === 6, 30_000);
      } finally {
        release();
      }
      const answers = await Promise.all(pending);
      const refused = answers.filter((answer) => answer.status === 429);
      assert.equal(answers.filter((answer) => answer.status === 200).length, 3, answers.map((answer) => answer.status).join(','));
      assert.equal(refused.length, 3);
      assert.equal(fake.requests.length, 3, 'upstream calls');
      for (const answer of refused) assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'budget_exceeded');
      assert.ok(!gateway.output().includes('budgets held per instance'), 'no worker fell back to local holds');
      fake.reset();
    });

    test('token settlement through the primary: unused tokens are given back to the window they were reserved in', async () => {
      // tpm 2000: after a call that reserved ~1,500 and used a few, a second one fits only once the
      // refund, sent with the window its reservation was counted in, has reached the primary's counter.
      const { key } = await createKey(gateway.url, { name: 'tokens', rpm_limit: 0, tpm_limit: 2_000 });
      const call = () => send(gateway.url, '/v1/chat/completions', { headers: { ...bearer(key), 'cache-control': 'no-store' }, body: chat('gpt-4o-mini', { max_tokens: 1_500 }) });
      const first = await call();
      assert.equal(first.status, 200, first.body);
      // The refund is a notice to the primary: the next call, through the other worker, may ask first.
      let second = await call();
      for (let attempt = 0; second.status === 429 && attempt < 40; attempt++) {
        await sleep(50);
        second = await call();
      }
      assert.equal(second.status, 200, second.body);
      fake.reset();
    });

    test('the memory response cache is shared: the same request on another connection is a hit', async () => {
      const { key } = await createKey(gateway.url, { name: 'cache' });
      const body = chat('gpt-4o-mini', { temperature: 0 });
      const first = await send(gateway.url, '/v1/chat/completions', { headers: bearer(key), body });
      assert.equal(first.status, 200, first.body);
      assert.equal(first.headers['x-cache'], 'MISS');
      for (let index = 0; index < 3; index++) {
        const again = await send(gateway.url, '/v1/chat/completions', { headers: bearer(key), body });
        assert.equal(again.headers['x-cache'], 'HIT', `request ${index + 2}`);
      }
      assert.equal(fake.requests.filter((request) => request.path === '/v1/chat/completions').length, 1);
      // Those 4 lookups landed on both workers (connections go to them in turn). Each worker tells the
      // primary its counts within a second: /health/cache on any worker gives the cluster's, as it
      // gives the shared entries, and /metrics (summed over workers) counts each lookup once. Waited
      // for until all 4 are counted (more would fail the exact counts below).
      const counted = async () => {
        const health = JSON.parse((await send(gateway.url, '/health/cache', {})).body) as { hits: number; misses: number };
        return health.hits + health.misses;
      };
      const countedBy = Date.now() + 5_000;
      while ((await counted()) < 4 && Date.now() < countedBy) await sleep(50);
      for (let index = 0; index < 2; index++) {
        const health = JSON.parse((await send(gateway.url, '/health/cache', {})).body) as { hits: number; misses: number; hit_rate: number };
        assert.deepEqual({ hits: health.hits, misses: health.misses, hit_rate: health.hit_rate }, { hits: 3, misses: 1, hit_rate: 0.75 });
        const scraped = await send(gateway.url, '/metrics', { headers: { authorization: MASTER_AUTH.authorization } });
        const total = (name: string) => scraped.body.split('\n').find((line) => line.startsWith(`${name} `))?.split(' ').at(-1);
        assert.equal(total('llm_proxy_cache_hits_total'), '3');
        assert.equal(total('llm_proxy_cache_misses_total'), '1');
      }
    });

    test('a key revoked through one worker is refused by every worker at once', async () => {
      const { id, key } = await createKey(gateway.url, { name: 'to-revoke' });
      assert.deepEqual(await statuses(gateway.url, key, 4), [200, 200, 200, 200]);
      const revoked = await send(gateway.url, `/admin/keys/${id}`, { method: 'DELETE', headers: { authorization: MASTER_AUTH.authorization } });
      assert.equal(revoked.status, 200, revoked.body);
      assert.deepEqual(await statuses(gateway.url, key, 4), [403, 403, 403, 403]);
    });

    test('a dashboard session made on one worker is accepted by every worker, and signing out ends it on all', async () => {
      const signIn = await send(gateway.url, '/ui/session', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ master_key: MASTER_KEY }) });
      assert.equal(signIn.status, 201, signIn.body);
      const cookie = String(signIn.headers['set-cookie']).split(';')[0] as string;
      const csrf = (JSON.parse(signIn.body) as { csrf_token: string }).csrf_token;
      const asDashboard = { cookie, 'x-llm-proxy-csrf': csrf };
      await sleep(100);
      for (let index = 0; index < 4; index++) assert.equal((await send(gateway.url, '/admin/keys', { headers: asDashboard })).status, 200, `request ${index + 1}`);
      assert.equal((await send(gateway.url, '/ui/session', { method: 'DELETE', headers: asDashboard })).status, 200);
      await sleep(100);
      for (let index = 0; index < 4; index++) assert.equal((await send(gateway.url, '/admin/keys', { headers: asDashboard })).status, 401, `request ${index + 1}`);
    });

    test('server.trust_proxy reaches every worker: a forwarded client has one sign-in limit across them; forwarded https gives Secure', async () => {
      const attempt = (forwardedFor: string, masterKey: string, proto: string) =>
        send(gateway.url, '/ui/session', {
          headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': proto },
          body: JSON.stringify({ master_key: masterKey }),
        });
      const results: number[] = [];
      for (let index = 0; index < 32; index++) results.push((await attempt('203.0.113.2', 'sk-guess-guess-guess-guess', 'http')).status);
      // 30 a minute for that address on both workers together; a worker blind to the header would count them as 127.0.0.1's.
      assert.equal(results.filter((status) => status === 401).length, 30, results.join(','));
      assert.equal(results.filter((status) => status === 429).length, 2, results.join(','));
      for (let index = 0; index < 4; index++) {
        const signedIn = await attempt('203.0.113.3', MASTER_KEY, 'https');
        assert.equal(signedIn.status, 201, signedIn.body);
        assert.match(String(signedIn.headers['set-cookie']), /; Secure$/, `sign-in ${index + 1}`);
      }
    });

    test('SIGHUP to the primary reloads every worker; POST /admin/reload on any worker does too', async () => {
      gateway.writeConfig(`${BASE_CONFIG}aliases:\n  fast: openai/gpt-4o-mini\n`);
      gateway.child.kill('SIGHUP');
      await gateway.waitFor('configuration reloaded on every worker');
      const { key } = await createKey(gateway.url, { name: 'reload' });
      for (let index = 0; index < 4; index++) {
        const answer = await send(gateway.url, '/v1/chat/completions', { headers: { ...bearer(key), 'cache-control': 'no-store' }, body: chat('fast') });
        assert.equal(answer.status, 200, answer.body);
      }
      // That config drops server.trust_proxy: no worker believes a forwarded https any more.
      for (let index = 0; index < 4; index++) {
        const signedIn = await send(gateway.url, '/ui/session', {
          headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
          body: JSON.stringify({ master_key: MASTER_KEY }),
        });
        assert.equal(signedIn.status, 201, signedIn.body);
        assert.doesNotMatch(String(signedIn.headers['set-cookie']), /Secure/, `sign-in ${index + 1}`);
      }

      // A condense.model that routes nowhere: the primary checks it once and the answer says so once.
      gateway.writeConfig(`${BASE_CONFIG}aliases:\n  quick: openai/gpt-4o-mini\ncondense: { model: gpt-4o-mni }\n`);
      const applied = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: MASTER_AUTH.authorization } });
      assert.equal(applied.status, 200, applied.body);
      const outcome = JSON.parse(applied.body) as { processes: number; warnings: string[] };
      assert.equal(outcome.processes, 2);
      assert.equal(outcome.warnings.length, 1, applied.body);
      assert.match(outcome.warnings[0] ?? '', /^condense\.model 'gpt-4o-mni' names no routable model/);
      for (let index = 0; index < 4; index++) {
        assert.equal((await send(gateway.url, '/v1/chat/completions', { headers: { ...bearer(key), 'cache-control': 'no-store' }, body: chat('quick') })).status, 200);
        assert.equal((await send(gateway.url, '/v1/chat/completions', { headers: { ...bearer(key), 'cache-control': 'no-store' }, body: chat('fast') })).status, 404);
      }

      gateway.writeConfig(`${BASE_CONFIG}limits:\n  default_rpm: many\n`);
      const refused = await send(gateway.url, '/admin/reload', { method: 'POST', headers: { authorization: MASTER_AUTH.authorization } });
      assert.equal(refused.status, 400, refused.body);
      assert.equal((JSON.parse(refused.body) as { error: { param: string } }).error.param, 'limits.default_rpm');
      assert.equal((await send(gateway.url, '/v1/chat/completions', { headers: { ...bearer(key), 'cache-control': 'no-store' }, body: chat('quick') })).status, 200);
    });

    test('a killed worker is replaced, with the running config even though the file now holds a bad one', async () => {
      const pid = gateway.child.pid as number;
      const [victim, survivor] = childPids(pid);
      process.kill(victim as number, 'SIGKILL');
      await gateway.waitFor('worker exited; starting a new one');
      await eventually(() => {
        const now = childPids(pid);
        return now.length === 2 && !now.includes(victim as number) && now.includes(survivor as number);
      }, 10_000);
      const { key } = await createKey(gateway.url, { name: 'after-restart' });
      await untilReplacementAnswers(gateway, '/v1/models', async () => assert.deepEqual(await statuses(gateway.url, key, 2), [200, 200]));
    });

    test('a reload while a replacement worker starts answers at once, and the replacement serves the new config', async () => {
      const pid = gateway.child.pid as number;
      const reloadsBefore = gateway.output().split('configuration reloaded on every worker').length - 1;
      const exitsBefore = gateway.output().split('worker exited; starting a new one').length - 1;
      gateway.writeConfig(`${BASE_CONFIG}aliases:\n  late: openai/gpt-4o-mini\n`);
      const [victim] = childPids(pid);
      process.kill(victim as number, 'SIGKILL');
      await gateway.waitFor('worker exited; starting a new one', 10_000, exitsBefore + 1);
      // The replacement is forked but not listening yet: it took the reload message it could not handle
      // yet, and the primary waited 60 s for its answer, with every reload after it queued.
      gateway.child.kill('SIGHUP');
      await gateway.waitFor('configuration reloaded on every worker', 5_000, reloadsBefore + 1);
      const { key } = await createKey(gateway.url, { name: 'reload-during-restart' });
      await untilReplacementAnswers(gateway, '/v1/chat/completions', async () => {
        const answer = await send(gateway.url, '/v1/chat/completions', { headers: { ...bearer(key), 'cache-control': 'no-store' }, body: chat('late') });
        assert.equal(answer.status, 200, answer.body);
      });
    });

    test('SIGTERM to the primary: every worker drains (a stream in flight completes), exit 0', async () => {
      const { key } = await createKey(gateway.url, { name: 'drain' });
      fake.enqueue({ kind: 'slow-stream', delayMs: 150 });
      const stream = openStream(gateway.url, { ...bearer(key), 'cache-control': 'no-store' }, chat('gpt-4o-mini', { stream: true }));
      await eventually(() => stream.received().includes('data: '), 5_000);
      gateway.child.kill('SIGTERM');
      const text = await stream.done;
      assert.ok(text.trimEnd().endsWith('data: [DONE]'), text.slice(-300));
      assert.equal(await gateway.exited, 0, gateway.output().slice(-3000));
      await gateway.waitFor('worker shutting down', 1_000, 2);
    });
  });

  describe('workers: every worker killed at once', () => {
    test('the primary starts new ones and serves again; it does not exit with no worker left', async () => {
      const gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY }, BASE_CONFIG, ['--workers', '2']);
      try {
        const pid = gateway.child.pid as number;
        const killed = childPids(pid);
        for (const worker of killed) process.kill(worker, 'SIGKILL');
        await gateway.waitFor('worker exited; starting a new one', 10_000, 2);
        // The primary had nothing left to keep it running but the restart timers: it exited 0.
        await eventually(() => {
          const now = childPids(pid);
          return now.length === 2 && now.every((worker) => !killed.includes(worker));
        }, 15_000);
        assert.equal(gateway.child.exitCode, null, gateway.output().slice(-3000));
        let status = 0;
        const deadline = Date.now() + 15_000;
        while (status !== 200 && Date.now() < deadline) {
          status = await send(gateway.url, '/v1/models', { headers: bearer(MASTER_KEY) }).then(
            (answer) => answer.status,
            () => 0,
          );
          if (status !== 200) await sleep(100);
        }
        assert.equal(status, 200, gateway.output().slice(-3000));
      } finally {
        await gateway.cleanup();
      }
    });
  });

  describe('workers: usage retention', () => {
    test('LLM_PROXY_USAGE_RETENTION_DAYS with --workers 2: one worker runs it, and its replacement when the workers are killed', async () => {
      const gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY, LLM_PROXY_USAGE_RETENTION_DAYS: '30' }, BASE_CONFIG, ['--workers', '2']);
      try {
        const retaining = () => gateway.output().split('\n').filter((line) => line.includes('usage retention: on'));
        // The primary says it listens once both workers do, each having built its services first.
        await gateway.waitFor('usage retention: on', 10_000);
        // Each worker says so (or not) while it builds its services, before it listens.
        await untilBothWorkersAnswer(gateway, 0);
        assert.equal(retaining().length, 1, retaining().join('\n'));
        assert.match(retaining()[0] as string, /"worker":0\b/);
        // Log lines name the slot, not the process: both workers go, and slot 0's replacement takes over.
        const killed = childPids(gateway.child.pid as number);
        for (const worker of killed) process.kill(worker, 'SIGKILL');
        await gateway.waitFor('usage retention: on', 15_000, 2);
        // Written after the killed workers' last lines: any answer logged from here on is a replacement's.
        const from = gateway.output().length;
        // The other replacement starts too: once it has answered, it would have said so.
        await eventually(() => childPids(gateway.child.pid as number).filter((worker) => !killed.includes(worker)).length === 2, 15_000);
        await untilBothWorkersAnswer(gateway, from);
        assert.equal(retaining().length, 2, retaining().join('\n'));
        assert.match(retaining()[1] as string, /"worker":0\b/);
      } finally {
        await gateway.cleanup();
      }
    });
  });

  describe('workers: stopped while starting', () => {
    test('SIGTERM to the primary while its workers still load: the start is abandoned and the primary exits 0', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'llm-proxy-workers-start-'));
      try {
        writeFileSync(join(dir, 'config.yaml'), BASE_CONFIG);
        const child = spawn(process.execPath, ['dist/src/main.js', '--workers', '2'], {
          env: { PATH: process.env.PATH, PORT: '0', LLM_PROXY_CONFIG: join(dir, 'config.yaml'), LLM_PROXY_DB: join(dir, 'llm-proxy.db'), LLM_PROXY_MASTER_KEY: MASTER_KEY },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        // The workers are forked right after this line, and take a while to load their modules: a
        // signal reaching one before it has its handler ends it by default. That counted as a worker
        // that did not stop cleanly, and the primary exited 1.
        await eventually(() => output.includes('starting workers'), 10_000);
        child.kill('SIGTERM');
        assert.equal(await exited, 0, output);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('workers: started by the CLI with no key configured', () => {
    test('`llm-proxy start --workers 2` generates one master key, shown once, valid on every worker', async () => {
      const gateway = await startGatewayProcess({}, BASE_CONFIG, ['start', '--workers', '2'], 'dist/src/cli.js');
      try {
        // The CLI runs the primary again with the flags of `npm start`; its workers inherit them.
        const primaries = childPids(gateway.child.pid as number);
        assert.equal(primaries.length, 1);
        const workers = childPids(primaries[0] as number);
        assert.equal(workers.length, 2);
        for (const pid of workers) {
          const flags = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          for (const flag of startScriptFlags()) assert.ok(flags.includes(flag), `worker ${pid}: ${flag} missing from ${flags.join(' ')}`);
        }
        // The banner goes to stderr, the 'listening' line to stdout: either pipe may be read first.
        await gateway.waitFor('choose your own keys', 5_000);
        // Time for a second banner to show up, if a worker were to make its own key.
        await sleep(300);
        const output = gateway.output();
        assert.equal(output.split('generated a master key').length - 1, 1, output);
        const key = /\n\s+(sk-llmp-master-\S+)\n/.exec(output)?.[1];
        assert.ok(key !== undefined, output);
        assert.deepEqual(await statuses(gateway.url, key, 4), [200, 200, 200, 200]);
      } finally {
        await gateway.cleanup();
      }
    });
  });

  describe('workers: limits through Redis', () => {
    let redis: RedisPrefix | string;
    let gateway: GatewayProcess | undefined;

    before(async () => {
      redis = await createRedisPrefix();
      if (typeof redis === 'string') return;
      gateway = await startGatewayProcess(
        { LLM_PROXY_MASTER_KEY: MASTER_KEY, REDIS_URL: redis.url, LLM_PROXY_WORKERS: '2' },
        `${BASE_CONFIG}storage:\n  redis_prefix: "${redis.prefix}"\n`,
      );
    });

    after(async () => {
      await gateway?.cleanup();
      if (typeof redis !== 'string') await redis.drop();
    });

    test('LLM_PROXY_WORKERS=2 with REDIS_URL: two workers share one rate limit', async (t) => {
      if (typeof redis === 'string' || gateway === undefined) {
        t.skip(typeof redis === 'string' ? redis : 'not started');
        return;
      }
      assert.equal(childPids(gateway.child.pid as number).length, 2);
      await assertOneLimit(gateway.url);
      // The counter is in Redis under this run's prefix, not in the primary.
      const keys = await redis.client.keys(`${redis.prefix}rl:*`);
      assert.ok(keys.length > 0, 'the rate-limit counter is kept in Redis');
    });
  });
});

describe('workers: shutdown delay', () => {
  // Long enough for the 8 requests below on a loaded machine: one takes 100-400 ms there (a load of
  // 12-16 on 2 cores), and with a delay of 0.8 s the last ones came after it and met the closed
  // listener (ECONNRESET, ECONNREFUSED). What the test proves does not depend on its length.
  const DELAY_MS = 5_000;

  test('server.shutdown_delay_s with --workers 2: after SIGTERM to the primary, new connections are served by both workers while not ready; then every worker drains, exit 0', async () => {
    const gateway = await startGatewayProcess({ LLM_PROXY_MASTER_KEY: MASTER_KEY }, baseConfig(`  shutdown_delay_s: ${DELAY_MS / 1000}\n`), ['--workers', '2']);
    try {
      gateway.child.kill('SIGTERM');
      const signalled = performance.now();
      const elapsed = () => Math.round(performance.now() - signalled);
      await gateway.waitFor('shutdown delay: not ready, still serving', DELAY_MS, 2);
      await sleep(Math.max(0, 300 - (performance.now() - signalled)));
      // Each on a connection of its own: the cluster hands them to the workers in turn.
      const paths = ['/health/ready', '/health/ready', '/v1/models', '/v1/models'];
      const answers: number[] = [];
      for (const path of [...paths, ...paths]) {
        const answer = await send(gateway.url, path, { headers: bearer(MASTER_KEY) }).catch((error: unknown) => {
          throw new Error(`request ${answers.length + 1} (${path}) failed ${elapsed()} ms after the signal: ${String(error)}`);
        });
        answers.push(answer.status);
      }
      // Timed from before the signal, so within the workers' delay too.
      assert.ok(elapsed() < DELAY_MS, `these were answered within the delay (the last ${elapsed()} ms after the signal)`);
      assert.deepEqual(answers, [503, 503, 200, 200, 503, 503, 200, 200]);
      assert.equal(await gateway.exited, 0, gateway.output().slice(-3000));
      const lines = gateway.output().split('\n');
      const answered = (path: string, status: number, worker: number) =>
        lines.some((line) => line.includes(`"path":"${path}","status":${status}`) && line.includes(`"worker":${worker},`));
      for (const worker of [0, 1]) {
        assert.ok(answered('/health/ready', 503, worker) && answered('/v1/models', 200, worker), `worker ${worker} served during the delay`);
      }
      assert.ok(elapsed() >= DELAY_MS, 'the workers served on for the whole delay');
    } finally {
      await gateway.cleanup();
    }
  });
});
