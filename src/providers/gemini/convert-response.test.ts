import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionResponse, CompletionUsage, FinishReason, ResponseMessage } from '../../openai/types.js';
import { CREATED, makeTarget } from '../../../test/providers/codec-harness.js';
import { readGeminiJson } from '../../../test/support/fake-gemini.js';
import { parseGeminiErrorMessage, parseGeminiResponse } from './convert-response.js';

/** Usage as OpenAI reports it: thinking counted in completion and shown as reasoning. */
function usage(prompt: number, candidates: number, thoughts?: number, cached = 0): CompletionUsage {
  const completion = candidates + (thoughts ?? 0);
  const out: CompletionUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
  if (thoughts !== undefined) out.completion_tokens_details = { reasoning_tokens: thoughts };
  return out;
}

function expected(id: string, message: ResponseMessage, finish: FinishReason, u: CompletionUsage): ChatCompletionResponse {
  return { id, object: 'chat.completion', created: CREATED, model: 'gemini-2.5-flash', choices: [{ index: 0, message, finish_reason: finish, logprobs: null }], usage: u };
}

const parse = (name: string, legacyFunctions = false) => parseGeminiResponse(readGeminiJson(`gemini-${name}.response.json`), makeTarget('gemini', { legacyFunctions }));
const paris = '{"location":"Paris","unit":"celsius","days":null}';
/** The 1×1 PNG the image-output fixtures carry. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
/** The thought signature the recorded tool answers carry on their (first) call. */
const SIGNATURE = 'CikB0e2Kb7Lb6YXh1vS0mD+9cQq1y3lNnYxk0ztYBh2wqK/2fXSDYwHGEnUKcQHR7Ypv';

describe('parseGeminiResponse on the fixtures', () => {
  it('text, with thinking tokens as reasoning', () => {
    assert.deepEqual(parse('text'), expected('mPD2aIXJE9ic1dkPxraqqQs', { role: 'assistant', content: 'Hello there! How can I help you today?' }, 'stop', usage(2, 10, 25)));
  });

  it('multi-turn and image', () => {
    assert.deepEqual(parse('multi-turn'), expected('n_D2aKLvJ4Kj1dkP7ZjL8Ak', { role: 'assistant', content: 'Berlin.' }, 'stop', usage(24, 2, 31)));
    assert.deepEqual(parse('image'), expected('o_D2aO2kA8Oe1dkPl6nQqQ4', { role: 'assistant', content: 'The image is a single pixel.' }, 'stop', usage(264, 7, 40)));
  });

  it('tools: text and a call with an id made from the request id; STOP becomes tool_calls', () => {
    assert.deepEqual(
      parse('tools'),
      expected(
        'p_D2aJ6mLIyL1dkPt4rZ8QI',
        { role: 'assistant', content: "I'll look up the weather in Paris.", tool_calls: [{ id: 'call_req123_0', type: 'function', function: { name: 'get_weather', arguments: paris }, extra_content: { google: { thought_signature: SIGNATURE } } }] },
        'tool_calls',
        usage(95, 28, 61),
      ),
    );
  });

  it('parallel-tools: ids by position', () => {
    assert.deepEqual(
      parse('parallel-tools'),
      expected(
        'q_D2aNqYCY6m1dkPwpLs2Q8',
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_req123_0', type: 'function', function: { name: 'get_weather', arguments: paris }, extra_content: { google: { thought_signature: SIGNATURE } } },
            { id: 'call_req123_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo","unit":"celsius","days":null}' } },
          ],
        },
        'tool_calls',
        usage(101, 40, 77),
      ),
    );
  });

  it('tool-result: cached content tokens', () => {
    assert.deepEqual(
      parse('tool-result'),
      expected('r_D2aPzUGM2f1dkP6Knr-Ak', { role: 'assistant', content: 'Paris is cloudy at 18°C, while Tokyo is sunny at 24°C.' }, 'stop', usage(2210, 19, 48, 2048)),
    );
  });

  it('legacy-functions', () => {
    assert.deepEqual(
      parse('legacy-functions', true),
      expected('s_D2aKqPEJGY1dkPn_3V6Ag', { role: 'assistant', content: null, function_call: { name: 'get_weather', arguments: '{"location":"Rome"}' } }, 'function_call', usage(88, 15, 35)),
    );
  });

  it('json-mode, stop and max-tokens', () => {
    assert.deepEqual(parse('json-mode'), expected('t_D2aOu5NpGk1dkP3oSb2Q4', { role: 'assistant', content: '{\n  "name": "Tokyo",\n  "population": 13960000\n}' }, 'stop', usage(14, 20, 102)));
    assert.deepEqual(parse('stop'), expected('u_D2aM7tC5ex1dkP-62Z6Qo', { role: 'assistant', content: '1\n2\n3\n4\n' }, 'stop', usage(12, 8, 30)));
    assert.deepEqual(
      parse('max-tokens'),
      expected('v_D2aJXWM4yN1dkP9_nJgQo', { role: 'assistant', content: 'In the mist-wrapped peaks of Eldermoor, there lived a' }, 'length', usage(9, 16)),
    );
  });

  it("image-output: a generated image is in `message.images` as a data URL (OpenRouter's and LiteLLM's field), beside the text", () => {
    assert.deepEqual(
      parse('image-output'),
      expected('Zk1naPqXB7Sm1dkP8vLJyQ4', { role: 'assistant', content: 'Here is a tiny red square.', images: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }, 'stop', usage(9, 1297)),
    );
  });

  it('prompt-blocked: empty content, content_filter', () => {
    assert.deepEqual(
      parse('prompt-blocked'),
      expected('x_D2aMHsLYqG1dkP4-6Z0Aw', { role: 'assistant', content: '' }, 'content_filter', { prompt_tokens: 9, completion_tokens: 0, total_tokens: 9, prompt_tokens_details: { cached_tokens: 0 } }),
    );
  });
});

