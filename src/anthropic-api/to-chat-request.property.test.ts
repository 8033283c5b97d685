// Property tests: any /v1/messages request the Messages schema accepts becomes a chat request the chat
// schema accepts (so every provider codec can take it), or a 400 naming the param; in lenient mode
// (the Anthropic fast path) only a malformed block's own field is refused. And a conversation with
// tool_use / tool_result keeps its calls and results paired in the chat form.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { acceptedBy, field, shaped } from '../../test/providers/wire-arbitraries.js';
import { GatewayError } from '../errors/gateway-error.js';
import { isRecord } from '../json/guards.js';
import { validateChatRequest } from '../openai/chat-request-schema.js';
import { validateMessagesRequest, type MessagesRequest } from './messages-request.js';
import { toChatRequest, type TranslationOptions } from './to-chat-request.js';

const RUNS = { numRuns: 400, seed: 20261128 };

const words = fc.string({ unit: fc.constantFrom('a', ' ', 'é', '👋', '\n'), maxLength: 5 });
const junk = fc.jsonValue({ maxDepth: 1 });
const toolId = fc.constantFrom('toolu_01', 'toolu_02', 'call.1');
const toolName = fc.constantFrom('get_weather', 'search');

const source = fc.oneof(
  shaped({ type: fc.constant('base64'), media_type: field(fc.constantFrom('image/png', 'application/pdf')), data: field(fc.constant('iVBORw0KGgo=')) }),
  shaped({ type: fc.constant('url'), url: field(fc.constant('https://example.com/a.png')) }),
  shaped({ type: fc.constant('text'), media_type: fc.constant('text/plain'), data: field(words) }),
  shaped({ type: field(fc.constantFrom('file', 'content')), file_id: fc.constant('file_1') }),
);

const block: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 6, arbitrary: shaped({ type: fc.constant('text'), text: field(words), cache_control: fc.constantFrom(undefined, { type: 'ephemeral' }) }) },
  { weight: 2, arbitrary: shaped({ type: fc.constantFrom('image', 'document'), source: field(source), title: fc.constantFrom(undefined, 'doc.pdf') }) },
  { weight: 3, arbitrary: shaped({ type: fc.constant('tool_use'), id: field(toolId), name: field(toolName), input: field(fc.oneof(fc.constant({ city: 'Paris' }), junk)) }) },
  {
    weight: 3,
    arbitrary: shaped({
      type: fc.constant('tool_result'),
      tool_use_id: field(toolId),
      content: fc.oneof(words, fc.constant(undefined), fc.array(fc.oneof(shaped({ type: fc.constant('text'), text: words }), shaped({ type: fc.constant('image'), source }), junk), { maxLength: 2 })),
      is_error: fc.constantFrom(undefined, true, false),
    }),
  },
  { weight: 1, arbitrary: shaped({ type: fc.constantFrom('thinking', 'redacted_thinking', 'server_tool_use', 'web_search_tool_result', 'search_result'), thinking: words, data: words }) },
);

const message = fc.record({ role: fc.constantFrom('user', 'assistant'), content: fc.oneof(words, fc.array(block, { maxLength: 3 })) });

const tool = fc.oneof(
  shaped({ name: toolName, description: fc.constantFrom(undefined, 'Weather.'), input_schema: field(fc.constant({ type: 'object', properties: { city: { type: 'string' } } })), type: fc.constantFrom(undefined, 'custom', null) }),
  shaped({ type: fc.constantFrom('web_search_20250305', 'bash_20250124'), name: fc.constantFrom('web_search', 'bash'), max_uses: fc.constantFrom(undefined, 3), allowed_domains: fc.constantFrom(undefined, [], ['example.com']) }),
);

