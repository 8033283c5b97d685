import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { ChatCompletionRequest } from '../openai/types.js';
import { answerFromCompletion, type CachedAnswer } from './cached-answer.js';
import type { CacheStore, CacheStoreStats } from './cache-store.js';
import { MemoryCacheStore } from './memory-cache-store.js';
import { CallAbort } from '../upstream/call-signal.js';
import { NO_DIRECTIVES, parseCacheControl, ResponseCache, type ResponseCacheOptions } from './response-cache.js';

const logger = pino({ level: 'silent' });
const TARGET = { model: 'gpt-4', deployments: ['openai/gpt-4'] };
const WAIT_MS = 1000;

function cache(options: Partial<ResponseCacheOptions> = {}, store: CacheStore = new MemoryCacheStore(1024 * 1024)): ResponseCache {
  return new ResponseCache(
    store,
    { secret: Buffer.alloc(32, 1), namespace: undefined, ttlS: 60, ttlByModel: {}, multipleChoices: false, maxEntryBytes: 1024 * 1024, ...options },
    logger,
  );
}

function chat(content: string, fields: Record<string, unknown> = {}): ChatCompletionRequest {
  return { model: 'gpt-4', messages: [{ role: 'user', content }], ...fields } as ChatCompletionRequest;
}

function answer(body = '{"id":"x"}', storedAt = Date.now()): CachedAnswer {
  return answerFromCompletion(body, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }, [], storedAt);
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('parseCacheControl', () => {
  test('reads no-cache, no-store and max-age, ignoring the rest', () => {
    assert.deepEqual(parseCacheControl(undefined), NO_DIRECTIVES);
    assert.deepEqual(parseCacheControl('No-Cache'), { noCache: true, noStore: false, maxAgeS: undefined });
    assert.deepEqual(parseCacheControl('private, no-store'), { noCache: false, noStore: true, maxAgeS: undefined });
    assert.deepEqual(parseCacheControl('max-age=30, max-age=10'), { noCache: false, noStore: false, maxAgeS: 10 });
    assert.equal(parseCacheControl('max-age=-1').maxAgeS, undefined);
    assert.equal(parseCacheControl('max-age=abc').maxAgeS, undefined);
  });
});

