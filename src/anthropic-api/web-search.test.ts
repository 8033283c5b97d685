// Claude's web search tool for a model that searches by `web_search_options` (Gemini): the request
// both ways, earlier turns' search blocks, and Gemini's grounded answer (the recorded fixture) as
// Anthropic's search blocks, whole and streamed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collect, makeTarget, sseEvents } from '../../test/providers/codec-harness.js';
import { readGeminiFixture, readGeminiJson } from '../../test/support/fake-gemini.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ToolDefinition } from '../openai/types.js';
import type { AnthropicContentBlock, AnthropicStreamEvent } from '../providers/anthropic/anthropic-wire.js';
import { parseGeminiResponse } from '../providers/gemini/convert-response.js';
import { convertGeminiStream } from '../providers/gemini/convert-stream.js';
import { AnthropicStreamWriter, toAnthropicMessage } from './from-chat.js';
import { validateMessagesRequest } from './messages-request.js';
import { toChatRequest } from './to-chat-request.js';
import { webSearchBlocks } from './web-search.js';

const SEARCH = { type: 'web_search_20250305', name: 'web_search', max_uses: 5 };
const WEATHER = { name: 'weather', input_schema: { type: 'object' } };

function translate(body: Record<string, unknown>, webSearch = true): { chat: ReturnType<typeof toChatRequest>['chat']; warnings: string[]; params: ReturnType<typeof toChatRequest>['params'] } {
  const warnings: string[] = [];
  const { chat, params } = toChatRequest(validateMessagesRequest({ model: 'gemini-2.5-flash', max_tokens: 256, messages: [{ role: 'user', content: 'Who won Euro 2024?' }], ...body }), warnings, { webSearch });
  return { chat, warnings, params };
}

function refusal(body: Record<string, unknown>, webSearch = true): GatewayError {
  try {
    translate(body, webSearch);
  } catch (error) {
    assert.ok(error instanceof GatewayError, String(error));
    return error;
  }
  assert.fail('no 400');
}

describe('the web search tool → web_search_options', () => {
  it('any dated version becomes web_search_options; the other tools keep their places, and their paths', () => {
    for (const type of ['web_search_20250305', 'web_search_20260209']) {
      const { chat, warnings, params } = translate({ tools: [{ ...SEARCH, type }, WEATHER] });
      assert.deepEqual(chat.web_search_options, {});
      assert.deepEqual(chat.tools?.map((tool) => (tool as ToolDefinition).function.name), ['weather']);
      // A 400 about the chat form's first tool names the client's second.
      assert.equal(params.map('tools[0].function.name'), 'tools[1].name');
      assert.deepEqual(warnings, ['tools[0].max_uses: the model decides how to search, ignored']);
    }
  });

  it('user_location is dropped with a warning; domain lists are refused, naming the field; an empty list is none', () => {
    const located = translate({ tools: [{ type: 'web_search_20250305', name: 'web_search', user_location: { type: 'approximate', city: 'Paris' } }] });
    assert.deepEqual(located.warnings, ['tools[0].user_location: the model decides how to search, ignored']);
    assert.equal(located.chat.tools, undefined);
    for (const field of ['allowed_domains', 'blocked_domains']) {
      const error = refusal({ tools: [WEATHER, { ...SEARCH, [field]: ['example.com'] }] });
      assert.equal(error.status, 400);
      assert.equal(error.code, 'unsupported_content');
      assert.equal(error.param, `tools[1].${field}`);
    }
    assert.deepEqual(translate({ tools: [{ ...SEARCH, allowed_domains: [], blocked_domains: null }] }).chat.web_search_options, {});
  });

  it('a choice that forces the search is dropped with a warning; none searches nothing', () => {
    const forced = translate({ tools: [SEARCH], tool_choice: { type: 'tool', name: 'web_search' } });
    assert.equal(forced.chat.tool_choice, undefined);
    assert.deepEqual(forced.chat.web_search_options, {});
    assert.match(forced.warnings.join('\n'), /tool_choice: the model decides itself whether to search, ignored/);
    assert.equal(translate({ tools: [SEARCH], tool_choice: { type: 'any' } }).chat.tool_choice, undefined);
    assert.equal(translate({ tools: [SEARCH, WEATHER], tool_choice: { type: 'any' } }).chat.tool_choice, 'required');
    const none = translate({ tools: [SEARCH], tool_choice: { type: 'none' } }).chat;
    assert.equal(none.web_search_options, undefined);
    assert.equal(none.tool_choice, 'none');
  });

  it('without a model that searches, and for other server tools, the 400 stays', () => {
    assert.equal(refusal({ tools: [SEARCH] }, false).code, 'unsupported_content');
    assert.equal(refusal({ tools: [{ type: 'web_fetch_20250910', name: 'web_fetch' }] }).param, 'tools[0]');
    assert.equal(refusal({ tools: [{ type: 'web_search_20250305', name: 'search' }] }).param, 'tools[0].name');
  });

  it("an earlier turn's search (Claude Code replays them) is text of that turn: what was searched and what it found", () => {
    const { chat } = translate({
      tools: [SEARCH],
      messages: [
        { role: 'user', content: 'Who won Euro 2024?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me search.' },
            { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'euro 2024 winner' } },
            { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [{ type: 'web_search_result', url: 'https://uefa.com/a', title: 'UEFA', encrypted_content: 'sealed', page_age: null }] },
            { type: 'server_tool_use', id: 'srvtoolu_2', name: 'web_search', input: { query: 'euro 2024 final score' } },
            { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_2', content: { type: 'web_search_tool_result_error', error_code: 'max_uses_exceeded' } },
            { type: 'text', text: 'Spain won.', citations: [{ type: 'web_search_result_location', url: 'https://uefa.com/a', title: 'UEFA', cited_text: 'Spain', encrypted_index: 'x' }] },
          ],
        },
        { role: 'user', content: 'Who did they beat?' },
      ],
    });
    assert.deepEqual(chat.messages[1], {
      role: 'assistant',
      content:
        'Let me search.[Web search: "euro 2024 winner"]\n[Web search results:\n- UEFA <https://uefa.com/a>]\n\n[Web search: "euro 2024 final score"]\n[Web search failed: max_uses_exceeded]\n\nSpain won.',
    });
  });
});

