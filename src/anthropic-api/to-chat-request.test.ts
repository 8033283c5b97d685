// Anthropic requests (the recorded requests of the codec fixtures, and hand-written edge cases) → chat.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAnthropicJson } from '../../test/support/fake-anthropic.js';
import { TINY_PNG_BASE64 } from '../../test/providers/openai-cases.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { ToolDefinition } from '../openai/types.js';
import type { MessagesRequest } from './messages-request.js';
import { validateMessagesRequest } from './messages-request.js';
import { MAX_USER_LENGTH, toChatRequest, userId } from './to-chat-request.js';
import { effortForBudget } from '../providers/anthropic/thinking-effort.js';
import { convertAnthropicRequest } from '../providers/anthropic/convert-request.js';
import { makeTarget } from '../../test/providers/codec-harness.js';

function fixture(name: string): MessagesRequest {
  return validateMessagesRequest(readAnthropicJson(`anthropic-${name}.request.json`));
}

function translate(request: MessagesRequest, reasoning = false): { chat: ReturnType<typeof toChatRequest>['chat']; warnings: string[] } {
  const warnings: string[] = [];
  return { chat: toChatRequest(request, warnings, { reasoning }).chat, warnings };
}

const weatherSchema = (readAnthropicJson('anthropic-tools.request.json') as { tools: Array<{ input_schema: unknown }> }).tools[0]?.input_schema;

describe('toChatRequest on the recorded Anthropic requests', () => {
  it('multi-turn: system blocks joined into one system message, metadata.user_id → user', () => {
    const { chat, warnings } = translate(fixture('multi-turn'));
    assert.deepEqual(chat, {
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'You are a terse assistant.\n\nAnswer in English.' },
        { role: 'user', content: 'What is the capital of France?' },
        { role: 'assistant', content: 'Paris.' },
        { role: 'user', content: [{ type: 'text', text: 'And of Germany?' }, { type: 'text', text: 'One word, please.' }] },
      ],
      max_tokens: 100,
      temperature: 0.2,
      user: 'user-123',
    });
    assert.deepEqual(warnings, []);
  });

  it('image: a base64 source becomes a data URL', () => {
    const { chat } = translate(fixture('image'));
    const content = chat.messages[0]?.content as Array<{ type: string; image_url?: { url: string } }>;
    assert.equal(content.find((part) => part.type === 'image_url')?.image_url?.url, `data:image/png;base64,${TINY_PNG_BASE64}`);
  });

  it('image-url: a url source stays a URL', () => {
    const { chat } = translate(fixture('image-url'));
    const content = chat.messages[0]?.content as Array<{ type: string; image_url?: { url: string } }>;
    assert.match(content[1]?.image_url?.url ?? '', /^https:\/\/upload\.wikimedia\.org\//);
  });

  it('tools: input_schema → parameters, tool_choice auto', () => {
    const { chat } = translate(fixture('tools'));
    assert.deepEqual(chat.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Get the current weather for a city.', parameters: weatherSchema as Record<string, unknown> } }]);
    assert.equal(chat.tool_choice, 'auto');
  });

  it('parallel-tools: tool_choice any → required', () => {
    assert.equal(translate(fixture('parallel-tools')).chat.tool_choice, 'required');
  });

  it('tool-result: tool_use → tool_calls, tool_result → tool messages right after', () => {
    const { chat } = translate(fixture('tool-result'));
    assert.deepEqual(chat.messages.slice(1), [
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_paris', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris","unit":"celsius","days":null}' } },
          { id: 'call_tokyo', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Tokyo","unit":"celsius","days":null}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_paris', content: '{"temperature":18,"condition":"cloudy"}' },
      { role: 'tool', tool_call_id: 'call_tokyo', content: 'Sunny, 24°C' },
    ]);
  });

  it('legacy-functions: a tool_result followed by text → a tool message, then the user text', () => {
    const { chat } = translate(fixture('legacy-functions'));
    assert.deepEqual(chat.messages.slice(2), [
      { role: 'tool', tool_call_id: 'toolu_legacy_1', content: '{"temperature":18,"condition":"cloudy"}' },
      { role: 'user', content: 'And in Rome?' },
    ]);
  });

  it('json-mode: a named tool_choice → a named function', () => {
    assert.deepEqual(translate(fixture('json-mode')).chat.tool_choice, { type: 'function', function: { name: 'json_response' } });
  });

  it('stop: stop_sequences → stop', () => {
    assert.deepEqual(translate(fixture('stop')).chat.stop, ['5']);
  });
});

