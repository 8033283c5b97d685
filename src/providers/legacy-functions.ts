// OpenAI's legacy function calling (`functions`, `function_call`, `function` messages) in the tools
// style every provider takes now, and an answer in tools back in the legacy style the client asked
// in (one call: `message.function_call`, finish_reason `function_call`). Shared by the translators
// (Anthropic, Gemini) and the OpenAI-format hosts that take only tools (Mistral). Pure.
import { invalidValue } from '../errors/gateway-error.js';
import type {
  ChatCompletionChunk,
  ChatCompletionChunkChoice,
  ChatCompletionRequest,
  ChatCompletionResponse,
  ChatMessage,
  FinishReason,
  FunctionCall,
  FunctionCallChoice,
  ResponseMessage,
  ToolCall,
  ToolChoice,
  ToolDefinition,
} from '../openai/types.js';
import { isRecord } from '../json/guards.js';

/** Whether the client asked in the legacy style (and so is answered in it). */
export function usesLegacyFunctions(request: ChatCompletionRequest): boolean {
  return request.functions !== undefined || request.function_call !== undefined;
}

/** `function_call` as the `tool_choice` it means: `auto`, `none`, or the named function; undefined when unset. */
export function toolChoiceOfFunctionCall(choice: FunctionCallChoice | undefined | null): ToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto' || choice === 'none') return choice;
  if (isRecord(choice) && typeof choice.name === 'string') return { type: 'function', function: { name: choice.name } };
  throw invalidValue('function_call', "expected 'auto', 'none' or {name}");
}

/** A finish the tools style reports, in the legacy style: `tool_calls` is `function_call`. */
export function legacyFinishReason<T extends FinishReason | null>(reason: T): T | 'function_call' {
  return reason === 'tool_calls' ? 'function_call' : reason;
}

/** The one call the legacy style has room for: the first of the answer's. */
export function legacyFunctionCall(calls: readonly ToolCall[]): FunctionCall | undefined {
  const first = calls[0];
  return first === undefined ? undefined : { name: first.function.name, arguments: first.function.arguments };
}

/**
 * The messages with the legacy turns in the tools style, or undefined when there are none: an
 * assistant `function_call` becomes a call with the id `callId(message index)`, and a `function`
 * message the `tool` message answering the latest call of its name (400 `invalid_value` when no
 * earlier call has that name: nothing to answer).
 */
function toolMessages(messages: readonly ChatMessage[], callId: (index: number) => string): ChatMessage[] | undefined {
  let converted: ChatMessage[] | undefined;
  const calls = new Map<string, string>();
  messages.forEach((message, index) => {
    if (!isRecord(message)) return;
    let replaced: ChatMessage | undefined;
    if (message.role === 'assistant' && isRecord(message.function_call) && typeof message.function_call.name === 'string') {
      const { function_call: call, ...rest } = message;
      const id = callId(index);
      calls.set(call.name, id);
      const previous = Array.isArray(rest.tool_calls) ? rest.tool_calls : [];
      replaced = { ...rest, tool_calls: [...previous, { id, type: 'function', function: { name: call.name, arguments: typeof call.arguments === 'string' ? call.arguments : '' } }] };
    } else if (message.role === 'function') {
      const id = typeof message.name === 'string' ? calls.get(message.name) : undefined;
      if (id === undefined) throw invalidValue(`messages[${index}].name`, 'a function message must name an earlier assistant function_call');
      replaced = { role: 'tool', tool_call_id: id, name: message.name, content: message.content ?? '' };
    }
    if (replaced === undefined) return;
    converted ??= [...messages];
    converted[index] = replaced;
  });
  return converted;
}

/**
 * `request` in the tools style, for a host that takes no legacy fields: `functions` appended to
 * `tools`, `function_call` as `tool_choice` (the client's own `tool_choice` wins), the legacy turns
 * of the conversation as tool calls and results (ids from `callId`). Undefined when it has none.
 */
export function convertLegacyFunctionsToTools(request: ChatCompletionRequest, callId: (index: number) => string): ChatCompletionRequest | undefined {
  const messages = Array.isArray(request.messages) ? toolMessages(request.messages, callId) : undefined;
  const functions = request.functions;
  const choice = request.function_call;
  if (messages === undefined && functions === undefined && choice === undefined) return undefined;
  const { functions: _functions, function_call: _choice, ...rest } = request;
  const converted: ChatCompletionRequest = { ...rest };
  if (messages !== undefined) converted.messages = messages;
  if (Array.isArray(functions) && functions.length > 0) {
    const tools: ToolDefinition[] = functions.map((definition) => ({ type: 'function', function: definition }));
    converted.tools = [...(request.tools ?? []), ...tools];
  }
  const mapped = toolChoiceOfFunctionCall(choice);
  if (mapped !== undefined && (request.tool_choice === undefined || request.tool_choice === null)) converted.tool_choice = mapped;
  return converted;
}

/** An answer message in the tools style, in the legacy style: its first call as `function_call`, `tool_calls` gone. */
function legacyMessage(message: ResponseMessage): ResponseMessage {
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls.filter((call) => isRecord(call) && isRecord(call.function)) : [];
  const call = legacyFunctionCall(calls);
  if (call === undefined) return message;
  const { tool_calls: _calls, ...rest } = message;
  return { ...rest, function_call: call };
}

/** A whole answer in the tools style, in the legacy style the client asked in. */
export function convertAnswerToLegacy(response: ChatCompletionResponse): ChatCompletionResponse {
  return {
    ...response,
    choices: response.choices.map((choice) => (isRecord(choice) && isRecord(choice.message) ? { ...choice, message: legacyMessage(choice.message), finish_reason: legacyFinishReason(choice.finish_reason) } : choice)),
  };
}

/**
 * A stream's chunks in the tools style, in the legacy style: each choice's first call (the first
 * `tool_calls` index it streams) as `function_call` deltas; later calls are left out, as the
 * translators leave them out (the legacy style holds one call).
 */
export async function* convertChunksToLegacy(chunks: AsyncIterable<ChatCompletionChunk>): AsyncGenerator<ChatCompletionChunk> {
  /** Each choice's first call index. */
  const firsts = new Map<number, number>();
  for await (const chunk of chunks) {
    if (chunk.choices.some((choice) => Array.isArray(choice.delta?.tool_calls) || choice.finish_reason === 'tool_calls')) {
      chunk.choices = chunk.choices.map((choice) => legacyChoice(choice, firsts));
    }
    yield chunk;
  }
}

function legacyChoice(choice: ChatCompletionChunkChoice, firsts: Map<number, number>): ChatCompletionChunkChoice {
  const finish = legacyFinishReason(choice.finish_reason);
  const deltas = choice.delta?.tool_calls;
  if (!Array.isArray(deltas)) return finish === choice.finish_reason ? choice : { ...choice, finish_reason: finish };
  const { tool_calls: _deltas, ...delta } = choice.delta;
  for (const call of deltas) {
    if (!isRecord(call) || typeof call.index !== 'number') continue;
    const first = firsts.get(choice.index) ?? call.index;
    firsts.set(choice.index, first);
    if (call.index !== first || !isRecord(call.function)) continue;
    // One delta may hold more than one fragment of the call: joined, its name kept.
    const name = typeof call.function.name === 'string' ? call.function.name : delta.function_call?.name;
    const fragment = typeof call.function.arguments === 'string' ? call.function.arguments : '';
    delta.function_call = { ...(name === undefined ? {} : { name }), arguments: (delta.function_call?.arguments ?? '') + fragment };
  }
  return { ...choice, delta, finish_reason: finish };
}