describe('parseGeminiResponse edge cases', () => {
  const target = makeTarget('gemini');

  it('gives each candidate its own choice, ordered by index, with distinct call ids', () => {
    const response = parseGeminiResponse(
      {
        candidates: [
          { content: { parts: [{ functionCall: { name: 'f', args: { a: 1 } } }], role: 'model' }, finishReason: 'STOP', index: 1 },
          { content: { parts: [{ text: 'zero' }], role: 'model' }, finishReason: 'STOP', index: 0 },
        ],
      },
      target,
    );
    assert.deepEqual(response.choices, [
      { index: 0, message: { role: 'assistant', content: 'zero' }, finish_reason: 'stop', logprobs: null },
      { index: 1, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_req123_1_0', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'tool_calls', logprobs: null },
    ]);
    assert.equal(response.id, 'chatcmpl-req123');
    assert.equal(response.usage, undefined);
  });

  it('gives thought summaries as reasoning_content, not content, and reports a safety stop without content', () => {
    const response = parseGeminiResponse(
      { candidates: [{ content: { parts: [{ text: 'thinking', thought: true }, { text: '...', thought: true }, { text: 'Answer.' }], role: 'model' }, finishReason: 'STOP' }, { finishReason: 'SAFETY', index: 1 }] },
      target,
    );
    assert.equal(response.choices[0]?.message.content, 'Answer.');
    assert.equal(response.choices[0]?.message.reasoning_content, 'thinking...');
    assert.deepEqual(response.choices[1], { index: 1, message: { role: 'assistant', content: '' }, finish_reason: 'content_filter', logprobs: null });
  });

  it('an answer that is only an image has content "" and the image; an interim image of the model\'s thinking (`thought: true`) is left out', () => {
    const response = parseGeminiResponse(
      {
        candidates: [
          {
            content: { parts: [{ inlineData: { mimeType: 'image/png', data: 'AAAA' }, thought: true }, { inlineData: { mimeType: 'image/jpeg', data: 'BBBB' } }], role: 'model' },
            finishReason: 'STOP',
          },
        ],
      },
      target,
    );
    assert.deepEqual(response.choices[0]?.message, { role: 'assistant', content: '', images: [{ type: 'image_url', image_url: { url: 'data:image/jpeg;base64,BBBB' } }] });
  });

  it('converts log probabilities when they were asked for', () => {
    const response = parseGeminiResponse(
      {
        candidates: [
          {
            content: { parts: [{ text: 'Hi!' }], role: 'model' },
            finishReason: 'STOP',
            logprobsResult: {
              topCandidates: [{ candidates: [{ token: 'Hi', logProbability: -0.1 }, { token: 'Hello', logProbability: -2.5 }] }, { candidates: [{ token: '!', logProbability: -0.01 }] }],
              chosenCandidates: [
                { token: 'Hi', logProbability: -0.1 },
                { token: '!', logProbability: -0.01 },
              ],
            },
          },
        ],
      },
      target,
    );
    assert.deepEqual(response.choices[0]?.logprobs, {
      content: [
        { token: 'Hi', logprob: -0.1, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.1, bytes: [72, 105] }, { token: 'Hello', logprob: -2.5, bytes: [72, 101, 108, 108, 111] }] },
        { token: '!', logprob: -0.01, bytes: [33], top_logprobs: [{ token: '!', logprob: -0.01, bytes: [33] }] },
      ],
      refusal: null,
    });
  });

  // Found by translated-answers.property.test.ts: these came out as choices with index -1, 0.5 or twice 2.
  const stop = { content: { role: 'model', parts: [{ text: 'x' }] }, finishReason: 'STOP' };
  const badIndexes = [{ candidates: [{ ...stop, index: -1 }] }, { candidates: [{ ...stop, index: 0.5 }] }, { candidates: [{ ...stop, index: 2 }, { ...stop, index: 2 }] }];

  it('a usage count that is no count (1e21, 1e308) counts as 0 rather than reaching the client', () => {
    const usage = parseGeminiResponse({ candidates: [stop], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1e308, cachedContentTokenCount: 1e21 } }, target).usage;
    assert.deepEqual(usage, { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3, prompt_tokens_details: { cached_tokens: 0 } });
  });

  it('refuses bodies that are not a GenerateContentResponse', () => {
    for (const body of [null, [], {}, { candidates: 'x' }, { candidates: [{ content: { parts: 'x' } }] }, { candidates: [] }, readGeminiJson('gemini-error-500.json'), ...badIndexes]) {
      assert.throws(
        () => parseGeminiResponse(body, target),
        (error: unknown) => error instanceof GatewayError && error.status === 502 && error.code === 'upstream_error' && error.provider === 'gemini',
      );
    }
  });
});