describe('toChatRequest edge cases', () => {
  const base = { model: 'm', max_tokens: 10 };

  it('streams ask for usage; top_k and unknown fields are dropped with a warning', () => {
    const { chat, warnings } = translate(validateMessagesRequest({ ...base, stream: true, top_k: 3, fancy_new_field: 1, service_tier: 'auto', messages: [{ role: 'user', content: 'x' }] }));
    assert.equal(chat.stream, true);
    assert.deepEqual(chat.stream_options, { include_usage: true });
    assert.deepEqual(warnings, ['top_k: no OpenAI-format equivalent, ignored', 'fancy_new_field: only Anthropic models take it, ignored']);
  });

  it('thinking budgets map to reasoning_effort, and thinking itself travels for Claude; replayed thinking blocks become the turn\'s thinking_blocks', () => {
    assert.deepEqual([1024, 8000, 32000].map(effortForBudget), ['low', 'medium', 'high']);
    const withThinking = (type: string) =>
      validateMessagesRequest({ ...base, thinking: { type: 'enabled', budget_tokens: 10000 }, output_config: type === 'effort' ? { effort: 'low' } : undefined, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(translate(withThinking('budget'), true).chat.reasoning_effort, 'medium');
    assert.equal(translate(withThinking('effort'), true).chat.reasoning_effort, 'low');
    const plain = translate(withThinking('budget'), false);
    assert.equal(plain.chat.reasoning_effort, undefined, 'a model not known to reason would refuse the field');
    assert.deepEqual(plain.warnings, ['thinking: the model is not known to reason, ignored']);
    const { chat, warnings } = translate(
      validateMessagesRequest({
        ...base,
        thinking: { type: 'enabled', budget_tokens: 10000 },
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'y' }] },
          { role: 'user', content: 'z' },
        ],
      }),
    );
    // Signed as Claude wrote them: the Claude translation gives them back first in the turn; other models get none.
    assert.deepEqual(chat.messages[1], { role: 'assistant', content: 'y', thinking_blocks: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }] });
    assert.deepEqual(chat.thinking, { type: 'enabled', budget_tokens: 10000 });
    assert.deepEqual(warnings, ['thinking: the model is not known to reason, ignored']);
  });

  it("between_tools (Claude Sonnet 5.5's lowest: no thinking before the answer) travels for Claude, and means no reasoning_effort, as disabled does", () => {
    const between = validateMessagesRequest({ ...base, thinking: { type: 'between_tools' }, messages: [{ role: 'user', content: 'x' }] });
    const { chat, warnings } = translate(between, true);
    assert.deepEqual(chat.thinking, { type: 'between_tools' });
    assert.equal(chat.reasoning_effort, undefined);
    assert.deepEqual(warnings, []);
  });

  it("unsigned thinking (a reasoning model's own, which the proxy translated) goes back as reasoning_content, without a warning", () => {
    // DeepSeek requires it back on a turn with tool calls: 400 "The reasoning_content in the thinking mode must be passed back".
    const { chat, warnings } = translate(
      validateMessagesRequest({
        ...base,
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'I should call the tool.', signature: '' },
              { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
            ],
          },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'Sunny' }] },
        ],
      }),
    );
    assert.deepEqual(chat.messages[1], {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
      reasoning_content: 'I should call the tool.',
    });
    assert.deepEqual(warnings, []);
  });

  it('a tool_result with is_error and images; a PDF document → a file part; plain-text document → text', () => {
    const { chat } = translate(
      validateMessagesRequest({
        ...base,
        messages: [
          { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'shot', input: {} }] },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 't1', is_error: true, content: [{ type: 'text', text: 'failed' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
              { type: 'document', title: 'a.pdf', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' } },
              { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'notes' } },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(chat.messages, [
      { role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'shot', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 't1', content: 'Error: failed' },
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'a.pdf' } },
          { type: 'text', text: 'notes' },
        ],
      },
    ]);
  });

  // OpenAI refuses a file part with file_data and no filename ("Missing required parameter: …file.file_id");
  // a document's title is optional, and Claude Code sends PDFs without one.
  it('a PDF document without a title still gets a filename', () => {
    const { chat } = translate(
      validateMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' } }, { type: 'text', text: 'Sum up.' }] }] }),
    );
    assert.deepEqual(chat.messages[0]?.content, [
      { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'document.pdf' } },
      { type: 'text', text: 'Sum up.' },
    ]);
  });

  it('what only Anthropic takes is refused, or stands as a placeholder in lenient mode', () => {
    const request = validateMessagesRequest({
      ...base,
      tools: [{ type: 'web_search_20250305', name: 'web_search' }],
      messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'file', file_id: 'file_1' } }] }],
    });
    assert.throws(() => toChatRequest(request, []), (error: unknown) => error instanceof GatewayError && error.status === 400 && error.code === 'unsupported_content');
    const lenient = toChatRequest(request, [], { lenient: true });
    assert.equal(lenient.lossy, true);
    assert.equal(lenient.chat.messages.length, 1);
    const fine = toChatRequest(validateMessagesRequest({ ...base, messages: [{ role: 'user', content: 'x' }] }), [], { lenient: true });
    assert.equal(fine.lossy, false);
  });

  it('tool_choice none and disable_parallel_tool_use', () => {
    const tools = [{ name: 'f', input_schema: { type: 'object' } }];
    const none = translate(validateMessagesRequest({ ...base, tools, tool_choice: { type: 'none' }, messages: [{ role: 'user', content: 'x' }] })).chat;
    assert.equal(none.tool_choice, 'none');
    const single = translate(validateMessagesRequest({ ...base, tools, tool_choice: { type: 'auto', disable_parallel_tool_use: true }, messages: [{ role: 'user', content: 'x' }] })).chat;
    assert.equal(single.tool_choice, 'auto');
    assert.equal(single.parallel_tool_calls, false);
  });

  it('validation: the path of the bad field, max_tokens required, count_tokens without it', () => {
    assert.throws(() => validateMessagesRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => error instanceof GatewayError && error.param === 'max_tokens');
    assert.throws(() => validateMessagesRequest({ ...base, temperature: 1.5, messages: [{ role: 'user', content: 'x' }] }), (error: unknown) => error instanceof GatewayError && error.param === 'temperature');
    assert.throws(() => validateMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ text: 'no type' }] }] }), (error: unknown) => error instanceof GatewayError && error.param === 'messages[0].content[0].type');
  });

  it('a block type that is not a string is a type error at its path, in a turn or in a tool_result', () => {
    const isTypeError = (param: string) => (error: unknown) => error instanceof GatewayError && error.status === 400 && error.code === 'invalid_type' && error.param === param;
    for (const type of [true, -0, null]) {
      assert.throws(() => validateMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type, text: 'x' }] }] }), isTypeError('messages[0].content[0].type'), String(type));
      const nested = validateMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type, text: 'x' }] }] }] });
      assert.throws(() => translate(nested), isTypeError('messages[0].content[0].content[0].type'), String(type));
      const source = validateMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type, data: 'AAAA' } }] }] });
      assert.throws(() => translate(source), isTypeError('messages[0].content[0].source.type'), String(type));
    }
    const notBlock = validateMessagesRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [null] }] }] });
    assert.throws(() => translate(notBlock), isTypeError('messages[0].content[0].content[0]'));
  });

  // Found by to-chat-request.property.test.ts: the chat form had no messages, which the chat schema refuses.
  it('turns that are all empty leave no message: a 400 naming messages, unless lenient (the body goes to Anthropic as it came)', () => {
    const empty = validateMessagesRequest({ model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: [] }, { role: 'assistant', content: [] }] });
    assert.throws(
      () => translate(empty),
      (error: unknown) => error instanceof GatewayError && error.status === 400 && error.code === 'invalid_value' && error.param === 'messages',
    );
    assert.deepEqual(toChatRequest(empty, [], { lenient: true }).chat.messages, []);
  });
});

