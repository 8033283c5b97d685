// Claude's web search tool on /v1/messages served by Gemini (Claude Code's WebSearch sends it): the
// tool becomes Grounding with Google Search, the grounded answer comes back as Anthropic's search
// blocks (server_tool_use, web_search_tool_result, cited text) that the official SDK parses, whole
// and streamed, and the searches are billed on the usage record. Models that cannot search keep the 400.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeAnthropic, type FakeAnthropic } from '../support/fake-anthropic.js';
import { startFakeGemini, type FakeGemini } from '../support/fake-gemini.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fake-openai.js';
import { CLIENT_KEY, eventually, startGateway, UPSTREAM_KEY, type Gateway } from '../support/gateway-harness.js';

/** The fixture (gemini-grounding): 11 prompt + 140 search-result tokens in, 29 out, one grounded prompt on Gemini 2.5. */
const COST = (151 * 0.0003 + 29 * 0.0025) / 1000 + 0.035;
const ALJAZEERA = 'https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQHq3aljazeera';
const UEFA = 'https://vertexaisearch.cloud.google.com/grounding-api-redirect/AUZIYQFuefacom';
const SEARCH: Anthropic.WebSearchTool20250305 = { type: 'web_search_20250305', name: 'web_search', max_uses: 5 };
const REQUEST: Anthropic.MessageCreateParamsNonStreaming = { model: 'gemini-2.5-flash', max_tokens: 512, tools: [SEARCH], messages: [{ role: 'user', content: 'Who won Euro 2024?' }] };