const messagesRequest: fc.Arbitrary<MessagesRequest> = shaped({
  model: fc.constant('gpt-4o'),
  max_tokens: fc.constantFrom(1, 1024),
  messages: fc.array(message, { minLength: 1, maxLength: 5 }),
  system: fc.constantFrom<unknown>(undefined, '', 'Be brief.', [{ type: 'text', text: 'A' }, { type: 'text', text: '' }], []),
  stream: fc.constantFrom(undefined, true, false),
  stop_sequences: fc.constantFrom(undefined, [], ['END']),
  temperature: fc.constantFrom(undefined, 0, 1),
  top_p: fc.constantFrom(undefined, 0.5),
  top_k: fc.constantFrom(undefined, 5),
  metadata: fc.constantFrom<unknown>(undefined, {}, { user_id: 'u1' }, { user_id: null }, { user_id: '' }),
  tools: fc.option(fc.array(tool, { maxLength: 2 }), { nil: undefined }),
  tool_choice: fc.constantFrom<unknown>(undefined, { type: 'auto' }, { type: 'any', disable_parallel_tool_use: true }, { type: 'tool', name: 'search' }, { type: 'none' }),
  thinking: fc.constantFrom<unknown>(undefined, { type: 'enabled', budget_tokens: 2048 }, { type: 'disabled' }, { type: 'adaptive' }),
  output_config: fc.constantFrom<unknown>(undefined, { effort: 'low' }, { effort: 'max' }, { format: { type: 'json_schema', schema: { type: 'object' } } }, { format: null }),
  service_tier: fc.constantFrom(undefined, 'auto'),
  some_future_field: fc.constantFrom(undefined, { x: 1 }),
}).filter(acceptedBy(validateMessagesRequest)) as unknown as fc.Arbitrary<MessagesRequest>;

const options = fc.record({ reasoning: fc.boolean(), completionTokens: fc.boolean(), lenient: fc.boolean(), webSearch: fc.boolean() }) as fc.Arbitrary<TranslationOptions>;