describe('tool names', () => {
  it("two tools of one name: 400 naming the client's second tool, as Anthropic's API answers; the fast path leaves it to Anthropic", () => {
    const tool = (name: string) => ({ name, input_schema: { type: 'object' } });
    const request = validateMessagesRequest({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }], tools: [tool('a'), tool('b'), tool('a')] });
    assert.throws(() => toChatRequest(request, []), (error: unknown) => error instanceof GatewayError && error.code === 'invalid_value' && error.param === 'tools[2].name' && /unique/.test(error.message));
    assert.equal(toChatRequest(request, [], { lenient: true }).chat.tools?.length, 3);
  });
});

describe('cache_control markers', () => {
  const EPHEMERAL = { type: 'ephemeral' };
  const request = (fields: Record<string, unknown>): MessagesRequest => validateMessagesRequest({ model: 'claude-sonnet-4-5', max_tokens: 64, ...fields });

  it('are carried where the chat→Anthropic translation reads them back, and flagged', () => {
    const { chat, marked } = toChatRequest(
      request({
        cache_control: EPHEMERAL,
        system: [{ type: 'text', text: 'Rules.' }, { type: 'text', text: 'Docs.', cache_control: EPHEMERAL }],
        tools: [{ name: 'read', input_schema: { type: 'object' }, cache_control: EPHEMERAL }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: EPHEMERAL }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Reading.' }, { type: 'tool_use', id: 't1', name: 'read', input: {}, cache_control: EPHEMERAL }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'file', cache_control: EPHEMERAL }] },
        ],
      }),
      [],
    );
    assert.equal(marked, true);
    assert.deepEqual(chat.cache_control, EPHEMERAL);
    assert.deepEqual(chat.messages[0], { role: 'system', content: [{ type: 'text', text: 'Rules.' }, { type: 'text', text: 'Docs.', cache_control: EPHEMERAL }] });
    assert.deepEqual(chat.messages[1], { role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: EPHEMERAL }] });
    assert.deepEqual(chat.messages[2]?.cache_control, EPHEMERAL);
    assert.deepEqual(chat.messages[3], { role: 'tool', tool_call_id: 't1', content: [{ type: 'text', text: 'file', cache_control: EPHEMERAL }] });
    assert.deepEqual((chat.tools?.[0] as ToolDefinition | undefined)?.cache_control, EPHEMERAL);
  });

  it('without any, the chat form is as before: joined system text, a single text as a string', () => {
    const { chat, marked } = toChatRequest(
      request({ system: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }], messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] }),
      [],
    );
    assert.equal(marked, false);
    assert.deepEqual(chat.messages, [
      { role: 'system', content: 'A\n\nB' },
      { role: 'user', content: 'Hi' },
    ]);
    assert.equal('cache_control' in chat, false);
  });
});

