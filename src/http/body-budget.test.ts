import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config/config-loader.js';
import type { GatewayError } from '../errors/gateway-error.js';
import { BodyBudget, WAITING_BODY_BYTES, type MeteredBody } from './body-budget.js';

const MiB = 1024 * 1024;
const KiB = 1024;

/** Deterministic randomness (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An upload of `size` bytes as the meter drives the budget: chunks are charged until the body
 * passes `limit` (refused, given back at once) or ends (read whole, then given back).
 */
class FakeUpload implements MeteredBody {
  readonly request = { bodyCharge: 0 };
  waitingBytes = 0;
  waitingSince = 0;
  received = 0;
  waiting = false;
  /** 'busy': refused at once, the line of waiting bodies full. */
  outcome: 'read' | 'too large' | 'busy' | GatewayError | undefined;
  readonly #budget: BodyBudget;
  readonly #size: number;
  readonly #limit: number;

  constructor(budget: BodyBudget, size: number, limit: number) {
    this.#budget = budget;
    this.#size = size;
    this.#limit = limit;
    budget.startMetering(this);
  }

  /** Sends the next chunk of at most `bytes`. */
  send(bytes: number): void {
    const chunk = Math.min(bytes, this.#size - this.received);
    this.received += chunk;
    if (this.received > this.#limit) return this.#end('too large');
    const admission = this.#budget.chargeChunk(this, chunk);
    if (admission === 'busy') return this.#end('busy');
    if (admission === 'waits') {
      this.waiting = true;
      return;
    }
    this.#passed();
  }

  proceed(): void {
    this.waiting = false;
    this.#passed();
  }

  refuse(error: GatewayError): void {
    this.waiting = false;
    this.#end(error);
  }

  #passed(): void {
    if (this.received === this.#size) this.#end('read');
  }

  #end(outcome: NonNullable<FakeUpload['outcome']>): void {
    this.outcome = outcome;
    this.#budget.stopMetering(this);
    this.#budget.release(this.request);
  }
}

function server(limitMb: number, budgetMb: number): ReturnType<typeof loadConfig>['config']['server'] {
  // A wait no test reaches: a body that waits for ever shows as one never finished.
  return { ...loadConfig({}).config.server, body_limit_mb: limitMb, body_buffer_budget_mb: budgetMb, body_buffer_wait_s: 3600 };
}

test('uploads sending in any order all reach their end or their cap, or find the line of waiting bodies full: the budget never fills with bodies none can finish', () => {
  for (const [limitMb, budgetMb] of [
    [10, 20],
    [2, 4],
    [2, 2],
  ] as const) {
    for (let seed = 1; seed <= 20; seed++) {
      const next = random(seed);
      const budget = new BodyBudget(server(limitMb, budgetMb));
      const limit = limitMb * MiB;
      // Over the cap (chunked) or under it (a Content-Length up to the cap).
      const uploads = Array.from({ length: 30 }, () => new FakeUpload(budget, next() < 0.6 ? limit + 1 + Math.floor(next() * limit) : 1 + Math.floor(next() * limit), limit));
      let most = 0;
      let mostWaiting = 0;
      for (;;) {
        const sending = uploads.filter((upload) => upload.outcome === undefined && !upload.waiting);
        if (sending.length === 0) break;
        sending[Math.floor(next() * sending.length)]?.send(1 + Math.floor(next() * 64 * KiB));
        most = Math.max(most, budget.held);
        mostWaiting = Math.max(mostWaiting, budget.waiting);
      }
      const label = `cap ${limitMb} MiB, budget ${budgetMb} MiB, seed ${seed}`;
      assert.deepEqual(
        uploads.filter((upload) => upload.outcome !== 'read' && upload.outcome !== 'too large' && upload.outcome !== 'busy').length,
        0,
        `${label}: bodies left waiting or refused after a wait`,
      );
      assert.ok(most <= budget.capacity, `${label}: held ${most} bytes`);
      assert.ok(mostWaiting <= budget.maxWaiting, `${label}: ${mostWaiting} bodies waited at once`);
      assert.equal(budget.held, 0, label);
      assert.equal(budget.waiting, 0, label);
    }
  }
});

test('a small body charged up front delays the uploads, and they go on once it is given back', () => {
  const budget = new BodyBudget(server(2, 4));
  const small = { bodyCharge: 0 };
  // Metered bodies other than the one holding the most may hold 1.5 MiB between them; a small body counts with them.
  assert.ok(budget.charge(small, 64 * KiB));
  const leader = new FakeUpload(budget, 3 * MiB, 2 * MiB);
  const other = new FakeUpload(budget, 3 * MiB, 2 * MiB);
  for (let i = 0; i < 30; i++) leader.send(64 * KiB);
  for (let i = 0; i < 24 && !other.waiting; i++) other.send(64 * KiB);
  assert.equal(other.waiting, true);
  assert.equal(other.request.bodyCharge, 1.5 * MiB - 64 * KiB);
  budget.release(small);
  assert.equal(other.waiting, false, 'let in when the small body was given back');
  assert.equal(other.request.bodyCharge, 1.5 * MiB);
});

test('a body still waiting after body_buffer_wait_s is refused with 503 server_busy and holds nothing', async () => {
  const budget = new BodyBudget({ ...server(2, 2), body_buffer_wait_s: 0.05 });
  const leader = new FakeUpload(budget, 3 * MiB, 2 * MiB);
  leader.send(64 * KiB);
  // Budget = cap: with a leader, no other metered body may hold a byte.
  const late = new FakeUpload(budget, 3 * MiB, 2 * MiB);
  late.send(64 * KiB);
  assert.equal(late.waiting, true);
  assert.equal(budget.waiting, 1);
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.ok(late.outcome !== undefined && typeof late.outcome === 'object', 'refused');
  assert.equal(late.outcome.status, 503);
  assert.equal(late.outcome.code, 'server_busy');
  assert.equal(budget.waiting, 0);
  assert.equal(budget.held, 64 * KiB, "the leader's bytes only");
});

test('bodies wait longer than body_buffer_wait_s without a 503 while waiting bodies are being let in', async () => {
  // Budget = cap: one upload reads at a time, each reaching its 413 60 ms after the one before.
  const budget = new BodyBudget({ ...server(2, 2), body_buffer_wait_s: 0.1 });
  const uploads = Array.from({ length: 4 }, () => new FakeUpload(budget, 3 * MiB, 2 * MiB));
  for (const upload of uploads) upload.send(64 * KiB);
  assert.equal(budget.waiting, 3);
  for (const upload of uploads) {
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(upload.waiting, false, 'let in by now');
    while (upload.outcome === undefined) upload.send(64 * KiB);
  }
  // The last one waited ~180 ms.
  assert.deepEqual(
    uploads.map((upload) => upload.outcome),
    ['too large', 'too large', 'too large', 'too large'],
  );
  assert.equal(budget.held, 0);
});

test('at most maxWaiting bodies wait, half the budget in the reads they hold; the next is refused at once and holds nothing', () => {
  // Cap 2 MiB, budget 4 MiB: 16 waiting bodies of 128 KiB each.
  const budget = new BodyBudget(server(2, 4));
  assert.equal(budget.maxWaiting, (4 * MiB) / 2 / WAITING_BODY_BYTES);
  const leader = new FakeUpload(budget, 3 * MiB, 2 * MiB);
  for (let i = 0; i < 30; i++) leader.send(64 * KiB);
  // The others' 1.5 MiB, all taken: every new body waits at its first read.
  const filler = new FakeUpload(budget, 3 * MiB, 2 * MiB);
  for (let i = 0; i < 24; i++) filler.send(64 * KiB);
  assert.equal(filler.waiting, false);
  const line = Array.from({ length: 24 }, () => new FakeUpload(budget, 3 * MiB, 2 * MiB));
  for (const upload of line) upload.send(64 * KiB);
  assert.equal(budget.waiting, budget.maxWaiting);
  assert.deepEqual(
    line.map((upload) => upload.outcome ?? (upload.waiting ? 'waits' : 'charged')),
    line.map((_, index) => (index < budget.maxWaiting ? 'waits' : 'busy')),
  );
  assert.equal(budget.held, 54 * 64 * KiB, 'those refused hold nothing');
  // The line moves on as before: the leader reaches its cap, and those first in line are let in.
  while (leader.outcome === undefined) leader.send(64 * KiB);
  assert.equal(leader.outcome, 'too large');
  assert.ok(budget.waiting < budget.maxWaiting, 'let in once the leader gave its bytes back');
  // And a new body may wait again.
  const late = new FakeUpload(budget, 3 * MiB, 2 * MiB);
  for (let i = 0; i < 40 && late.outcome === undefined && !late.waiting; i++) late.send(64 * KiB);
  assert.equal(late.waiting, true);
});