describe('/v1/messages requests → chat requests, property-based', () => {
  it('any request the Messages schema accepts → a chat request the chat schema accepts, or a 400 naming the param', () => {
    fc.assert(
      fc.property(messagesRequest, options, (request, extra) => {
        let chat: unknown;
        try {
          chat = toChatRequest(structuredClone(request), [], extra).chat;
        } catch (error) {
          if (!(error instanceof GatewayError)) throw error;
          assert.equal(error.status, 400, `${error.code}: ${error.message}`);
          assert.ok(typeof error.param === 'string' && error.param.length > 0, `a 400 without a param: ${error.message}`);
          return;
        }
        // Through JSON, as the pipeline's body would be: undefined fields vanish, as they must.
        const sent: unknown = JSON.parse(JSON.stringify(chat));
        assert.ok(isRecord(sent) && Array.isArray(sent.messages));
        // Lenient mode only counts with the chat form (the client's body goes to Anthropic): it may be empty.
        if (extra.lenient === true && sent.messages.length === 0) return;
        validateChatRequest(sent);
      }),
      RUNS,
    );
  });

  it("every chat message, part and tool call maps to a path of the client's request that holds what it came from", () => {
    /** The value at `messages[2].content[0].tool_use_id` in `value`, undefined when there is none. */
    const at = (value: unknown, path: string): unknown =>
      path
        .split(/\.|(?=\[)/)
        .reduce<unknown>((node, step) => {
          if (node === undefined || node === null || typeof node !== 'object') return undefined;
          const index = /^\[(\d+)\]$/.exec(step);
          return index === null ? (node as Record<string, unknown>)[step] : Array.isArray(node) ? node[Number(index[1])] : undefined;
        }, value);
    /** Whether the client's block is the one a chat part was made of. */
    const carries = (client: unknown, part: Record<string, unknown>): boolean => {
      if (!isRecord(client)) return false;
      const source = isRecord(client.source) ? client.source : {};
      const url = isRecord(part.image_url) ? part.image_url.url : isRecord(part.file) ? part.file.file_data : undefined;
      // A plain-text document becomes a text part.
      if (part.type === 'text') return client.type === 'text' ? client.text === part.text : source.data === part.text;
      return typeof url === 'string' && (url === source.url || url.endsWith(`;base64,${String(source.data)}`));
    };
    // Beside the general requests, user turns of valid blocks only: images in tool results next to text and images of the turn.
    const image = fc.constantFrom({ type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' }, { type: 'url', url: 'https://example.com/a.png' }).map((source) => ({ type: 'image', source }));
    const text = words.map((value) => ({ type: 'text', text: `${value}.` }));
    const result = fc.record({ type: fc.constant('tool_result'), tool_use_id: toolId, content: fc.array(fc.oneof(text, image), { maxLength: 3 }) });
    const resultTurns = fc.array(fc.oneof(text, image, result), { minLength: 1, maxLength: 5 }).map((content) =>
      validateMessagesRequest({ model: 'm', max_tokens: 10, system: 'S', messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'f', input: {} }] }, { role: 'user', content }] }),
    );
    fc.assert(
      fc.property(fc.oneof(messagesRequest, resultTurns), (request) => {
        let translated: ReturnType<typeof toChatRequest>;
        try {
          translated = toChatRequest(structuredClone(request), []);
        } catch {
          return;
        }
        const { chat, params } = translated;
        assert.equal(params.origins.length, chat.messages.length);
        chat.messages.forEach((message, index) => {
          const path = params.map(`messages[${index}]`);
          assert.notEqual(at(request, path), undefined, `messages[${index}] → ${path}`);
          if (message.role === 'tool') assert.equal(at(request, params.map(`messages[${index}].tool_call_id`)), message.tool_call_id);
          if (Array.isArray(message.content)) {
            message.content.forEach((part, partIndex) => {
              const param = `messages[${index}].content[${partIndex}]`;
              assert.ok(carries(at(request, params.map(param)), part as unknown as Record<string, unknown>), `${param} → ${params.map(param)}`);
            });
          }
          (message.role === 'assistant' ? (message.tool_calls ?? []) : []).forEach((call, callIndex) => {
            const client = at(request, params.map(`messages[${index}].tool_calls[${callIndex}]`));
            assert.ok(isRecord(client) && client.type === 'tool_use' && client.id === call.id, `messages[${index}].tool_calls[${callIndex}]`);
          });
        });
      }),
      RUNS,
    );
  });

  it('tool_use / tool_result turns → every tool message answers a call of an assistant message before it', () => {
    const turn = fc.record({ text: words, ids: fc.uniqueArray(toolId, { maxLength: 2 }) });
    fc.assert(
      fc.property(fc.array(turn, { minLength: 1, maxLength: 3 }), (turns) => {
        const messages: Array<Record<string, unknown>> = [];
        for (const { text, ids } of turns) {
          messages.push({ role: 'user', content: text.length > 0 ? text : 'go' });
          messages.push({ role: 'assistant', content: [{ type: 'text', text }, ...ids.map((id) => ({ type: 'tool_use', id, name: 'search', input: {} }))] });
          if (ids.length > 0) messages.push({ role: 'user', content: [...ids.map((id) => ({ type: 'tool_result', tool_use_id: id, content: 'ok' })), { type: 'text', text: 'and?' }] });
        }
        const request = validateMessagesRequest({ model: 'gpt-4o', max_tokens: 10, messages });
        const { chat } = toChatRequest(request, []);
        const open = new Set<string>();
        chat.messages.forEach((entry, index) => {
          if (entry.role === 'assistant') for (const call of entry.tool_calls ?? []) open.add(call.id);
          if (entry.role === 'tool') {
            assert.ok(open.has(entry.tool_call_id ?? ''), `messages[${index}] answers no call`);
            const previous = chat.messages[index - 1];
            assert.ok(previous?.role === 'assistant' || previous?.role === 'tool', `messages[${index}]: a tool message not right after the calls`);
          }
        });
      }),
      RUNS,
    );
  });
});