describe('metadata.user_id', () => {
  it('a short one is the user as it came; a longer one its digest, the same every time', () => {
    assert.equal(userId('user-42'), 'user-42');
    assert.equal(userId('u'.repeat(MAX_USER_LENGTH)), 'u'.repeat(MAX_USER_LENGTH));
    const long = JSON.stringify({ device_id: 'd'.repeat(64), account_uuid: '00000000-0000-4000-8000-000000000000', session_id: 's'.repeat(36) });
    const fitted = userId(long);
    assert.match(fitted, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(userId(long), fitted);
    assert.notEqual(userId(`${long} `), fitted);
    const { chat } = translate({ model: 'm', max_tokens: 10, metadata: { user_id: long }, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(chat.user, fitted);
  });

  it("output_config.effort is carried as it came, for Claude (chatFormFor keeps it for Claude alone)", () => {
    const { chat } = translate({ model: 'm', max_tokens: 10, output_config: { effort: 'max' }, messages: [{ role: 'user', content: 'Hi' }] }, true);
    assert.deepEqual(chat.output_config, { effort: 'max' });
    assert.equal(chat.reasoning_effort, 'high');
  });
});

describe('newer request fields the chat form can or cannot carry', () => {
  const base = { model: 'm', max_tokens: 10, messages: [{ role: 'user' as const, content: 'x' }] };
  const refusedAt = (param: string) => (error: unknown) => error instanceof GatewayError && error.status === 400 && error.code === 'unsupported_content' && error.param === param;

  it("mcp_servers (the model's tools from remote MCP servers): a 400 naming it, not answered without those tools", () => {
    const mcp = validateMessagesRequest({ ...base, mcp_servers: [{ type: 'url', url: 'https://mcp.example.com/sse', name: 'docs' }] });
    assert.throws(() => translate(mcp), refusedAt('mcp_servers'));
    // For Claude (lenient) the body goes as it came; the chat form is marked unfit to send elsewhere.
    const lenient = toChatRequest(mcp, [], { lenient: true });
    assert.equal(lenient.lossy, true);
    // An empty list asks for nothing.
    assert.deepEqual(translate(validateMessagesRequest({ ...base, mcp_servers: [] })).warnings, []);
  });

  it('a strict client tool stays strict (function.strict), and a 400 on it names the client tool', () => {
    const warnings: string[] = [];
    const { chat, params } = toChatRequest(validateMessagesRequest({ ...base, tools: [{ name: 'f', input_schema: { type: 'object' }, strict: true }, { name: 'g', input_schema: { type: 'object' } }] }), warnings);
    const [strict, plain] = (chat.tools ?? []).map((tool) => (tool.type === 'function' ? tool.function : undefined));
    assert.equal(strict?.strict, true);
    assert.equal(params.map('tools[0].function.strict'), 'tools[0].strict');
    assert.equal('strict' in (plain ?? {}), false);
    assert.deepEqual(warnings, []);
  });

  it("the beta's output_format (structured outputs before output_config.format) → json_schema, named as the client sent it in a 400", () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } } };
    const translation = toChatRequest(validateMessagesRequest({ ...base, output_format: { type: 'json_schema', schema } }), []);
    assert.deepEqual(translation.chat.response_format, { type: 'json_schema', json_schema: { name: 'output', schema } });
    assert.equal(translation.params.map('response_format.json_schema.schema.properties'), 'output_format.schema.properties');
    assert.equal(translation.params.map('response_format'), 'output_format');
    const warnings: string[] = [];
    toChatRequest(validateMessagesRequest({ ...base, output_format: { type: 'json_schema', schema } }), warnings);
    assert.deepEqual(warnings, []);
    // output_config.format keeps its own name.
    assert.equal(toChatRequest(validateMessagesRequest({ ...base, output_config: { format: { type: 'json_schema', schema } } }), []).params.map('response_format'), 'output_config.format');
  });
});

