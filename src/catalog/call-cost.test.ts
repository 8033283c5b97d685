// The cost of a call and of its budget hold, at and around each built-in long-context threshold.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import builtin from './builtin-models.json' with { type: 'json' };
import { baseRatesAt, callCost, heldCost, heldWrites, MAX_BILLED_SEARCHES, PROVIDER_COUNT_SLACK, webSearchCost, type HeldWrites } from './call-cost.js';
import type { CatalogEntry, CatalogFile } from './catalog-types.js';

const models = (builtin as CatalogFile).models;

function entry(id: string): CatalogEntry {
  const found = models.find((model) => model.id === id);
  assert.ok(found, id);
  return found;
}

/** USD, compared to the cent of a millionth: the sums are of binary fractions. */
function near(actual: number | undefined, expected: number, label: string): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${label}: ${actual} ≠ ${expected}`);
}

const PLAIN: CatalogEntry = {
  id: 'plain',
  name: 'plain',
  provider: 'openai',
  context_length: 128_000,
  max_output_tokens: 4096,
  input_cost: 0.001,
  output_cost: 0.002,
  cached_input_cost: 0.0005,
  supports_chat: true,
  supports_streaming: true,
  capabilities: [],
  modalities: { input: ['text'], output: ['text'] },
  source: { url: 'test', date: '2026-11-28' },
};
const BANDED: CatalogEntry = { ...PLAIN, id: 'banded', long_context: { above_input_tokens: 1000, input_cost: 0.002, output_cost: 0.003, cached_input_cost: 0.001 } };

describe('callCost', () => {
  test('a model without a band is billed at its one price, however long the prompt', () => {
    near(callCost(PLAIN, 10_000_000, 1000, 1000), (9_999_000 * 0.001 + 1000 * 0.0005 + 1000 * 0.002) / 1000, 'plain');
    assert.equal(callCost(undefined, 1, 1), undefined);
    assert.equal(callCost({ ...PLAIN, input_cost: null }, 1, 1), undefined);
  });

  test('at the threshold the base rates apply; one token past it the band bills every token, cached and output too', () => {
    near(callCost(BANDED, 1000, 100, 400), (600 * 0.001 + 400 * 0.0005 + 100 * 0.002) / 1000, 'at');
    near(callCost(BANDED, 1001, 100, 400), (601 * 0.002 + 400 * 0.001 + 100 * 0.003) / 1000, 'past');
  });

  test("a band without a cached price bills cached tokens at the band's input rate, as the base rates do", () => {
    const band = { above_input_tokens: 1000, input_cost: 0.002, output_cost: 0.003 };
    near(callCost({ ...BANDED, long_context: band }, 2000, 0, 1000), (2000 * 0.002) / 1000, 'no cached price');
    near(callCost({ ...BANDED, long_context: null }, 2000, 0, 0), (2000 * 0.001) / 1000, 'band cleared');
  });

  // Each threshold as its provider words it: "more than 272K" (OpenAI), "> 200k" (Google), "over 100,000"
  // (Anthropic), and xAI's "reaches 200k", which bills a prompt of exactly 200,000 at the higher rate.
  const cases: Array<[id: string, threshold: number, input: number, output: number, cached: number]> = [
    ['gpt-5.5', 272_000, 0.01, 0.045, 0.001],
    ['gpt-5.6-terra', 272_000, 0.004, 0.018, 0.0004],
    ['gpt-6-astra', 272_000, 0.02, 0.075, 0.002],
    ['gpt-6.2-sol', 272_000, 0.004, 0.015, 0.0002],
    ['gemini-2.5-pro', 200_000, 0.0025, 0.015, 0.00025],
    ['gemini-3.1-pro-preview', 200_000, 0.004, 0.018, 0.0004],
    ['claude-haiku-5-5', 100_000, 0.0005, 0.0025, 0.00005],
    ['grok-4.20-0309-reasoning', 200_000 - 1, 0.0025, 0.005, 0.0004],
  ];
  for (const [id, threshold, input, output, cached] of cases) {
    test(`${id}: base rates just below and at ${threshold} prompt tokens, the band just above`, () => {
      const model = entry(id);
      const base = (prompt: number) => ((prompt - 1000) * (model.input_cost ?? NaN) + 1000 * (model.cached_input_cost ?? NaN) + 500 * (model.output_cost ?? NaN)) / 1000;
      near(callCost(model, threshold - 1, 500, 1000), base(threshold - 1), 'below');
      near(callCost(model, threshold, 500, 1000), base(threshold), 'at');
      near(callCost(model, threshold + 1, 500, 1000), ((threshold + 1 - 1000) * input + 1000 * cached + 500 * output) / 1000, 'above');
    });
  }
});

describe('callCost with prompt-cache writes', () => {
  const WRITES: CatalogEntry = { ...PLAIN, id: 'writes', cached_input_cost: 0.0001, cache_write_cost: 0.00125, cache_write_1h_cost: 0.002 };

  test('writes are taken off the prompt and billed at their own rates, 5-minute and 1-hour apart', () => {
    // 10,000 prompt tokens: 2,000 read from the cache, 3,000 written (1,000 of them to the 1-hour cache), 5,000 plain.
    near(callCost(WRITES, 10_000, 100, 2000, 3000, 1000), (5000 * 0.001 + 2000 * 0.0001 + 2000 * 0.00125 + 1000 * 0.002 + 100 * 0.002) / 1000, 'mixed');
    // Before, every written token was billed as plain input.
    near(callCost(WRITES, 10_000, 0, 0, 10_000), (10_000 * 0.00125) / 1000, 'all written');
  });

  test('an entry without write prices bills writes as input; without a 1-hour price, 1-hour writes at the 5-minute rate', () => {
    near(callCost(PLAIN, 10_000, 0, 0, 4000, 4000), (10_000 * 0.001) / 1000, 'no write price');
    near(callCost({ ...WRITES, cache_write_1h_cost: null }, 10_000, 0, 0, 4000, 4000), (6000 * 0.001 + 4000 * 0.00125) / 1000, 'no 1-hour price');
  });

  test("past a long-context threshold the band's write prices apply", () => {
    const band = { above_input_tokens: 1000, input_cost: 0.002, output_cost: 0.003, cached_input_cost: 0.0002, cache_write_cost: 0.0025, cache_write_1h_cost: 0.004 };
    near(callCost({ ...WRITES, long_context: band }, 2000, 0, 0, 1000, 500), (1000 * 0.002 + 500 * 0.0025 + 500 * 0.004) / 1000, 'band');
  });

  test('gpt-6.2-sol past 272K: input, reads and writes at 2x, output at 1.5x, for the whole call', () => {
    // 300,000 prompt tokens (100,000 read, 50,000 written) and 2,000 out: $4 / $0.20 / $5 / $15 per million.
    // At the short-prompt rates, as billed before the band, this call came to $0.455.
    near(callCost(entry('gpt-6.2-sol'), 300_000, 2000, 100_000, 50_000), 0.6 + 0.02 + 0.25 + 0.03, 'gpt-6.2-sol');
  });

  test('claude-sonnet-4-6 as Anthropic bills it: reads 0.1x, 5-minute writes 1.25x, 1-hour writes 2x input', () => {
    // $3 / $3.75 / $6 / $0.30 per million: 1M plain + 1M read + 1M written (5m) + 1M written (1h) = $13.05.
    near(callCost(entry('claude-sonnet-4-6'), 4_000_000, 0, 1_000_000, 2_000_000, 1_000_000), 3 + 0.3 + 3.75 + 6, 'sonnet 4.6');
  });

  test('claude-opus-5-5 writes at $5 (5m) and $8 (1h) per million though its reads cost 0.05x input', () => {
    // 1M plain ($4) + 1M read ($0.20) + 1M written 5m ($5) + 1M written 1h ($8) = $17.20; it was $12.20,
    // every write billed as $4 input.
    near(callCost(entry('claude-opus-5-5'), 4_000_000, 0, 1_000_000, 2_000_000, 1_000_000), 4 + 0.2 + 5 + 8, 'opus 5.5');
  });
});

describe('announced price changes', () => {
  const DAY = Date.parse('2026-12-01T00:00:00Z');
  const DATED: CatalogEntry = {
    ...PLAIN,
    id: 'dated',
    price_changes: [
      { from: '2027-03-01', input_cost: 0.008, output_cost: 0.016 },
      { from: '2026-12-01', input_cost: 0.002, output_cost: 0.004, cached_input_cost: 0.001 },
    ],
  };

  test('a call is billed at the rates in force when it started: the change from the start of its UTC day, whatever the list order', () => {
    near(callCost(DATED, 1000, 100, 200, 0, 0, DAY - 1), (800 * 0.001 + 200 * 0.0005 + 100 * 0.002) / 1000, 'last millisecond before');
    near(callCost(DATED, 1000, 100, 200, 0, 0, DAY), (800 * 0.002 + 200 * 0.001 + 100 * 0.004) / 1000, 'first millisecond of the day');
    // The later change leaves the cached rate out: it stays the entry's own.
    near(callCost(DATED, 1000, 100, 200, 0, 0, Date.parse('2027-03-01T00:00:00Z')), (800 * 0.008 + 200 * 0.0005 + 100 * 0.016) / 1000, 'second change');
  });

  test('holds follow the clock too', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: DAY - 1 });
    near(heldCost(DATED, 1000, 100), (1000 * 0.001 + 100 * 0.002) / 1000, 'hold before');
    t.mock.timers.setTime(DAY);
    near(heldCost(DATED, 1000, 100), (1000 * 0.002 + 100 * 0.004) / 1000, 'hold from the day');
    assert.ok(baseRatesAt(DATED, DAY - 1) === DATED);
    assert.deepEqual(baseRatesAt(DATED, DAY), { input_cost: 0.002, output_cost: 0.004, cached_input_cost: 0.001, cache_write_cost: undefined, cache_write_1h_cost: undefined });
  });

  test('an entry with changes costs no date parsing and no new object per call (the hot path)', (t) => {
    const entry: CatalogEntry = { ...DATED, id: 'dated-hot' };
    const first = baseRatesAt(entry, DAY);
    const parse = t.mock.method(Date, 'parse');
    assert.equal(baseRatesAt(entry, DAY), first);
    near(callCost(entry, 1000, 100, 0, 0, 0, DAY), (1000 * 0.002 + 100 * 0.004) / 1000, 'rates from the first read');
    assert.equal(parse.mock.callCount(), 0);
  });

  test('gemini-4-argon doubles on 2026-12-01, as Google announced', () => {
    const argon = entry('gemini-4-argon');
    near(callCost(argon, 1_000_000, 1_000_000, 0, 0, 0, DAY - 1), 2 + 10, 'until November 30');
    near(callCost(argon, 1_000_000, 1_000_000, 0, 0, 0, DAY), 4 + 20, 'from December 1');
  });
});

describe('heldCost', () => {
  test('without a band a hold is the call priced as it would be billed', () => {
    assert.equal(heldCost(PLAIN, 5_000_000, 100), callCost(PLAIN, 5_000_000, 100));
  });

  test('a local count the provider could put past the threshold is held at the band', () => {
    const crossing = Math.floor(1000 / PROVIDER_COUNT_SLACK) + 1;
    near(heldCost(BANDED, crossing, 100), (crossing * 0.002 + 100 * 0.003) / 1000, 'could cross');
    near(heldCost(BANDED, crossing - 1, 100), ((crossing - 1) * 0.001 + 100 * 0.002) / 1000, 'cannot cross');
    const haiku = entry('claude-haiku-5-5');
    near(heldCost(haiku, 80_000, 1000), (80_000 * 0.0005 + 1000 * 0.0025) / 1000, 'haiku 5.5, 80K counted');
  });

  test('a band an operator set below the base rates never shrinks the hold of a prompt that may stay under it', () => {
    const cheap: CatalogEntry = { ...PLAIN, long_context: { above_input_tokens: 1000, input_cost: 0.0001, output_cost: 0.0001 } };
    near(heldCost(cheap, 800, 100), (800 * 0.001 + 100 * 0.002) / 1000, 'base is dearer');
    near(heldCost({ ...cheap, input_cost: null }, 800, 100), (800 * 0.0001 + 100 * 0.0001) / 1000, 'only the band is known');
    // Counted past the threshold already, the call is billed at the band: so is the hold.
    near(heldCost(cheap, 2000, 100), (2000 * 0.0001 + 100 * 0.0001) / 1000, 'past it');
  });
});

describe('holds with prompt-cache writes', () => {
  const MARKED: CatalogEntry = { ...PLAIN, id: 'marked', cache_write_cost: 0.00125, cache_write_1h_cost: 0.002, cache_writes: 'cache_control' };
  const AUTOMATIC: CatalogEntry = { ...PLAIN, id: 'automatic', cache_write_cost: 0.00125, cache_writes: 'always' };

  test('the prompt is held at the write rate the call may be billed: none, 5-minute, 1-hour', () => {
    near(heldCost(MARKED, 10_000, 100, 'none'), (10_000 * 0.001 + 100 * 0.002) / 1000, 'no writes: input');
    near(heldCost(MARKED, 10_000, 100, 'default'), (10_000 * 0.00125 + 100 * 0.002) / 1000, '5-minute writes');
    near(heldCost(MARKED, 10_000, 100, '1h'), (10_000 * 0.002 + 100 * 0.002) / 1000, '1-hour writes');
    // Never less than the call billed with every prompt token written at that rate.
    for (const [writes, hour] of [['default', 0], ['1h', 10_000]] as const) {
      assert.ok((heldCost(MARKED, 10_000, 100, writes) ?? 0) >= (callCost(MARKED, 10_000, 100, 0, 10_000, hour) ?? Infinity) - 1e-12, writes);
    }
  });

  test('the dearer of input and write rates: a write price below input, or a 1-hour price below the 5-minute one, never shrinks a hold', () => {
    near(heldCost({ ...MARKED, cache_write_cost: 0.0005, cache_write_1h_cost: null }, 1000, 0, '1h'), (1000 * 0.001) / 1000, 'write cheaper than input');
    near(heldCost({ ...MARKED, cache_write_1h_cost: 0.0011 }, 1000, 0, '1h'), (1000 * 0.00125) / 1000, '1-hour cheaper than 5-minute');
    // No 1-hour price: 1-hour writes are billed at the 5-minute rate (callCost), and held so.
    near(heldCost(AUTOMATIC, 1000, 0, '1h'), (1000 * 0.00125) / 1000, 'no 1-hour price');
    near(heldCost(PLAIN, 1000, 0, '1h'), (1000 * 0.001) / 1000, 'no write price');
  });

  test("a prompt that may pass a band's threshold is held at the band's write rate", () => {
    const banded: CatalogEntry = { ...AUTOMATIC, long_context: { above_input_tokens: 1000, input_cost: 0.002, output_cost: 0.003, cache_write_cost: 0.0025 } };
    const crossing = Math.floor(1000 / PROVIDER_COUNT_SLACK) + 1;
    near(heldCost(banded, crossing, 100, 'default'), (crossing * 0.0025 + 100 * 0.003) / 1000, 'could cross');
    near(heldCost(banded, crossing - 1, 100, 'default'), ((crossing - 1) * 0.00125 + 100 * 0.002) / 1000, 'cannot cross');
    near(heldCost(entry('gpt-5.6-sol'), 200_000, 0, heldWrites(entry('gpt-5.6-sol'), () => 'none')), 200_000 * 0.0125 / 1000, 'gpt-5.6-sol, 200K counted');
  });

  test("a marked-only model writes what the request marks; an automatic one (or one that says nothing) may write any prompt", () => {
    let walks = 0;
    const marks = (found: HeldWrites) => () => {
      walks++;
      return found;
    };
    assert.equal(heldWrites(MARKED, marks('none')), 'none');
    assert.equal(heldWrites(MARKED, marks('1h')), '1h');
    assert.equal(walks, 2);
    assert.equal(heldWrites(AUTOMATIC, marks('none')), 'default');
    assert.equal(heldWrites({ ...AUTOMATIC, cache_writes: undefined }, marks('none')), 'default');
    // No write price anywhere: the request is not walked (the hot path of most models).
    assert.equal(heldWrites(PLAIN, marks('1h')), 'none');
    assert.equal(heldWrites({ ...PLAIN, cache_writes: 'cache_control' }, marks('1h')), 'none');
    assert.equal(heldWrites(undefined, marks('1h')), 'none');
    assert.equal(walks, 2);
    // A write price in a band or an announced change counts as one.
    assert.equal(heldWrites({ ...PLAIN, long_context: { above_input_tokens: 10, input_cost: 1, output_cost: 1, cache_write_cost: 2 } }, marks('none')), 'default');
    assert.equal(heldWrites({ ...PLAIN, price_changes: [{ from: '2027-01-01', input_cost: 1, output_cost: 1, cache_write_1h_cost: 2 }] }, marks('none')), 'default');
  });

  test('the built-in Claude models write only what is marked, OpenAI\'s GPT-5.6+ every prompt: a Sonnet 4.6 hold is input without marks, 2x with a 1-hour one', () => {
    const sonnet = entry('claude-sonnet-4-6');
    near(heldCost(sonnet, 1_000_000, 0, heldWrites(sonnet, () => 'none')), 3, 'unmarked: $3 input');
    near(heldCost(sonnet, 1_000_000, 0, heldWrites(sonnet, () => 'default')), 3.75, '5-minute marker');
    near(heldCost(sonnet, 1_000_000, 0, heldWrites(sonnet, () => '1h')), 6, '1-hour marker');
    near(heldCost(entry('anthropic/claude-sonnet-4.5'), 100_000, 0, heldWrites(entry('anthropic/claude-sonnet-4.5'), () => 'none')), 0.3, 'OpenRouter Claude unmarked');
    // Far below its 272K band (a local count the provider's cannot take past it): $2.50 per 1M written; past it the band's $5.
    near(heldCost(entry('gpt-6.2-sol'), 100_000, 0, heldWrites(entry('gpt-6.2-sol'), () => 'none')), 0.25, 'GPT-6.2 Sol: every prompt may be written');
    near(heldCost(entry('gpt-6.2-sol'), 1_000_000, 0, heldWrites(entry('gpt-6.2-sol'), () => 'none')), 5, 'GPT-6.2 Sol past its band');
  });
});

describe('webSearchCost', () => {
  test("Claude's searches $10 per 1,000; Gemini 3 and later $14 per 1,000 queries; Gemini 2.5 and before $35 per 1,000 grounded prompts", () => {
    near(webSearchCost(entry('claude-sonnet-4-6'), 3), 0.03, 'claude, 3 searches');
    near(webSearchCost(entry('gemini-3-flash-preview'), 3), 0.042, 'gemini 3, 3 queries');
    near(webSearchCost(entry('gemini-2.5-flash'), 3), 0.035, 'gemini 2.5, one grounded prompt of 3 queries');
    near(webSearchCost(entry('gemini-2.5-flash'), 1), 0.035, 'gemini 2.5, one query');
    // A Gemini name without a generation (an alias) is taken as the newest kind.
    near(webSearchCost({ ...entry('gemini-3-flash-preview'), id: 'gemini-flash-latest' }, 2), 0.028, 'gemini alias');
    for (const id of ['claude-sonnet-4-6', 'gemini-2.5-flash', 'gemini-3-flash-preview']) near(webSearchCost(entry(id), 0), 0, `${id}, no search`);
  });

  test('a count past the cap is billed as the cap, and one that is no positive number as nothing; a hold of no bound (Infinity) is the cap', () => {
    for (const searches of [MAX_BILLED_SEARCHES + 1, 1e9, Infinity]) near(webSearchCost(entry('claude-sonnet-4-6'), searches), 10, `claude, ${searches}`);
    near(webSearchCost(entry('gemini-3-flash-preview'), Infinity), 1.4, 'gemini 3, 100 queries at most');
    near(webSearchCost(entry('gemini-2.5-flash'), Infinity), 0.035, 'gemini 2.5, one grounded prompt');
    // What an OpenAI-format host may report: its usage reaches the bill unchecked.
    for (const bad of [Number.NaN, -5, '3' as unknown as number, null as unknown as number]) near(webSearchCost(entry('claude-sonnet-4-6'), bad), 0, `claude, ${String(bad)}`);
  });
});

