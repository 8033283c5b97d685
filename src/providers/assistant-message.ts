// The assistant message a translated provider's answer becomes, the same for every translator.
import type { ResponseMessage, ToolCall } from '../openai/types.js';
import { legacyFunctionCall } from './legacy-functions.js';

/**
 * `content` is null only when the answer is tool calls alone (OpenAI's shape). A client that asked
 * with legacy `functions` gets the first call as `function_call`, which holds only one.
 */
export function assistantMessage(text: string, sawText: boolean, toolCalls: ToolCall[], legacyFunctions: boolean): ResponseMessage {
  const message: ResponseMessage = { role: 'assistant', content: sawText || toolCalls.length === 0 ? text : null };
  const legacyCall = legacyFunctions ? legacyFunctionCall(toolCalls) : undefined;
  if (legacyCall !== undefined) message.function_call = legacyCall;
  else if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}
