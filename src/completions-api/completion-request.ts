// The legacy text-completions request (`POST /v1/completions`): its type and TypeBox schema
// (compiled once, failures as OpenAI-style 400s with `param` as the path).
// @see https://platform.openai.com/docs/api-reference/completions/create
import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { MAX_OUTPUT_TOKENS_CEILING, validateAgainst } from '../openai/chat-request-schema.js';

/** A prompt: text, several texts, token ids, or several token-id lists. */
export type CompletionPrompt = string | string[] | number[] | number[][];

export interface CompletionRequest {
  model: string;
  prompt?: CompletionPrompt | null;
  suffix?: string | null;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  logprobs?: number | null;
  echo?: boolean | null;
  stop?: string | string[] | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  best_of?: number | null;
  logit_bias?: Record<string, number> | null;
  user?: string;
  seed?: number | null;
  /** Hosts add their own fields; they pass through to hosts that serve completions. */
  [field: string]: unknown;
}

export interface CompletionChoice {
  text: string;
  index: number;
  logprobs: unknown;
  finish_reason: string | null;
}

/** A `text_completion` answer, whole or as one stream chunk. */
export interface CompletionResponse {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  system_fingerprint?: string | null;
}

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const CompletionRequestSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 256 }),
    prompt: Type.Optional(
      Nullable(
        Type.Union([
          Type.String(),
          Type.Array(Type.String(), { minItems: 1, maxItems: 2048 }),
          Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
          Type.Array(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }), { minItems: 1, maxItems: 2048 }),
        ]),
      ),
    ),
    suffix: Type.Optional(Nullable(Type.String())),
    max_tokens: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: MAX_OUTPUT_TOKENS_CEILING }))),
    temperature: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 2 }))),
    top_p: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: 1 }))),
    n: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 128 }))),
    stream: Type.Optional(Nullable(Type.Boolean())),
    stream_options: Type.Optional(Nullable(Type.Object({ include_usage: Type.Optional(Type.Boolean()) }, { additionalProperties: true }))),
    logprobs: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 5 }))),
    echo: Type.Optional(Nullable(Type.Boolean())),
    stop: Type.Optional(Nullable(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 })]))),
    presence_penalty: Type.Optional(Nullable(Type.Number({ minimum: -2, maximum: 2 }))),
    frequency_penalty: Type.Optional(Nullable(Type.Number({ minimum: -2, maximum: 2 }))),
    best_of: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 20 }))),
    logit_bias: Type.Optional(Nullable(Type.Record(Type.String(), Type.Number({ minimum: -100, maximum: 100 })))),
    user: Type.Optional(Type.String({ maxLength: 512 })),
    seed: Type.Optional(Nullable(Type.Integer())),
  },
  { additionalProperties: true, title: 'CompletionRequest', description: 'OpenAI legacy text completion request.' },
);

const check = TypeCompiler.Compile(CompletionRequestSchema);

export function validateCompletionRequest(body: unknown): CompletionRequest {
  return validateAgainst<CompletionRequest>(check, body);
}