describe('/v1/messages: the web search tool on Gemini', () => {
  let gemini: FakeGemini;
  let openai: FakeOpenAi;
  let anthropic: FakeAnthropic;
  let gateway: Gateway;
  let client: Anthropic;

  before(async () => {
    [gemini, openai, anthropic] = await Promise.all([startFakeGemini(), startFakeOpenAi({ apiKey: UPSTREAM_KEY }), startFakeAnthropic()]);
    gemini.respondWith('grounding');
    gateway = await startGateway(
      {
        GEMINI_API_KEY: UPSTREAM_KEY,
        GEMINI_BASE_URL: gemini.url,
        OPENAI_API_KEY: UPSTREAM_KEY,
        OPENAI_BASE_URL: `${openai.url}/v1`,
        ANTHROPIC_API_KEY: UPSTREAM_KEY,
        ANTHROPIC_BASE_URL: anthropic.url,
        LLM_PROXY_RPM: '0',
      },
      {
        configure: (config) =>
          void (config.models = [
            // A Gemini group whose fallback cannot search: the tool cannot be served by every deployment.
            { name: 'gemini-or-gpt', deployments: [{ provider: 'gemini', model: 'gemini-2.5-flash' }], fallbacks: ['gpt-4o'] },
            // Claude with a Gemini fallback: both search.
            { name: 'claude-or-gemini', deployments: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }], fallbacks: ['gemini-2.5-flash'] },
          ]),
      },
    );
    client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gateway.url, maxRetries: 0 });
  });
  after(async () => {
    await gateway?.close();
    await Promise.all([gemini?.close(), openai?.close(), anthropic?.close()]);
  });

  test('the SDK gets the search, its pages and the cited text, whole and streamed, and each call is billed its search', async () => {
    const from = gateway.usage.recent().length;
    const { data: message, response } = await client.messages.create(REQUEST).withResponse();
    assert.deepEqual((gemini.requests.at(-1)?.body as { tools?: unknown }).tools, [{ googleSearch: {} }]);
    assert.match(response.headers.get('x-llm-proxy-warnings') ?? '', /tools\[0\]\.max_uses: the model decides how to search, ignored/);
    assert.deepEqual(
      message.content.map((block) => block.type),
      ['server_tool_use', 'web_search_tool_result', 'text', 'text', 'text'],
    );
    const [use, result, first] = message.content;
    assert.ok(use?.type === 'server_tool_use' && result?.type === 'web_search_tool_result' && first?.type === 'text');
    assert.equal(use.name, 'web_search');
    assert.deepEqual(use.input, { query: 'UEFA Euro 2024 winner; who won euro 2024' });
    assert.equal(result.tool_use_id, use.id);
    assert.ok(Array.isArray(result.content));
    assert.deepEqual(
      result.content.map((page) => [page.type, page.url, page.title, page.encrypted_content, page.page_age]),
      [
        ['web_search_result', ALJAZEERA, 'aljazeera.com', '', null],
        ['web_search_result', UEFA, 'uefa.com', '', null],
      ],
    );
    assert.deepEqual(first.citations, [
      { type: 'web_search_result_location', url: ALJAZEERA, title: 'aljazeera.com', cited_text: 'Spain won Euro 2024, defeating England 2-1 in the final.', encrypted_index: '' },
    ]);
    assert.equal(message.stop_reason, 'end_turn');
    assert.deepEqual(message.usage.server_tool_use, { web_search_requests: 2, web_fetch_requests: 0 });

    const stream = client.messages.stream({ ...REQUEST, stream: true });
    const starts: string[] = [];
    stream.on('streamEvent', (event) => {
      if (event.type === 'content_block_start') starts.push(event.content_block.type);
    });
    const streamed = await stream.finalMessage();
    assert.deepEqual(starts, ['server_tool_use', 'web_search_tool_result', 'text', 'text', 'text']);
    // The same blocks, but for the search's id (the request's).
    const ids = (content: unknown, id: string) => JSON.parse(JSON.stringify(content).replaceAll(id, 'ID')) as unknown;
    const streamedUse = streamed.content[0];
    assert.ok(streamedUse?.type === 'server_tool_use');
    assert.deepEqual(ids(streamed.content, streamedUse.id), ids(message.content, use.id), 'the stream helper assembles the same blocks');
    assert.deepEqual(streamed.usage.server_tool_use, { web_search_requests: 2, web_fetch_requests: 0 });

    const records = () => gateway.usage.recent().slice(from);
    await eventually(() => records().length >= 2);
    for (const record of records()) {
      assert.equal(record.endpoint, 'messages');
      assert.ok(Math.abs((record.cost ?? 0) - COST) < 1e-12, `${record.stream ? 'streamed' : 'plain'}: ${record.cost} ≠ ${COST}`);
    }
  });

  test('an answer that searches and calls a tool streams its blocks in the order of the whole answer: search, cited text, then the call', async () => {
    gemini.respondWith('grounding-tools');
    try {
      const tool: Anthropic.Tool = { name: 'save_note', description: 'Save a note.', input_schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } };
      const request: Anthropic.MessageCreateParamsNonStreaming = { ...REQUEST, model: 'gemini-3-flash-preview', tools: [SEARCH, tool] };
      const message = await client.messages.create(request);
      const order = ['server_tool_use', 'web_search_tool_result', 'text', 'tool_use'];
      assert.deepEqual(
        message.content.map((block) => block.type),
        order,
      );
      assert.equal(message.stop_reason, 'tool_use');
      const stream = client.messages.stream({ ...request, stream: true });
      const starts: string[] = [];
      stream.on('streamEvent', (event) => {
        if (event.type === 'content_block_start') starts.push(event.content_block.type);
      });
      const streamed = await stream.finalMessage();
      assert.deepEqual(starts, order, 'streamed in the same order as the whole answer (and as Claude sends it)');
      // The same blocks, but for the ids the proxy makes from each request's id (the search's `srvtoolu_<id>`, the call's).
      const ids = (content: Anthropic.ContentBlock[]) => {
        const first = content[0];
        assert.ok(first?.type === 'server_tool_use');
        return JSON.parse(JSON.stringify(content).replaceAll(first.id.replace(/^srvtoolu_/, ''), 'ID')) as unknown;
      };
      assert.deepEqual(ids(streamed.content), ids(message.content));
      assert.equal(streamed.stop_reason, 'tool_use');
    } finally {
      gemini.respondWith('grounding');
    }
  });

  test("earlier turns' search blocks reach Gemini as text of their turn", async () => {
    await client.messages.create({
      ...REQUEST,
      messages: [
        { role: 'user', content: 'Who won Euro 2024?' },
        {
          role: 'assistant',
          content: [
            { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'euro 2024 winner' } },
            { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [{ type: 'web_search_result', url: 'https://uefa.com/a', title: 'UEFA', encrypted_content: 'sealed' }] },
            { type: 'text', text: 'Spain won.', citations: [{ type: 'web_search_result_location', url: 'https://uefa.com/a', title: 'UEFA', cited_text: 'Spain', encrypted_index: 'x' }] },
          ],
        },
        { role: 'user', content: 'Who did they beat?' },
      ],
    });
    const contents = (gemini.requests.at(-1)?.body as { contents: Array<{ role: string; parts: Array<{ text?: string }> }> }).contents;
    assert.deepEqual(contents[1], { role: 'model', parts: [{ text: '[Web search: "euro 2024 winner"]\n[Web search results:\n- UEFA <https://uefa.com/a>]\n\nSpain won.' }] });
  });

  test('a domain list, a model that cannot search, or a fallback that cannot: the 400, before any call', async () => {
    const calls = gemini.requests.length + openai.requests.length;
    const refused = async (body: Anthropic.MessageCreateParamsNonStreaming, pattern: RegExp): Promise<void> => {
      const error = await client.messages.create(body).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof Anthropic.BadRequestError, String(error));
      assert.match(error.message, pattern);
    };
    await refused({ ...REQUEST, tools: [{ ...SEARCH, allowed_domains: ['uefa.com'] }] }, /tools\[0\]\.allowed_domains.*limited to domains/);
    await refused({ ...REQUEST, model: 'gpt-4o' }, /the server tool 'web_search_20250305' is only available with Anthropic models/);
    await refused({ ...REQUEST, model: 'gemini-or-gpt' }, /the server tool 'web_search_20250305' is only available with Anthropic models/);
    assert.equal(gemini.requests.length + openai.requests.length, calls);
  });

  test('Claude with a Gemini fallback: Claude gets the tool as it came, and when Claude fails Gemini searches', async () => {
    anthropic.respondWith('web-search');
    const request = { ...REQUEST, model: 'claude-or-gemini' };
    const native = await client.messages.create(request);
    assert.deepEqual((anthropic.requests.at(-1)?.body as { tools?: unknown }).tools, [SEARCH]);
    assert.equal(native.usage.server_tool_use?.web_search_requests, 2);
    const before = gemini.requests.length;
    for (let index = 0; index < 4; index++) anthropic.enqueue({ kind: 'error', status: 529 });
    const fallback = await client.messages.create(request);
    assert.equal(gemini.requests.length, before + 1);
    assert.deepEqual((gemini.requests.at(-1)?.body as { tools?: unknown }).tools, [{ googleSearch: {} }]);
    assert.deepEqual(
      fallback.content.map((block) => block.type),
      ['server_tool_use', 'web_search_tool_result', 'text', 'text', 'text'],
    );
  });
});
