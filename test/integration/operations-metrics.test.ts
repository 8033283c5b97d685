// GET /metrics (issue #9): Prometheus text on our own registry, master key or metrics.token,
// request/chat/token/cost counters from real traffic, scrape-time gauges, no secrets in labels.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CLIENT_KEY, MASTER_KEY, UPSTREAM_KEY, eventually } from '../support/gateway-harness.js';
import { call, chat, JSON_AUTH, post, startStack } from '../support/reliability-support.js';
import type { ErrorBody } from '../../src/openai/types.js';

function scrape(url: string, key: string) {
  return call(url, { method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${key}` } });
}

/** The value of one sample line, by its exact name and labels. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics', () => {
  test('master key scrapes; client key is refused; traffic shows up by route, model, provider and status', async () => {
    const stack = await startStack();
    try {
      assert.equal((await post(stack.url, chat())).status, 200);
      const streamed = await post(stack.url, chat({ stream: true, stream_options: { include_usage: true } }));
      assert.equal(streamed.status, 200);
      assert.equal((await call(stack.url, { headers: { authorization: 'Bearer sk-wrong-key-0000000000' }, body: chat() })).status, 401);
      const embedded = await call(stack.url, { path: '/v1/embeddings', headers: JSON_AUTH, body: JSON.stringify({ model: 'text-embedding-3-small', input: 'metrics' }) });
      assert.equal(embedded.status, 200, embedded.body);
      await eventually(() => stack.gateway.usage.recent().length >= 3);

      const refused = await scrape(stack.url, CLIENT_KEY);
      assert.equal(refused.status, 403);
      const res = await scrape(stack.url, MASTER_KEY);
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      const text = res.body;
      assert.equal(sample(text, 'llm_proxy_http_requests_total{route="/v1/chat/completions",method="POST",status="200"}'), 2);
      assert.equal(sample(text, 'llm_proxy_http_requests_total{route="/v1/chat/completions",method="POST",status="401"}'), 1);
      assert.equal(sample(text, 'llm_proxy_chat_requests_total{model="gpt-4",provider="openai",status="ok",endpoint="chat.completions"}'), 2);
      assert.ok((sample(text, 'llm_proxy_tokens_total{provider="openai",model="gpt-4",direction="in",endpoint="chat.completions"}') ?? 0) > 0);
      assert.ok((sample(text, 'llm_proxy_tokens_total{provider="openai",model="gpt-4",direction="out",endpoint="chat.completions"}') ?? 0) > 0);
      assert.ok((sample(text, 'llm_proxy_cost_usd_total{provider="openai",model="gpt-4",endpoint="chat.completions"}') ?? 0) > 0);
      assert.equal(sample(text, 'llm_proxy_chat_time_to_first_token_seconds_count{provider="openai"}'), 1);
      assert.equal(sample(text, 'llm_proxy_chat_latency_seconds_count{provider="openai",stream="false",endpoint="chat.completions"}'), 1);
      // Embeddings are counted apart from chat, by their own endpoint label.
      assert.equal(sample(text, 'llm_proxy_chat_requests_total{model="text-embedding-3-small",provider="openai",status="ok",endpoint="embeddings"}'), 1);
      assert.equal(sample(text, 'llm_proxy_chat_latency_seconds_count{provider="openai",stream="false",endpoint="embeddings"}'), 1);
      assert.equal(sample(text, 'llm_proxy_active_streams'), 0);
      // The scrape itself is in flight while it is rendered.
      assert.equal(sample(text, 'llm_proxy_http_in_flight_requests'), 1);
      assert.match(text, /^llm_proxy_circuit_state\{deployment="openai\/[^"]+",provider="openai"\} 0$/m);
      assert.match(text, /^llm_proxy_nodejs_eventloop_lag_p99_seconds /m);
      assert.match(text, /^llm_proxy_process_resident_memory_bytes /m);
      assert.match(text, /^# TYPE llm_proxy_cache_hits_total counter$/m);
      for (const secret of [CLIENT_KEY, MASTER_KEY, UPSTREAM_KEY, 'sk-wrong-key']) assert.ok(!text.includes(secret), `metrics hold ${secret}`);
    } finally {
      await stack.close();
    }
  });

  test('condensation is counted under its own endpoint label, not "other"', async () => {
    const stack = await startStack();
    try {
      const messages = [
        { role: 'user', content: 'My order #4521 never arrived.' },
        { role: 'assistant', content: 'Sorry! Let me check.' },
      ];
      const res = await call(stack.url, { path: '/api/condense', headers: JSON_AUTH, body: JSON.stringify({ model: 'gpt-4', messages, max_tokens: 50 }) });
      assert.equal(res.status, 200, res.body);
      await eventually(() => stack.gateway.usage.recent().some((record) => record.endpoint === 'condense'));
      const text = (await scrape(stack.url, MASTER_KEY)).body;
      assert.equal(sample(text, 'llm_proxy_chat_requests_total{model="gpt-4",provider="openai",status="ok",endpoint="condense"}'), 1);
      assert.equal(sample(text, 'llm_proxy_chat_latency_seconds_count{provider="openai",stream="false",endpoint="condense"}'), 1);
      assert.ok((sample(text, 'llm_proxy_tokens_total{provider="openai",model="gpt-4",direction="in",endpoint="condense"}') ?? 0) > 0);
      assert.ok((sample(text, 'llm_proxy_tokens_total{provider="openai",model="gpt-4",direction="out",endpoint="condense"}') ?? 0) > 0);
      assert.ok((sample(text, 'llm_proxy_cost_usd_total{provider="openai",model="gpt-4",endpoint="condense"}') ?? 0) > 0);
      assert.doesNotMatch(text, /endpoint="other"/);
    } finally {
      await stack.close();
    }
  });

  test('upstream failures before a served answer count as retries by cause; final errors by code; 429s counted', async () => {
    const stack = await startStack({ env: { LLM_PROXY_RPM: '2' } });
    try {
      stack.fake.enqueue({ kind: 'status', status: 503 });
      assert.equal((await post(stack.url, chat())).status, 200);
      for (let index = 0; index < 2; index++) stack.fake.enqueue({ kind: 'status', status: 400 });
      assert.equal((await post(stack.url, chat())).status, 400);
      assert.equal((await post(stack.url, chat())).status, 429);
      await eventually(() => stack.gateway.usage.recent().length >= 2);
      const text = (await scrape(stack.url, MASTER_KEY)).body;
      assert.equal(sample(text, 'llm_proxy_upstream_retries_total{cause="upstream_error"}'), 1);
      assert.equal(sample(text, 'llm_proxy_rate_limited_total{route="/v1/chat/completions"}'), 1);
      assert.match(text, /^llm_proxy_upstream_errors_total\{code="[a-z_]+"\} 1$/m);
      assert.equal(sample(text, 'llm_proxy_chat_requests_total{model="gpt-4",provider="openai",status="error",endpoint="chat.completions"}'), 1);
    } finally {
      await stack.close();
    }
  });

  test('model labels: a model that never routed is not a label; unknown routes are "unmatched"', async () => {
    const stack = await startStack();
    try {
      const res = await post(stack.url, JSON.stringify({ model: 'no-such-model-secret-text', messages: [{ role: 'user', content: 'x' }] }));
      assert.equal(res.status, 404);
      assert.equal((await call(stack.url, { method: 'GET', path: '/no/such/path?x=1', headers: JSON_AUTH })).status, 404);
      const text = (await scrape(stack.url, MASTER_KEY)).body;
      assert.ok(!text.includes('no-such-model-secret-text'));
      assert.ok(!text.includes('/no/such/path'));
      assert.equal(sample(text, 'llm_proxy_http_requests_total{route="unmatched",method="GET",status="404"}'), 1);
    } finally {
      await stack.close();
    }
  });

  test('metrics.token scrapes without the master key; enabled: false removes the route', async () => {
    const token = 'metrics-token-0123456789abcdef';
    const stack = await startStack({ yaml: `metrics:\n  token: ${token}\n` });
    try {
      assert.equal((await scrape(stack.url, token)).status, 200);
      assert.equal((await scrape(stack.url, MASTER_KEY)).status, 200);
      assert.equal((await scrape(stack.url, CLIENT_KEY)).status, 401);
      const refused = await call(stack.url, { method: 'GET', path: '/metrics' });
      assert.equal(refused.status, 401);
      // The hint reaches the client whole: the redactor once turned its `Bearer <token>` into `Bearer [redacted]`.
      const { message } = (JSON.parse(refused.body) as ErrorBody).error;
      assert.ok(!message.includes('[redacted]'), message);
      assert.match(message, /"Authorization" header \("Bearer" and the token\)/);
    } finally {
      await stack.close();
    }
    const off = await startStack({ yaml: 'metrics:\n  enabled: false\n' });
    try {
      assert.equal((await scrape(off.url, MASTER_KEY)).status, 404);
    } finally {
      await off.close();
    }
  });

  test('metrics.token guesses count as failed authentications: past the limit even the token is refused, unread', async () => {
    const token = 'metrics-token-0123456789abcdef';
    const stack = await startStack({ yaml: `metrics:\n  token: ${token}\nauth:\n  max_failures_per_minute: 3\n` });
    try {
      for (let guess = 0; guess < 3; guess++) assert.equal((await scrape(stack.url, `metrics-token-guess-${guess}`)).status, 401);
      // The fourth try learns nothing: the right token gets the same 429 a wrong one does.
      for (const tried of [token, 'metrics-token-guess-3']) {
        const locked = await scrape(stack.url, tried);
        assert.equal(locked.status, 429, locked.body);
        assert.equal((JSON.parse(locked.body) as ErrorBody).error.code, 'too_many_auth_failures');
        assert.ok(Number(locked.headers['retry-after']) > 0);
      }
      // One count per address, shared with the keys: an unknown key from there is refused the same way.
      const guessedKey = await call(stack.url, { headers: { authorization: 'Bearer sk-gw_unknown_guess' }, body: chat() });
      assert.equal(guessedKey.status, 429, guessedKey.body);
    } finally {
      await stack.close();
    }
  });
});
