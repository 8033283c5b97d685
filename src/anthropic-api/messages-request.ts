// The inbound Anthropic Messages request (`POST /v1/messages`, `/v1/messages/count_tokens`): its
// types, built on the upstream wire types of src/providers/anthropic/anthropic-wire.ts, and its
// TypeBox schema (compiled once), whose failures become 400s with `param` as the path.
// @see https://docs.anthropic.com/en/api/messages
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { MAX_OUTPUT_TOKENS_CEILING, validateAgainst } from '../openai/chat-request-schema.js';
import type {
  AnthropicBase64PdfSource,
  AnthropicContentBlockParam,
  AnthropicMessagesRequest,
  AnthropicTextBlockParam,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicUrlSource,
} from '../providers/anthropic/anthropic-wire.js';

/** `document` sources beyond the base64 PDF the upstream codec builds: plain text and a PDF URL. */
export interface InboundDocumentBlock {
  type: 'document';
  source: AnthropicBase64PdfSource | AnthropicUrlSource | { type: 'text'; media_type: 'text/plain'; data: string } | { type: string };
  title?: string | null;
  context?: string | null;
}

/** Assistant turns replayed with their thinking (extended thinking, tool loops). */
export interface InboundThinkingBlock {
  type: 'thinking';
  thinking: string;
  signature?: string;
}

export interface InboundRedactedThinkingBlock {
  type: 'redacted_thinking';
  data: string;
}

/** Blocks the translation does not know (server tool results, search results, …). */
export interface InboundOtherBlock {
  type: string;
  [field: string]: unknown;
}

export type InboundContentBlock = AnthropicContentBlockParam | InboundDocumentBlock | InboundThinkingBlock | InboundRedactedThinkingBlock | InboundOtherBlock;

export interface InboundMessageParam {
  /** `system` in the conversation: the SDK's MessageParam includes SystemMessageParam (text only). */
  role: 'user' | 'assistant' | 'system';
  content: string | InboundContentBlock[];
}

/**
 * Client tools have an `input_schema`; server tools (`web_search_20250305`, `bash_…`) a versioned
 * `type`, and toolsets (`computer_toolset_20260801`, `browser_toolset_20260801`) no `name` at all.
 */
export type InboundTool = (AnthropicTool & { type?: 'custom' | null; cache_control?: unknown }) | { type: string; name?: string; [field: string]: unknown };

export type InboundThinking = { type: 'enabled'; budget_tokens: number } | { type: 'disabled' } | { type: 'adaptive' } | { type: string };

export interface MessagesRequest extends Omit<AnthropicMessagesRequest, 'messages' | 'tools' | 'system' | 'tool_choice' | 'max_tokens' | 'thinking' | 'output_config'> {
  messages: InboundMessageParam[];
  /** Required by /v1/messages, absent from count_tokens. */
  max_tokens?: number;
  system?: string | AnthropicTextBlockParam[];
  tools?: InboundTool[];
  tool_choice?: AnthropicToolChoice;
  top_k?: number;
  thinking?: InboundThinking;
  output_config?: { effort?: string | null; format?: { type: 'json_schema'; schema: Record<string, unknown> } | null };
  service_tier?: string;
  /** Anthropic adds fields; the translation warns about those it drops. */
  [field: string]: unknown;
}

const open = { additionalProperties: true } as const;
const Block = Type.Object({ type: Type.String({ minLength: 1 }) }, open);

const MessageSchema = Type.Object(
  {
    role: Type.Union([Type.Literal('user'), Type.Literal('assistant'), Type.Literal('system')]),
    content: Type.Union([Type.String(), Type.Array(Block)]),
  },
  open,
);

// Optional: toolsets have none; a client tool without one is refused in the translation.
const ToolSchema = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) }, open);

const fields = {
  model: Type.String({ minLength: 1, maxLength: 256 }),
  messages: Type.Array(MessageSchema, { minItems: 1, maxItems: 100_000 }),
  system: Type.Optional(Type.Union([Type.String(), Type.Array(Type.Object({ type: Type.Literal('text'), text: Type.String() }, open))])),
  // Not OpenAI's 128: Claude Code with a few MCP servers sends hundreds, and Anthropic takes them
  // (thousands with tool search's `defer_loading`). The body limit bounds the size.
  tools: Type.Optional(Type.Array(ToolSchema, { maxItems: 10_000 })),
  tool_choice: Type.Optional(
    Type.Union([
      Type.Object({ type: Type.Literal('auto'), disable_parallel_tool_use: Type.Optional(Type.Boolean()) }, open),
      Type.Object({ type: Type.Literal('any'), disable_parallel_tool_use: Type.Optional(Type.Boolean()) }, open),
      Type.Object({ type: Type.Literal('tool'), name: Type.String({ minLength: 1 }), disable_parallel_tool_use: Type.Optional(Type.Boolean()) }, open),
      Type.Object({ type: Type.Literal('none') }, open),
    ]),
  ),
  thinking: Type.Optional(Type.Object({ type: Type.String(), budget_tokens: Type.Optional(Type.Integer({ minimum: 1 })) }, open)),
};

export const MessagesRequestSchema = Type.Object(
  {
    ...fields,
    // 0 pre-warms Anthropic's prompt cache without an answer (the SDK's `max_tokens` documents it).
    max_tokens: Type.Integer({ minimum: 0, maximum: MAX_OUTPUT_TOKENS_CEILING }),
    stream: Type.Optional(Type.Boolean()),
    stop_sequences: Type.Optional(Type.Array(Type.String(), { maxItems: 64 })),
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    top_p: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    top_k: Type.Optional(Type.Integer({ minimum: 0 })),
    metadata: Type.Optional(Type.Object({ user_id: Type.Optional(Type.Union([Type.String({ maxLength: 512 }), Type.Null()])) }, open)),
  },
  { ...open, title: 'MessagesRequest', description: 'Anthropic Messages API request.' },
);

export const CountTokensRequestSchema = Type.Object(fields, { ...open, title: 'CountTokensRequest' });

const checkMessages = TypeCompiler.Compile(MessagesRequestSchema);
const checkCount = TypeCompiler.Compile(CountTokensRequestSchema);

export function validateMessagesRequest(body: unknown): MessagesRequest {
  return validateAgainst<MessagesRequest>(checkMessages, body);
}

export function validateCountTokensRequest(body: unknown): MessagesRequest {
  return validateAgainst<MessagesRequest>(checkCount, body);
}
