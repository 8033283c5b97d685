// Retry-After through the proxy, on a limiter clock the test moves (no real minute-long sleeps): a
// client refused for requests or tokens that waits exactly as told gets through, a second less not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryRateLimiter, type RateLimitDecision, type RateLimiter, type Reservation } from '../../src/rate-limit/memory-rate-limiter.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';
import { chat, createKey, errorCode, type JsonResponse } from '../support/key-support.js';
import { durationMs, WINDOW_MS, WINDOW_START } from '../support/rate-limit-timing.js';

/** The memory limiter, reading `now` here instead of the time the proxy passes. */
class SetClockLimiter implements RateLimiter {
  private readonly inner = new MemoryRateLimiter(WINDOW_MS);
  now = WINDOW_START;

  consume(key: string, limit: number, cost: number): RateLimitDecision {
    return this.inner.consume(key, limit, cost, this.now);
  }

  adjust(key: string, delta: number, reservation: Reservation): void {
    this.inner.adjust(key, delta, reservation);
  }
}

function retryAfter(response: JsonResponse): number {
  assert.equal(response.status, 429, response.text);
  assert.equal(errorCode(response), 'rate_limit_exceeded');
  return Number(response.headers.get('retry-after'));
}

describe('Retry-After is how long to wait on the sliding window', () => {
  const clock = new SetClockLimiter();
  let upstream: FakeOpenAi;
  let gateway: Gateway;

  before(async () => {
    upstream = await startFakeOpenAi({ apiKey: UPSTREAM_KEY });
    gateway = await startGateway({ OPENAI_API_KEY: UPSTREAM_KEY, OPENAI_BASE_URL: `${upstream.url}/v1`, LLM_PROXY_RPM: '3' }, { rateLimiter: clock });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  test('requests: the reported sequence, where waiting as told was refused twice', async () => {
    // Four requests 22 s into a minute: the fourth was told 38 s (the minute's end), then 60 s.
    clock.now = WINDOW_START + 22_000;
    for (let index = 0; index < 2; index++) assert.equal((await chat(gateway.url, CLIENT_KEY)).status, 200);
    const last = await chat(gateway.url, CLIENT_KEY);
    assert.equal(last.status, 200);
    assert.equal(last.headers.get('x-ratelimit-remaining'), '0');
    const refused = await chat(gateway.url, CLIENT_KEY);
    const wait = retryAfter(refused);
    assert.equal(wait, 58);
    // With nothing left, the admitted request's reset already said when the next one may go.
    assert.equal(last.headers.get('x-ratelimit-reset'), String(wait));
    assert.equal(refused.headers.get('x-ratelimit-reset'), String(wait));
    assert.equal(refused.headers.get('x-ratelimit-reset-requests'), `${wait}s`);
    const refusedAt = clock.now;
    clock.now = refusedAt + (wait - 1) * 1000;
    assert.equal(retryAfter(await chat(gateway.url, CLIENT_KEY)), 1);
    clock.now = refusedAt + wait * 1000;
    assert.equal((await chat(gateway.url, CLIENT_KEY)).status, 200);
    // Again, just past the boundary's 20 s mark: the three before weigh 2 until 40 s in.
    const again = retryAfter(await chat(gateway.url, CLIENT_KEY));
    assert.equal(again, 20);
    clock.now += again * 1000;
    assert.equal((await chat(gateway.url, CLIENT_KEY)).status, 200);
  });

  test('tokens: Retry-After of a token refusal, after the first call was settled', async () => {
    clock.now = WINDOW_START + 10 * WINDOW_MS + 5_000;
    const { key } = await createKey(gateway.url, { rpm_limit: 0, tpm_limit: 100 });
    // Reserves the whole 100 (more than the limit is asked: let through on an empty window), settled to what was used.
    assert.equal((await chat(gateway.url, key, { max_tokens: 500 })).status, 200);
    const refused = await chat(gateway.url, key, { max_tokens: 90 });
    const wait = retryAfter(refused);
    // OpenAI's name, OpenAI's format (`1m50.715s`): the same wait, to the millisecond.
    assert.equal(Math.ceil(durationMs(refused.headers.get('x-ratelimit-reset-tokens')) / 1000), wait);
    const refusedAt = clock.now;
    clock.now = refusedAt + (wait - 1) * 1000;
    retryAfter(await chat(gateway.url, key, { max_tokens: 90 }));
    clock.now = refusedAt + wait * 1000;
    const admitted = await chat(gateway.url, key, { max_tokens: 90 });
    assert.equal(admitted.status, 200, admitted.text);
  });

  test('tokens: a call that spans a minute boundary gives its unused tokens back to the minute it reserved them in', async () => {
    // The report (tpm_limit 2000): a stream reserved ~1,500 at :48 and used a few; a small call at
    // :02 rolled the window, so the refund at :08 was lost and a 1,000-token call at :09 got 429.
    const minute = WINDOW_START + 20 * WINDOW_MS;
    const { key } = await createKey(gateway.url, { rpm_limit: 0, tpm_limit: 2_000 });
    const settled = () => gateway.usage.recent().length;
    const settledBefore = settled();
    clock.now = minute + 48_000;
    const seen = upstream.requests.length;
    upstream.enqueue({ kind: 'delay-headers', ms: 300 });
    const stream = chat(gateway.url, key, { stream: true, max_tokens: 1_500 });
    // Reserved: the upstream has the request (and holds its answer a while).
    await eventually(() => upstream.requests.length > seen);
    clock.now = minute + WINDOW_MS + 2_000;
    const small = await chat(gateway.url, key, { max_tokens: 10 });
    assert.equal(small.status, 200, small.text);
    clock.now = minute + WINDOW_MS + 8_000;
    assert.equal((await stream).status, 200);
    await eventually(() => settled() === settledBefore + 2);
    clock.now = minute + WINDOW_MS + 9_000;
    const large = await chat(gateway.url, key, { max_tokens: 1_000 });
    assert.equal(large.status, 200, large.text);
  });
});
