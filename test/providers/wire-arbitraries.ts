// fast-check generators for upstream answers: shaped like the Anthropic and Gemini wire formats,
// with any field now and then missing, null, or some other JSON value, token counts that are
// negative, fractional or huge, and block types nobody documented. The translators must turn each
// into a well-formed OpenAI answer or a 502, never a TypeError or a NaN.
import fc from 'fast-check';

type Fields = Record<string, fc.Arbitrary<unknown>>;

const junk = fc.jsonValue({ maxDepth: 2 });

/** The right value mostly; else missing (undefined, dropped by `shaped`), null, or any JSON value. */
export function field<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 12, arbitrary },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: junk },
  );
}

/** An object of `fields`, the undefined ones left out, as JSON.parse would make it. */
export function shaped(fields: Fields): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(fields).map((record) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)));
}

/** Counts as upstreams have sent them, and as they should never: negative, fractional, past 2^53, infinite (JSON's 1e999). */
export const tokenCount: fc.Arbitrary<number> = fc.oneof(
  { weight: 8, arbitrary: fc.nat(200_000) },
  { weight: 1, arbitrary: fc.integer({ min: -1_000_000, max: -1 }) },
  { weight: 1, arbitrary: fc.constantFrom(-0, 0.5, 1.5, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, Number.MAX_VALUE, Infinity) },
);

export const text = fc.string({ unit: 'grapheme', maxLength: 12 });

// ---- Anthropic ----

const ANTHROPIC_STOP_REASONS = ['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal', 'model_context_window_exceeded', 'something_new'];

export const anthropicUsage = shaped({
  input_tokens: field(tokenCount),
  output_tokens: field(tokenCount),
  cache_read_input_tokens: field(tokenCount),
  cache_creation_input_tokens: field(tokenCount),
  cache_creation: field(shaped({ ephemeral_5m_input_tokens: field(tokenCount), ephemeral_1h_input_tokens: field(tokenCount) })),
});

const toolName = fc.oneof(fc.constantFrom('get_weather', 'json_response', ''), text);

export const anthropicBlock: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: shaped({ type: fc.constant('text'), text: field(text) }) },
  { weight: 3, arbitrary: shaped({ type: fc.constant('tool_use'), id: field(fc.constantFrom('toolu_1', 'toolu_2', '')), name: field(toolName), input: field(junk) }) },
  { weight: 1, arbitrary: shaped({ type: fc.constantFrom('thinking', 'redacted_thinking', 'server_tool_use', 'web_search_tool_result', 'brand_new', ''), thinking: field(text) }) },
  { weight: 1, arbitrary: junk },
);

export const anthropicMessage = shaped({
  id: field(fc.constantFrom('msg_01', '')),
  type: field(fc.constant('message')),
  role: field(fc.constant('assistant')),
  model: field(text),
  content: field(fc.array(anthropicBlock, { maxLength: 5 })),
  stop_reason: field(fc.constantFrom(...ANTHROPIC_STOP_REASONS)),
  stop_sequence: field(text),
  usage: field(anthropicUsage),
});

const blockIndex = field(fc.oneof({ weight: 6, arbitrary: fc.nat(3) }, { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, 1e9) }));

const anthropicDelta = fc.oneof(
  shaped({ type: fc.constant('text_delta'), text: field(text) }),
  shaped({ type: fc.constant('input_json_delta'), partial_json: field(fc.constantFrom('{"a":', '1}', '', '{}')) }),
  shaped({ type: fc.constantFrom('thinking_delta', 'signature_delta', 'citations_delta', 'new_delta'), thinking: field(text) }),
);

/** One stream event's JSON (before `data:`), any of the documented types and some that are not. */
export const anthropicEvent: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 1, arbitrary: shaped({ type: fc.constant('message_start'), message: field(anthropicMessage) }) },
  { weight: 4, arbitrary: shaped({ type: fc.constant('content_block_start'), index: blockIndex, content_block: field(anthropicBlock) }) },
  { weight: 6, arbitrary: shaped({ type: fc.constant('content_block_delta'), index: blockIndex, delta: field(anthropicDelta) }) },
  { weight: 2, arbitrary: shaped({ type: fc.constant('content_block_stop'), index: blockIndex }) },
  {
    weight: 2,
    arbitrary: shaped({
      type: fc.constant('message_delta'),
      delta: field(shaped({ stop_reason: field(fc.constantFrom(...ANTHROPIC_STOP_REASONS)), stop_sequence: field(text) })),
      usage: field(anthropicUsage),
    }),
  },
  { weight: 1, arbitrary: shaped({ type: fc.constantFrom('ping', 'message_stop', 'future_event') }) },
  { weight: 1, arbitrary: shaped({ type: fc.constant('error'), error: field(shaped({ type: field(fc.constantFrom('overloaded_error', 'rate_limit_error', 'api_error', 'odd_error')), message: field(text) })) }) },
  { weight: 1, arbitrary: junk },
);

/** A stream as Anthropic sends it (message_start first, message_stop last), each end sometimes missing. */
export const anthropicStream = fc
  .tuple(fc.boolean(), anthropicMessage, fc.array(anthropicEvent, { maxLength: 12 }), fc.boolean())
  .map(([start, message, events, stop]) => [...(start ? [{ type: 'message_start', message }] : []), ...events, ...(stop ? [{ type: 'message_stop' }] : [])]);

// ---- Gemini ----

