// Property tests of the OpenAI-format family's request path: the outgoing body is the client's request
// with only the model name and the usage request changed, and the cache_control strip (for hosts that
// refuse the field) takes out every marker, changes nothing else and never touches the client's object.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { makeTarget } from '../../test/providers/codec-harness.js';
import { chatRequest } from '../../test/providers/request-arbitraries.js';
import { isRecord } from '../json/guards.js';
import { stripCacheControl } from './cache-control-strip.js';
import { convertOpenAiRequest } from './openai-compatible.js';

const RUNS = { numRuns: 400, seed: 20261128 };

/** The request as JSON text would carry it, every `cache_control` key on the strip's levels removed. */
function withoutMarkers(value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutMarkers(item, depth + 1));
  if (!isRecord(value) || depth > 4) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'cache_control').map(([key, item]) => [key, key === 'parameters' ? item : withoutMarkers(item, depth + 1)]));
}

describe('OpenAI-format requests, property-based', () => {
  it('the outgoing body is the request with the upstream model, and include_usage when streaming to a host that takes it', () => {
    fc.assert(
      fc.property(chatRequest, fc.constantFrom('some-model', 'upstream-name'), fc.boolean(), fc.boolean(), (request, model, stream, streamOptions) => {
        const sent = JSON.parse(convertOpenAiRequest(request, makeTarget('gemini', { provider: 'openai', model, stream }), streamOptions)) as Record<string, unknown>;
        const expected = JSON.parse(JSON.stringify(request)) as Record<string, unknown>;
        expected.model = model;
        if (stream && streamOptions) expected.stream_options = { ...(isRecord(expected.stream_options) ? expected.stream_options : {}), include_usage: true };
        assert.deepEqual(sent, expected);
      }),
      RUNS,
    );
  });

  it('stripCacheControl takes out every marker and nothing else, and leaves the client’s request as it was', () => {
    const marked = chatRequest.map((request) => ({ ...request, cache_control: { type: 'ephemeral' } }));
    fc.assert(
      fc.property(fc.oneof(chatRequest, marked), (request) => {
        const before = JSON.stringify(request);
        const stripped = stripCacheControl(request);
        assert.equal(JSON.stringify(request), before, 'the client’s request was changed');
        const json = JSON.parse(before) as unknown;
        if (stripped === undefined) {
          assert.deepEqual(withoutMarkers(json), json, 'markers left in a request said to have none');
          return;
        }
        assert.deepEqual(JSON.parse(JSON.stringify(stripped)), withoutMarkers(json));
      }),
      RUNS,
    );
  });
});