describe('ResponseCache', () => {
  test('miss, then hit; counts both', async () => {
    const responses = cache();
    const plan = responses.plan('k1', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(plan !== undefined);
    assert.equal(await responses.lookup(plan), undefined);
    responses.save(plan, answer('{"id":"a"}'));
    await tick();
    const again = responses.plan('k1', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(again !== undefined);
    const hit = await responses.lookup(again);
    assert.equal(hit?.answer.kind === 'json' ? hit.answer.body : '', '{"id":"a"}');
    const health = await responses.health();
    assert.deepEqual({ hits: health.hits, misses: health.misses, hit_rate: health.hit_rate, entries: health.entries }, { hits: 1, misses: 1, hit_rate: 0.5, entries: 1 });
  });

  test('two keys never share an entry unless a namespace says so', async () => {
    const responses = cache();
    const plan = responses.plan('k1', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(plan !== undefined);
    await responses.lookup(plan);
    responses.save(plan, answer());
    await tick();
    const other = responses.plan('k2', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(other !== undefined);
    assert.equal(await responses.lookup(other), undefined);
    responses.release(other);

    const shared = cache({ namespace: 'team' });
    const first = shared.plan('k1', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(first !== undefined);
    await shared.lookup(first);
    shared.save(first, answer());
    await tick();
    const second = shared.plan('k2', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(second !== undefined && (await shared.lookup(second)) !== undefined);
  });

  test("a request offering a custom tool (openai 6.x) keeps the cache out: its calls have no stream form the cache could rebuild from a whole answer, or the other way", () => {
    const responses = cache();
    const custom = { type: 'custom', custom: { name: 'apply_patch' } };
    assert.equal(responses.plan('k', TARGET, chat('a', { tools: [custom] }), NO_DIRECTIVES, WAIT_MS), undefined);
    assert.ok(responses.plan('k', TARGET, chat('a', { tools: [{ type: 'function', function: { name: 'f' } }] }), NO_DIRECTIVES, WAIT_MS) !== undefined);
  });

  test('no-store, n > 1 and a TTL of 0 keep the cache out; no-cache skips reading only', async () => {
    const responses = cache({ ttlByModel: { 'gpt-4-nocache': 0 } });
    assert.equal(responses.plan('k', TARGET, chat('a'), { ...NO_DIRECTIVES, noStore: true }, WAIT_MS), undefined);
    assert.equal(responses.plan('k', TARGET, chat('a', { n: 2 }), NO_DIRECTIVES, WAIT_MS), undefined);
    assert.ok(cache({ multipleChoices: true }).plan('k', TARGET, chat('a', { n: 2 }), NO_DIRECTIVES, WAIT_MS) !== undefined);
    assert.equal(responses.plan('k', TARGET, chat('a', { model: 'gpt-4-nocache' }), NO_DIRECTIVES, WAIT_MS), undefined);
    const plan = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(plan !== undefined);
    await responses.lookup(plan);
    responses.save(plan, answer());
    await tick();
    const noCache = responses.plan('k', TARGET, chat('a'), { ...NO_DIRECTIVES, noCache: true }, WAIT_MS);
    assert.equal(noCache?.read, false);
    assert.ok(noCache !== undefined);
    assert.equal(await responses.lookup(noCache), undefined);
  });

  test('per-model TTL and max-age decide freshness', async () => {
    const responses = cache({ ttlByModel: { 'gpt-4': 120 } });
    const plan = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.equal(plan?.ttlMs, 120_000);
    assert.ok(plan !== undefined);
    await responses.lookup(plan);
    responses.save(plan, answer('{}', Date.now() - 30_000));
    await tick();
    const young = responses.plan('k', TARGET, chat('a'), { ...NO_DIRECTIVES, maxAgeS: 10 }, WAIT_MS);
    assert.ok(young !== undefined);
    assert.equal(await responses.lookup(young), undefined);
    responses.release(young);
    const old = responses.plan('k', TARGET, chat('a'), { ...NO_DIRECTIVES, maxAgeS: 60 }, WAIT_MS);
    assert.ok(old !== undefined);
    const hit = await responses.lookup(old);
    assert.ok(hit !== undefined && hit.ageS >= 29 && hit.ageS <= 31);
  });

  test('entries expire with their TTL', async () => {
    const responses = cache({ ttlS: 0.5 });
    const plan = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(plan !== undefined);
    await responses.lookup(plan);
    responses.save(plan, answer());
    await tick();
    assert.equal((await responses.health()).entries, 1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const later = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(later !== undefined);
    assert.equal(await responses.lookup(later), undefined);
    assert.equal((await responses.health()).entries, 0);
  });

  test('the memory store is bounded by bytes and evicts the least recently used', async () => {
    const store = new MemoryCacheStore(3000);
    const body = 'x'.repeat(800);
    for (let index = 0; index < 5; index++) await store.set(`key-${index}`, answer(body), 60_000);
    const stats = await store.stats();
    assert.ok(stats.sizeBytes <= 3000, `size ${stats.sizeBytes}`);
    assert.equal(stats.entries, 3);
    assert.equal(await store.get('key-0'), undefined);
    assert.ok((await store.get('key-4')) !== undefined);
    // An answer larger than the whole bound is not kept.
    await store.set('huge', answer('y'.repeat(5000)), 60_000);
    assert.equal(await store.get('huge'), undefined);
  });

  test('single flight: identical requests wait for the first and get its answer', async () => {
    const responses = cache();
    const leader = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(leader !== undefined);
    assert.equal(await responses.lookup(leader), undefined);
    assert.ok(leader.flight !== undefined);
    const followers = Array.from({ length: 5 }, () => responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS));
    const waiting = followers.map((plan) => (plan === undefined ? Promise.resolve(undefined) : responses.lookup(plan)));
    await tick();
    assert.equal(responses.inFlight, 1);
    responses.save(leader, answer('{"id":"first"}'));
    const hits = await Promise.all(waiting);
    for (const hit of hits) assert.equal(hit?.answer.kind === 'json' ? hit.answer.body : '', '{"id":"first"}');
    assert.equal(responses.inFlight, 0);
  });

  test('single flight: a failed leader releases the others to try on their own', async () => {
    const responses = cache();
    const leader = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(leader !== undefined);
    await responses.lookup(leader);
    const follower = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(follower !== undefined);
    const waiting = responses.lookup(follower);
    responses.release(leader);
    assert.equal(await waiting, undefined);
    // Released requests do not hold anyone themselves.
    assert.equal(follower.flight, undefined);
    assert.equal(responses.inFlight, 0);
  });

  test('single flight: the wait is bounded', async () => {
    const responses = cache();
    const leader = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, 30);
    assert.ok(leader !== undefined);
    await responses.lookup(leader);
    const follower = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, 30);
    assert.ok(follower !== undefined);
    const started = Date.now();
    assert.equal(await responses.lookup(follower), undefined);
    assert.ok(Date.now() - started < 500);
    // A leader that never settles is forgotten once the wait has passed.
    assert.equal(responses.inFlight, 0);
  });

  test('single flight: a request that left stops waiting at once, whether it leaves during the wait or had left before it', async () => {
    const responses = cache();
    const leader = responses.plan('k1', TARGET, chat('left'), NO_DIRECTIVES, 5000);
    assert.ok(leader !== undefined);
    assert.equal(await responses.lookup(leader), undefined);
    for (const leaveFirst of [false, true]) {
      const plan = responses.plan('k1', TARGET, chat('left'), NO_DIRECTIVES, 5000);
      assert.ok(plan !== undefined);
      const gone = new CallAbort();
      if (leaveFirst) gone.abort();
      const started = Date.now();
      const waiting = responses.lookup(plan, gone);
      if (!leaveFirst) setTimeout(() => gone.abort(), 20);
      assert.equal(await waiting, undefined);
      assert.ok(Date.now() - started < 1000, `left first: ${leaveFirst}, waited ${Date.now() - started} ms`);
    }
    responses.release(leader);
  });

  test("single flight: each request waits as long as its own plan says (a reload's new timeout applies to the requests after it)", async () => {
    const responses = cache();
    const [leader, patient, brief] = [WAIT_MS, WAIT_MS, 30].map((waitMs) => responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, waitMs));
    assert.ok(leader !== undefined && patient !== undefined && brief !== undefined);
    await responses.lookup(leader);
    const waiting = responses.lookup(patient);
    assert.equal(await responses.lookup(brief), undefined);
    responses.save(leader, answer('{"id":"first"}'));
    const hit = await waiting;
    assert.equal(hit?.answer.kind === 'json' ? hit.answer.body : '', '{"id":"first"}');
  });

  test('a failing store is a miss, never an error', async () => {
    const broken: CacheStore = {
      backend: 'redis',
      get: () => Promise.reject(new Error('down')),
      set: () => Promise.reject(new Error('down')),
      countLookup: () => undefined,
      stats: (): Promise<CacheStoreStats> => Promise.resolve({ status: 'unavailable', entries: 0, sizeBytes: 0 }),
      close: () => Promise.resolve(),
    };
    const responses = cache({}, broken);
    const plan = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(plan !== undefined);
    assert.equal(await responses.lookup(plan), undefined);
    responses.save(plan, answer());
    await tick();
    const health = await responses.health();
    assert.equal(health.status, 'unavailable');
    assert.equal(health.misses, 1);
  });
});

describe('ResponseCache store failures in the log', () => {
  test('a store that answers reads and refuses writes (Redis full, a read-only replica): one line, not two per request', async () => {
    const lines: string[] = [];
    const full: CacheStore = {
      backend: 'redis',
      get: () => Promise.resolve(undefined),
      set: () => Promise.reject(new Error("OOM command not allowed when used memory > 'maxmemory'")),
      countLookup: () => undefined,
      stats: (): Promise<CacheStoreStats> => Promise.resolve({ status: 'healthy', entries: 0, sizeBytes: 0 }),
      close: () => Promise.resolve(),
    };
    const responses = new ResponseCache(
      full,
      { secret: Buffer.alloc(32, 1), namespace: undefined, ttlS: 60, ttlByModel: {}, multipleChoices: false, maxEntryBytes: 1024 * 1024 },
      pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    );
    for (let index = 0; index < 20; index++) {
      const plan = responses.plan('k', TARGET, chat(`q${index}`), NO_DIRECTIVES, WAIT_MS);
      assert.ok(plan !== undefined);
      assert.equal(await responses.lookup(plan), undefined);
      responses.save(plan, answer());
      await tick();
    }
    assert.equal(lines.length, 1, lines.join(''));
    assert.match(lines[0] as string, /cannot store answers.*|OOM/);
  });

  test('a store that goes away (reads and writes fail) is one line for the outage, and one when it is back', async () => {
    const lines: string[] = [];
    let down = true;
    const flaky: CacheStore = {
      backend: 'redis',
      get: () => (down ? Promise.reject(new Error('Redis is unavailable')) : Promise.resolve(undefined)),
      set: () => (down ? Promise.reject(new Error('Redis is unavailable')) : Promise.resolve()),
      countLookup: () => undefined,
      stats: (): Promise<CacheStoreStats> => Promise.resolve({ status: 'unavailable', entries: 0, sizeBytes: 0 }),
      close: () => Promise.resolve(),
    };
    const responses = new ResponseCache(
      flaky,
      { secret: Buffer.alloc(32, 1), namespace: undefined, ttlS: 60, ttlByModel: {}, multipleChoices: false, maxEntryBytes: 1024 * 1024 },
      pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    );
    const request = async (index: number) => {
      const plan = responses.plan('k', TARGET, chat(`q${index}`), NO_DIRECTIVES, WAIT_MS);
      assert.ok(plan !== undefined);
      assert.equal(await responses.lookup(plan), undefined);
      responses.save(plan, answer());
      await tick();
    };
    for (let index = 0; index < 5; index++) await request(index);
    assert.equal(lines.length, 1, lines.join(''));
    assert.match(lines[0] as string, /response cache unavailable/);
    down = false;
    for (let index = 5; index < 10; index++) await request(index);
    assert.equal(lines.length, 2, lines.join(''));
    assert.match(lines[1] as string, /available again/);
  });
});

describe('ResponseCache limits', () => {
  test('an answer above the entry bound is not stored, and releases its waiters', async () => {
    const responses = cache({ maxEntryBytes: 1000 });
    const plan = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(plan !== undefined);
    await responses.lookup(plan);
    const follower = responses.plan('k', TARGET, chat('a'), NO_DIRECTIVES, WAIT_MS);
    assert.ok(follower !== undefined);
    const waiting = responses.lookup(follower);
    responses.save(plan, answer('z'.repeat(2000)));
    assert.equal(await waiting, undefined);
    assert.equal((await responses.health()).entries, 0);
  });

  test('a body deeper than the canonicaliser allows goes uncached instead of failing', () => {
    let deep: unknown = 'x';
    for (let index = 0; index < 200; index++) deep = [deep];
    assert.equal(cache().plan('k', TARGET, chat('a', { tools: deep }), NO_DIRECTIVES, WAIT_MS), undefined);
  });
});
