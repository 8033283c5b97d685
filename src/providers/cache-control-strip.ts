// Anthropic-style `cache_control` markers taken out of an OpenAI chat request: all of them, for an
// OpenAI-format host that refuses fields it does not know (Mistral answers 400 "Extra inputs are
// not permitted"), or only those set on a `role: "tool"` message itself, for OpenRouter, which hangs
// on them without an answer instead of moving them into the tool result.
// Pure; copies only the objects that held a marker, and returns undefined when there was none.
// @see https://github.com/omnimind-ai/OmniBot/issues/301 (Mistral's 400 on a text part's cache_control)
// @see https://github.com/NousResearch/hermes-agent/pull/2391 (OpenRouter's hang on a tool message's marker)
import type { ChatCompletionRequest, ChatMessage, ToolDefinition, CustomToolDefinition, OpenRouterServerTool } from '../openai/types.js';
import { isRecord } from '../json/guards.js';

function without<T extends object>(item: T): T {
  const { cache_control: _marker, ...rest } = item as T & { cache_control?: unknown };
  return rest as T;
}

function hasMarker(item: unknown): boolean {
  return isRecord(item) && item.cache_control !== undefined;
}

function strippedMessage(message: ChatMessage, flattenToolText: boolean): ChatMessage | undefined {
  const content = message.content;
  const partMarked = Array.isArray(content) && content.some(hasMarker);
  if (!partMarked && !hasMarker(message)) return undefined;
  const copy = hasMarker(message) ? without(message) : { ...message };
  if (partMarked) {
    const parts = content.map((part) => (hasMarker(part) ? without(part) : part));
    const only = parts[0];
    copy.content = flattenToolText && message.role === 'tool' && parts.length === 1 && isRecord(only) && only.type === 'text' && typeof only.text === 'string' ? only.text : parts;
  }
  return copy;
}

function strippedTool<T extends ToolDefinition | CustomToolDefinition | OpenRouterServerTool>(tool: T): T | undefined {
  // Only a function tool has a `function` to look in (not a custom tool, openai 6.x, nor OpenRouter's server tools).
  const inner = tool.type === 'function' && hasMarker(tool.function);
  if (!inner && !hasMarker(tool)) return undefined;
  const copy = hasMarker(tool) ? without(tool) : { ...tool };
  if (inner && copy.type === 'function') copy.function = without(copy.function);
  return copy;
}

/**
 * `request` without its markers (on messages, parts, tools, functions, at the top), or undefined when
 * it has none. `flattenToolText`: a tool message left with one text part gets it as its string content
 * (the translation from /v1/messages made that part only to carry a marker, and some hosts take a
 * tool message's content as a string only); a client's own chat request keeps its shape.
 */
export function stripCacheControl(request: ChatCompletionRequest, flattenToolText = false): ChatCompletionRequest | undefined {
  let changed = false;
  const strip = <T>(list: T[] | undefined, one: (item: T) => T | undefined): T[] | undefined => {
    if (!Array.isArray(list)) return list;
    let copy: T[] | undefined;
    list.forEach((item, index) => {
      const stripped = isRecord(item) ? one(item) : undefined;
      if (stripped === undefined) return;
      copy ??= [...list];
      copy[index] = stripped;
    });
    if (copy === undefined) return list;
    changed = true;
    return copy;
  };
  const messages = strip(request.messages, (message) => strippedMessage(message, flattenToolText)) ?? request.messages;
  const tools = strip(request.tools, strippedTool);
  const functions = strip(request.functions, (definition) => (hasMarker(definition) ? without(definition) : undefined));
  if (!changed && request.cache_control === undefined) return undefined;
  const copy = without(request);
  copy.messages = messages;
  if (tools !== undefined) copy.tools = tools;
  if (functions !== undefined) copy.functions = functions;
  return copy;
}

/**
 * `request` without the markers set on tool messages themselves (those on their content parts and
 * everywhere else stay), or undefined when no tool message has one.
 */
export function stripToolMessageMarkers(request: ChatCompletionRequest): ChatCompletionRequest | undefined {
  const messages = request.messages;
  if (!Array.isArray(messages)) return undefined;
  let copy: ChatMessage[] | undefined;
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index];
    if (!isRecord(message) || message.role !== 'tool' || message.cache_control === undefined) continue;
    copy ??= [...messages];
    copy[index] = without(message as ChatMessage);
  }
  return copy === undefined ? undefined : { ...request, messages: copy };
}
