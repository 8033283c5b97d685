import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { csvCell, describeFigures } from './usage-analytics.js';

describe('usage analytics formatting', () => {
  test('CSV cells are quoted when needed and never start a formula', () => {
    assert.equal(csvCell('gpt-4'), 'gpt-4');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('line\nbreak'), '"line\nbreak"');
    assert.equal(csvCell('=1+1'), "'=1+1");
    assert.equal(csvCell('+cmd'), "'+cmd");
    assert.equal(csvCell('-2'), "'-2");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvCell(-2), '-2');
    assert.equal(csvCell(null), '');
  });

  test('figures: averages and rates from sums, none for no requests', () => {
    const empty = describeFigures({ requests: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, cost: 0, errors: 0, cacheHits: 0, latencyMsSum: 0, latencyMsMax: 0 });
    assert.equal(empty.avg_latency_ms, null);
    assert.equal(empty.error_rate, 0);
    const some = describeFigures({ requests: 3, promptTokens: 10, completionTokens: 5, cachedTokens: 2, cost: 0.1 + 0.2, errors: 1, cacheHits: 1, latencyMsSum: 100, latencyMsMax: 60 });
    assert.deepEqual(some, { requests: 3, prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, cached_tokens: 2, cost: 0.3, errors: 1, error_rate: 0.3333, cache_hits: 1, avg_latency_ms: 33.3, max_latency_ms: 60 });
  });
});