describe('documents: what the chat form cannot carry is said', () => {
  const pdf = { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' };
  const text = { type: 'text', media_type: 'text/plain', data: 'The sky is blue.' };

  it("citations, a document's context and a text document's title are dropped with a warning naming the block's field", () => {
    const { chat, warnings } = translate(
      validateMessagesRequest({
        model: 'm',
        max_tokens: 10,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'document', source: pdf, title: 'report.pdf', context: 'Q3 figures', citations: { enabled: true } },
              { type: 'document', source: text, title: 'Sky facts', citations: { enabled: false } },
              { type: 'text', text: 'Summarise with citations.' },
            ],
          },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'read', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'document', source: text, context: 'from disk' }] }] },
        ],
      }),
    );
    assert.deepEqual(warnings, [
      'messages[0].content[0].context: the chat form has no document context, ignored',
      'messages[0].content[0].citations: the chat form has no citations, ignored',
      'messages[0].content[1].title: the chat form has no title for a text document, ignored',
      'messages[2].content[0].content[0].context: the chat form has no document context, ignored',
    ]);
    // The PDF's title is its file name, as before.
    assert.deepEqual((chat.messages[0]?.content as Array<{ type: string; file?: { filename?: string } }>)[0]?.file?.filename, 'report.pdf');
  });

  it('a plain document gives no warning', () => {
    const { warnings } = translate(validateMessagesRequest({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'document', source: pdf }, { type: 'document', source: text, citations: { enabled: false } }] }] }));
    assert.deepEqual(warnings, []);
  });
});

describe("Claude's interleaved thinking in an assistant turn", () => {
  it('a thinking block after a tool_use names that call (after_tool_call_id), so that the Claude translation sends the turn back in its own order', () => {
    const content = (readAnthropicJson('anthropic-interleaved-thinking.response.json') as { content: Array<{ type: string; id?: string }> }).content;
    const results = content.filter((block) => block.type === 'tool_use').map((block) => ({ type: 'tool_result', tool_use_id: block.id, content: 'done' }));
    const request = {
      model: 'claude-opus-4-6',
      max_tokens: 4096,
      thinking: { type: 'adaptive' },
      messages: [{ role: 'user', content: 'Revenue?' }, { role: 'assistant', content }, { role: 'user', content: results }],
    } as unknown as MessagesRequest;
    const { chat } = translate(request, true);
    assert.deepEqual(
      (chat.messages[1]?.thinking_blocks as Array<{ after_tool_call_id?: string }>).map((block) => block.after_tool_call_id),
      [undefined, 'toolu_01InterleavedCalc'],
    );
    assert.deepEqual(convertAnthropicRequest(chat, makeTarget('anthropic', { model: 'claude-opus-4-6' })).messages[1]?.content, content);
  });
});
