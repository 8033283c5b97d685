import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionResponse, ResponseMessage } from '../../openai/types.js';
import { CREATED, makeTarget } from '../../../test/providers/codec-harness.js';
import { readAnthropicJson } from '../../../test/support/fake-anthropic.js';
import type { AnthropicMessage } from './anthropic-wire.js';
import { convertAnthropicUsage, parseAnthropicErrorMessage, parseAnthropicResponse } from './convert-response.js';

function expected(id: string, message: ResponseMessage, finish: string, usage: [number, number, number]): ChatCompletionResponse {
  const [prompt, completion, cached] = usage;
  return {
    id,
    object: 'chat.completion',
    created: CREATED,
    model: 'claude-sonnet-4-5',
    choices: [{ index: 0, message, finish_reason: finish as ChatCompletionResponse['choices'][number]['finish_reason'], logprobs: null }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } },
  };
}

const parse = (name: string, legacyFunctions = false) => parseAnthropicResponse(readAnthropicJson(`anthropic-${name}.response.json`), makeTarget('anthropic', { legacyFunctions }));

describe('parseAnthropicResponse on the fixtures', () => {
  it('text', () => {
    assert.deepEqual(parse('text'), expected('msg_01XFDUDYJgAACzvnptvVoYEL', { role: 'assistant', content: 'Hello! How can I help you today?' }, 'stop', [8, 12, 0]));
  });

  it('multi-turn: cache reads and writes count as prompt tokens, reads as cached', () => {
    assert.deepEqual(parse('multi-turn'), expected('msg_01B8MeJHrDpVCzbpSZzuPVtF', { role: 'assistant', content: 'Berlin.' }, 'stop', [21 + 1024, 5, 1024]));
  });

  it('image and image-url', () => {
    assert.deepEqual(parse('image'), expected('msg_01Ewe9W5Cp2ANDYxPdUbQ3ro', { role: 'assistant', content: 'The image is a single transparent pixel.' }, 'stop', [24, 11, 0]));
    assert.deepEqual(
      parse('image-url'),
      expected('msg_01FtkJ5Mnc8rQHbcKBAyzH7W', { role: 'assistant', content: 'Two dice on a checkered background, one of them semi-transparent.' }, 'stop', [1563, 17, 0]),
    );
  });

  it('tools: text and a tool call in one turn', () => {
    assert.deepEqual(
      parse('tools'),
      expected(
        'msg_01Aq9w938a90dw8q',
        {
          role: 'assistant',
          content: "I'll check the current weather in Paris for you.",
          tool_calls: [{ id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris","unit":"celsius","days":null}' } }],
        },
        'tool_calls',
        [612, 88, 0],
      ),
    );
  });

  it('parallel-tools: two calls, no text', () => {
    assert.deepEqual(
      parse('parallel-tools'),
      expected(
        'msg_01Q8Faay6S7QPTvEUUQARt7h',
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'toolu_01Lcq2WmSZrDuA2jrSfDAqAF', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris","unit":"celsius","days":null}' } },
            { id: 'toolu_01VNzT4mLvKXbtzqUD8zfKk4', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo","unit":"celsius","days":null}' } },
          ],
        },
        'tool_calls',
        [620, 120, 0],
      ),
    );
  });

  it('tool-result', () => {
    assert.deepEqual(
      parse('tool-result'),
      expected('msg_01JbQEHGVbo5oVFHZy6HBszJ', { role: 'assistant', content: 'Paris is cloudy at 18°C, while Tokyo is sunny at 24°C.' }, 'stop', [780, 24, 0]),
    );
  });

  it('legacy-functions: function_call and finish_reason function_call', () => {
    assert.deepEqual(
      parse('legacy-functions', true),
      expected('msg_01NRLTGSHwZc3ZUsnhyrDEz8', { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"location":"Rome"}' } }, 'function_call', [402, 53, 0]),
    );
  });

  it('json-mode: the forced tool call becomes the content, finishing with stop', () => {
    assert.deepEqual(parse('json-mode'), expected('msg_01PZTquvVN5TRg3BXHaHnRyB', { role: 'assistant', content: '{"name":"Tokyo","population":13960000}' }, 'stop', [455, 41, 0]));
  });

  it('stop and max-tokens', () => {
    // The stop sequence Claude ended on is kept in vLLM's field, for /v1/messages' stop_sequence.
    const stopped = expected('msg_01UbBwbwGFsEh2Rrq7RWaakE', { role: 'assistant', content: '1\n2\n3\n4\n' }, 'stop', [20, 9, 0]);
    (stopped.choices[0] as { stop_reason?: string }).stop_reason = '5';
    assert.deepEqual(parse('stop'), stopped);
    assert.deepEqual(
      parse('max-tokens'),
      expected('msg_01GqHfyR3AcbqWnBX89P8tbv', { role: 'assistant', content: 'In the mist-wrapped peaks of Eldermoor, there lived a dragon named' }, 'length', [16, 16, 0]),
    );
  });
});

describe('parseAnthropicResponse edge cases', () => {
  const base = readAnthropicJson('anthropic-text.response.json') as Record<string, unknown>;

  it('reports a refusal as content_filter', () => {
    const response = parseAnthropicResponse({ ...base, stop_reason: 'refusal', content: [] }, makeTarget('anthropic'));
    assert.equal(response.choices[0]?.finish_reason, 'content_filter');
    assert.equal(response.choices[0]?.message.content, '');
  });

  it('leaves thinking blocks out of the content', () => {
    const content = [
      { type: 'thinking', thinking: 'Let me think.', signature: 'sig' },
      { type: 'redacted_thinking', data: 'xxx' },
      { type: 'text', text: 'Done.', citations: null },
    ];
    assert.equal(parseAnthropicResponse({ ...base, content }, makeTarget('anthropic')).choices[0]?.message.content, 'Done.');
  });

  it('makes an id when the provider sent an empty one', () => {
    assert.equal(parseAnthropicResponse({ ...base, id: '' }, makeTarget('anthropic')).id, 'chatcmpl-req123');
  });

  it('refuses bodies that are not a message', () => {
    for (const body of [null, 'text', { type: 'message' }, { ...base, usage: {} }, { ...base, content: [1] }, readAnthropicJson('anthropic-error-500.json')]) {
      assert.throws(
        () => parseAnthropicResponse(body, makeTarget('anthropic')),
        (error: unknown) => error instanceof GatewayError && error.status === 502 && error.code === 'upstream_error' && error.provider === 'anthropic',
      );
    }
  });
});

describe('web search answers', () => {
  it("a cited text block's web search citations become url_citation annotations over its span; the search blocks have no OpenAI field", () => {
    const answer = parseAnthropicResponse(readAnthropicJson('anthropic-web-search.response.json'), makeTarget('anthropic'));
    const message = answer.choices[0]?.message;
    const first = 'Today in Paris ';
    const cited = 'it is 12°C with light rain in the afternoon.';
    assert.equal(message?.content, first + cited);
    assert.deepEqual(message?.annotations, [
      { type: 'url_citation', url_citation: { start_index: first.length, end_index: first.length + cited.length, url: 'https://weather.example.com/paris', title: 'Paris forecast' } },
    ]);
    assert.equal(message?.tool_calls, undefined);
    assert.deepEqual(answer.usage?.server_tool_use, { web_search_requests: 2 });
  });
});

describe('convertAnthropicUsage', () => {
  it('cache reads and writes: all in prompt_tokens, reads as cached_tokens, writes (and their 1-hour part) apart', () => {
    const usage = convertAnthropicUsage((readAnthropicJson('anthropic-cache-write.response.json') as AnthropicMessage).usage);
    assert.deepEqual(usage, {
      prompt_tokens: 21 + 2000 + 3000,
      completion_tokens: 5,
      total_tokens: 5026,
      prompt_tokens_details: { cached_tokens: 2000, cache_write_tokens: 3000, cache_write_1h_tokens: 1000 },
    });
  });

  it('no writes: no write fields; a 1-hour count larger than the writes is held to them', () => {
    assert.deepEqual(convertAnthropicUsage({ input_tokens: 8, output_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }).prompt_tokens_details, { cached_tokens: 0 });
    const capped = convertAnthropicUsage({ input_tokens: 8, output_tokens: 1, cache_creation_input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 500 } });
    assert.deepEqual(capped.prompt_tokens_details, { cached_tokens: 0, cache_write_tokens: 100, cache_write_1h_tokens: 100 });
  });

  it("Claude's thinking tokens (output_tokens_details) are the answer's reasoning_tokens, inside completion_tokens as in OpenAI's usage", () => {
    const usage = convertAnthropicUsage({ input_tokens: 20, output_tokens: 300, output_tokens_details: { thinking_tokens: 240 } });
    assert.deepEqual(usage, { prompt_tokens: 20, completion_tokens: 300, total_tokens: 320, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 240 } });
    assert.equal(convertAnthropicUsage({ input_tokens: 20, output_tokens: 5, output_tokens_details: { thinking_tokens: 9 } }).completion_tokens_details?.reasoning_tokens, 5);
    assert.equal(convertAnthropicUsage({ input_tokens: 20, output_tokens: 5, output_tokens_details: null }).completion_tokens_details, undefined);
    assert.equal(convertAnthropicUsage({ input_tokens: 20, output_tokens: 5, output_tokens_details: { thinking_tokens: 0 } }).completion_tokens_details, undefined);
  });

  it("Claude's web searches (server_tool_use.web_search_requests) are kept for billing; a count past 1,000 is taken as 1,000", () => {
    assert.deepEqual(convertAnthropicUsage({ input_tokens: 20, output_tokens: 5, server_tool_use: { web_search_requests: 2, web_fetch_requests: 1 } }).server_tool_use, { web_search_requests: 2 });
    assert.equal(convertAnthropicUsage({ input_tokens: 20, output_tokens: 5, server_tool_use: { web_search_requests: 0 } }).server_tool_use, undefined);
    assert.equal(convertAnthropicUsage({ input_tokens: 20, output_tokens: 5, server_tool_use: { web_search_requests: -3 } }).server_tool_use, undefined);
    assert.deepEqual(convertAnthropicUsage({ input_tokens: 20, output_tokens: 5, server_tool_use: { web_search_requests: 1e12 } }).server_tool_use, { web_search_requests: 1000 });
  });

  // Found by translated-answers.property.test.ts: the cache counts were taken as sent.
  it('a negative, infinite or absurd cache count counts as 0: no negative cached_tokens, no null total', () => {
    const negative = convertAnthropicUsage({ input_tokens: 0, output_tokens: 0, cache_read_input_tokens: -1 });
    assert.deepEqual(negative, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, prompt_tokens_details: { cached_tokens: 0 } });
    const huge = convertAnthropicUsage({ input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 1e308, cache_read_input_tokens: Infinity });
    assert.deepEqual(JSON.parse(JSON.stringify(huge)), { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, prompt_tokens_details: { cached_tokens: 0 } });
  });
});

describe('parseAnthropicErrorMessage', () => {
  it('reads type and message from every error fixture', () => {
    assert.equal(parseAnthropicErrorMessage(readAnthropicJson('anthropic-error-401.json')), 'authentication_error: invalid x-api-key');
    assert.equal(parseAnthropicErrorMessage(readAnthropicJson('anthropic-error-529.json')), 'overloaded_error: Overloaded');
    assert.match(parseAnthropicErrorMessage(readAnthropicJson('anthropic-error-429.json')) ?? '', /^rate_limit_error: This request would exceed/);
    assert.match(parseAnthropicErrorMessage(readAnthropicJson('anthropic-error-400.json')) ?? '', /^invalid_request_error: max_tokens/);
    assert.equal(parseAnthropicErrorMessage(readAnthropicJson('anthropic-error-500.json')), 'api_error: Internal server error');
  });

  it('returns undefined for bodies without a message', () => {
    assert.equal(parseAnthropicErrorMessage('<html>'), undefined);
    assert.equal(parseAnthropicErrorMessage({ error: 'x' }), undefined);
    assert.equal(parseAnthropicErrorMessage(null), undefined);
  });
});