describe('parseGeminiErrorMessage', () => {
  it('reads status and message from the error fixtures', () => {
    assert.equal(parseGeminiErrorMessage(readGeminiJson('gemini-error-invalid-key.json')), 'INVALID_ARGUMENT: API key not valid. Please pass a valid API key.');
    assert.match(parseGeminiErrorMessage(readGeminiJson('gemini-error-429.json')) ?? '', /^RESOURCE_EXHAUSTED: You exceeded your current quota/);
    assert.equal(parseGeminiErrorMessage(readGeminiJson('gemini-error-503.json')), 'UNAVAILABLE: The model is overloaded. Please try again later.');
    assert.match(parseGeminiErrorMessage(readGeminiJson('gemini-error-401.json')) ?? '', /^UNAUTHENTICATED: /);
    assert.match(parseGeminiErrorMessage(readGeminiJson('gemini-error-500.json')) ?? '', /^INTERNAL: /);
  });

  it('reads the array form and returns undefined for anything else', () => {
    assert.equal(parseGeminiErrorMessage([{ error: { code: 400, message: 'bad', status: 'INVALID_ARGUMENT' } }]), 'INVALID_ARGUMENT: bad');
    assert.equal(parseGeminiErrorMessage({ message: 'x' }), undefined);
    assert.equal(parseGeminiErrorMessage('x'), undefined);
  });
});

describe('Grounding with Google Search', () => {
  const ALJAZEERA = 'https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQHq3aljazeera';
  const UEFA = 'https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQFuefacom';
  const cite = (start: number, end: number, url: string, title: string) => ({ type: 'url_citation', url_citation: { start_index: start, end_index: end, url, title } });

  it('the sources come back as url_citation annotations over the spans they support, and the queries are counted', () => {
    const response = parse('grounding');
    const message = response.choices[0]?.message;
    assert.equal(message?.content, "Spain won Euro 2024, defeating England 2-1 in the final. This victory marks Spain's record fourth European Championship title.");
    assert.deepEqual(message?.annotations, [cite(0, 56, ALJAZEERA, 'aljazeera.com'), cite(57, 126, ALJAZEERA, 'aljazeera.com'), cite(57, 126, UEFA, 'uefa.com')]);
    // The queries themselves travel too (not OpenAI's field): /v1/messages shows them in its server_tool_use block.
    assert.deepEqual(message?.web_search_queries, ['UEFA Euro 2024 winner', 'who won euro 2024']);
    // Search results read count as prompt (toolUsePromptTokenCount); the two queries are billed beside the tokens.
    assert.deepEqual(response.usage, { prompt_tokens: 151, completion_tokens: 29, total_tokens: 180, prompt_tokens_details: { cached_tokens: 0 }, server_tool_use: { web_search_requests: 2 } });
  });

  it('a span found nowhere in the answer, or a source index out of range, is left out rather than placed wrong', () => {
    const body = readGeminiJson('gemini-grounding.response.json') as { candidates: Array<{ groundingMetadata: { groundingSupports: Array<{ segment: { text: string }; groundingChunkIndices: number[] }> } }> };
    const supports = body.candidates[0]?.groundingMetadata.groundingSupports ?? [];
    (supports[0] as { segment: { text: string } }).segment.text = 'Not in the answer.';
    (supports[1] as { groundingChunkIndices: number[] }).groundingChunkIndices = [1, 7];
    const response = parseGeminiResponse(body, makeTarget('gemini'));
    assert.deepEqual(response.choices[0]?.message.annotations, [cite(57, 126, UEFA, 'uefa.com')]);
  });
});