const ALJAZEERA = 'https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQHq3aljazeera';
const UEFA = 'https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQFuefacom';
const cite = (text: string, url: string, title: string) => ({ type: 'web_search_result_location', url, title, cited_text: text, encrypted_index: '' });
const FIRST = 'Spain won Euro 2024, defeating England 2-1 in the final.';
const SECOND = "This victory marks Spain's record fourth European Championship title.";

/** What Anthropic's API returns for the fixture's search. */
const SEARCHED: AnthropicContentBlock[] = [
  { type: 'server_tool_use', id: 'srvtoolu_req123', name: 'web_search', input: { query: 'UEFA Euro 2024 winner; who won euro 2024' }, caller: { type: 'direct' } },
  {
    type: 'web_search_tool_result',
    tool_use_id: 'srvtoolu_req123',
    content: [
      { type: 'web_search_result', url: ALJAZEERA, title: 'aljazeera.com', encrypted_content: '', page_age: null },
      { type: 'web_search_result', url: UEFA, title: 'uefa.com', encrypted_content: '', page_age: null },
    ],
    caller: { type: 'direct' },
  },
  { type: 'text', text: FIRST, citations: [cite(FIRST, ALJAZEERA, 'aljazeera.com')] },
  { type: 'text', text: ' ' },
  { type: 'text', text: SECOND, citations: [cite(SECOND, ALJAZEERA, 'aljazeera.com'), cite(SECOND, UEFA, 'uefa.com')] },
];

/** The message a stream's events make, as the SDK's stream helper assembles it (input from its JSON deltas). */
function assemble(list: AnthropicStreamEvent[]): { content: Array<Record<string, unknown>>; usage: unknown } {
  const content: Array<Record<string, unknown>> = [];
  const json = new Map<number, string>();
  let usage: unknown;
  for (const event of list) {
    if (event.type === 'content_block_start') content[event.index] = { ...event.content_block };
    if (event.type === 'message_delta') usage = event.usage;
    if (event.type !== 'content_block_delta') continue;
    const block = content[event.index] as Record<string, unknown>;
    const delta = event.delta;
    if (delta.type === 'text_delta') block.text = String(block.text) + delta.text;
    if (delta.type === 'citations_delta') block.citations = [...((block.citations as unknown[] | undefined) ?? []), delta.citation];
    if (delta.type === 'input_json_delta') json.set(event.index, (json.get(event.index) ?? '') + delta.partial_json);
  }
  for (const [index, text] of json) (content[index] as Record<string, unknown>).input = JSON.parse(text);
  return { content, usage };
}

function events(text: string): AnthropicStreamEvent[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.length > 0)
    .map((frame) => JSON.parse(frame.split('\n')[1]?.slice('data: '.length) ?? '') as AnthropicStreamEvent);
}

describe("Gemini's grounded answer → Anthropic's search blocks", () => {
  it('whole: the search with its queries, the cited pages, the text cut at the cited spans; usage counts the searches', () => {
    const message = toAnthropicMessage(parseGeminiResponse(readGeminiJson('gemini-grounding.response.json'), makeTarget('gemini')), 'req123');
    assert.deepEqual(message.content, SEARCHED);
    assert.equal(message.stop_reason, 'end_turn');
    assert.deepEqual(message.usage.server_tool_use, { web_search_requests: 2, web_fetch_requests: 0 });
  });

  it('streamed: the text is held to the end, then the same blocks as the whole answer, the searches in message_delta', async () => {
    const chunks = await collect(convertGeminiStream(sseEvents(readGeminiFixture('gemini-grounding.chunks.txt')), makeTarget('gemini', { stream: true, includeUsage: true, webSearch: true })));
    const writer = new AnthropicStreamWriter('req123', 'gemini-2.5-flash', true);
    const pushed = chunks.map((chunk) => writer.push(chunk));
    // Nothing of the text leaves before the citations are known.
    assert.ok(pushed.every((frames) => !frames.includes('text_delta')), pushed.join(''));
    const list = events(pushed.join('') + writer.end());
    const { content, usage } = assemble(list);
    assert.deepEqual(content, SEARCHED);
    assert.deepEqual((usage as { server_tool_use?: unknown }).server_tool_use, { web_search_requests: 2, web_fetch_requests: 0 });
    assert.deepEqual(
      list.filter((event) => event.type === 'content_block_start').map((event) => event.index),
      [0, 1, 2, 3, 4],
    );
  });

  it('an answer that searched nothing is plain text, whole and streamed', () => {
    assert.equal(webSearchBlocks('Hi', [], [], 'r'), undefined);
    const writer = new AnthropicStreamWriter('r', 'm', true);
    const chunk = { id: 'c', object: 'chat.completion.chunk' as const, created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: 'stop' as const }] };
    assert.deepEqual(assemble(events(writer.push(chunk) + writer.end())).content, [{ type: 'text', text: 'Hi' }]);
  });
});