const GEMINI_FINISH_REASONS = ['STOP', 'MAX_TOKENS', 'SAFETY', 'RECITATION', 'MALFORMED_FUNCTION_CALL', 'OTHER', 'FINISH_REASON_UNSPECIFIED', 'NEW_REASON', ''];

export const geminiUsage = shaped({
  promptTokenCount: field(tokenCount),
  candidatesTokenCount: field(tokenCount),
  cachedContentTokenCount: field(tokenCount),
  thoughtsTokenCount: field(tokenCount),
  toolUsePromptTokenCount: field(tokenCount),
  totalTokenCount: field(tokenCount),
});

const geminiPart: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: shaped({ text: field(text), thought: field(fc.boolean()) }) },
  { weight: 3, arbitrary: shaped({ functionCall: field(shaped({ name: field(toolName), args: field(junk) })), thoughtSignature: field(text) }) },
  { weight: 1, arbitrary: shaped({ inlineData: field(shaped({ mimeType: field(text), data: field(text) })) }) },
  { weight: 1, arbitrary: junk },
);

const logprobsCandidate = shaped({ token: field(text), tokenId: field(fc.nat()), logProbability: field(fc.double({ min: -100, max: 0, noNaN: true })) });

export const geminiCandidate = shaped({
  content: field(shaped({ role: field(fc.constant('model')), parts: field(fc.array(geminiPart, { maxLength: 4 })) })),
  finishReason: field(fc.constantFrom(...GEMINI_FINISH_REASONS)),
  index: field(fc.oneof({ weight: 6, arbitrary: fc.nat(2) }, { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, 1e9) })),
  logprobsResult: field(
    shaped({
      chosenCandidates: field(fc.array(field(logprobsCandidate), { maxLength: 3 })),
      topCandidates: field(fc.array(field(shaped({ candidates: field(fc.array(field(logprobsCandidate), { maxLength: 2 })) })), { maxLength: 3 })),
    }),
  ),
});

export const geminiResponse = shaped({
  candidates: field(fc.array(geminiCandidate, { maxLength: 3 })),
  promptFeedback: field(shaped({ blockReason: field(fc.constantFrom('SAFETY', 'OTHER', 'BLOCKLIST')) })),
  usageMetadata: field(geminiUsage),
  responseId: field(fc.constantFrom('resp_1', '')),
  modelVersion: field(text),
});

/** One stream event: a partial response, now and then an error status or something else. */
export const geminiEvent: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 10, arbitrary: geminiResponse },
  { weight: 1, arbitrary: shaped({ error: field(shaped({ code: field(fc.constantFrom(429, 500, 503, 400, 7)), message: field(text), status: field(text) })) }) },
  { weight: 1, arbitrary: junk },
);

// ---- OpenAI format (what pass-through hosts answer, unchecked) ----

export const openAiUsage = shaped({
  prompt_tokens: field(tokenCount),
  completion_tokens: field(tokenCount),
  total_tokens: field(tokenCount),
  prompt_tokens_details: field(shaped({ cached_tokens: field(tokenCount), cache_write_tokens: field(tokenCount) })),
});

const FINISH = ['stop', 'length', 'tool_calls', 'content_filter', 'function_call', 'other'];

const openAiToolCall = shaped({
  index: field(fc.nat(2)),
  id: field(fc.constantFrom('call_1', 'call_2', '')),
  type: field(fc.constant('function')),
  function: field(shaped({ name: field(toolName), arguments: field(fc.constantFrom('{"a":1}', '{"a":', '1}', '', 'not json', '[]')) })),
});

/** A chat.completion (`message`, DeepSeek's `reasoning_content`) or a chunk (`delta`, OpenRouter's `reasoning`). */
function openAiAnswer(object: string, body: 'message' | 'delta'): fc.Arbitrary<Record<string, unknown>> {
  const inner = shaped({
    role: field(fc.constant('assistant')),
    content: field(text),
    refusal: field(text),
    [body === 'message' ? 'reasoning_content' : 'reasoning']: field(text),
    tool_calls: field(fc.array(openAiToolCall, { maxLength: 2 })),
    function_call: field(shaped({ name: field(toolName), arguments: field(fc.constantFrom('{}', 'x', '{"a"', ':1}')) })),
  });
  return shaped({
    id: field(fc.constantFrom('chatcmpl-1', 'msg_1', '')),
    object: field(fc.constant(object)),
    created: field(fc.nat()),
    model: field(fc.constantFrom('gpt-x', '')),
    choices: fc.array(shaped({ index: field(fc.nat(1)), [body]: field(inner), finish_reason: field(fc.constantFrom(...FINISH)) }), { maxLength: 2 }),
    usage: field(openAiUsage),
  });
}

export const openAiCompletion = openAiAnswer('chat.completion', 'message');
export const openAiChunk = openAiAnswer('chat.completion.chunk', 'delta');

/** A filter keeping what `validate` accepts: the HTTP layer refuses the rest with its own 400 before any translator runs. */
export function acceptedBy(validate: (body: unknown) => unknown): (value: unknown) => boolean {
  return (value) => {
    try {
      validate(value);
      return true;
    } catch {
      return false;
    }
  };
}

/**
 * Runs `convert`; a throw is allowed (the pipeline answers it with a 502: the conversion of a
 * pass-through answer that is not one), anything returned is held to `check`.
 */
export function checkUnlessThrows<T>(convert: () => T, check: (value: T) => void): void {
  let value: T;
  try {
    value = convert();
  } catch {
    return;
  }
  check(value);
}
