// The Embeddings wire contract (POST /v1/embeddings): request and response types, the request schema
// (documentation), the one validation that turns a bad body into an OpenAI-style 400, and the local
// token count of an input. Nothing here knows a provider.
// @see https://platform.openai.com/docs/api-reference/embeddings/create
import { Type } from '@sinclair/typebox';
import { invalidJson, invalidType, invalidValue, modelNotFound } from '../errors/gateway-error.js';

/** A string, strings, one token array, or token arrays: the four forms OpenAI accepts. */
export type EmbeddingInput = string | string[] | number[] | number[][];

export type EncodingFormat = 'float' | 'base64';

export interface EmbeddingRequest {
  model: string;
  input: EmbeddingInput;
  encoding_format?: EncodingFormat;
  dimensions?: number;
  user?: string;
  /** Fields OpenAI adds later are forwarded to OpenAI-format providers untouched. */
  [field: string]: unknown;
}

export interface EmbeddingObject {
  object: 'embedding';
  index: number;
  /** Floats, or (`encoding_format: "base64"`) the little-endian float32 bytes in base64. */
  embedding: number[] | string;
}

export interface EmbeddingUsage {
  prompt_tokens: number;
  total_tokens: number;
}

export interface EmbeddingResponse {
  object: 'list';
  data: EmbeddingObject[];
  model: string;
  /** Absent when the provider reports none (Gemini); the proxy fills in its own count. */
  usage?: EmbeddingUsage;
}

/** OpenAI's limit on inputs per request. */
export const MAX_EMBEDDING_INPUTS = 2048;
/** Far above every model's output size; only a guard against absurd numbers reaching a provider. */
export const MAX_DIMENSIONS = 65_536;
/** Token ids are vocabulary indexes: non-negative, and below any tokenizer's vocabulary size. */
const MAX_TOKEN_ID = 2 ** 31 - 1;

/** For /openapi.json (the handler validates with validateEmbeddingRequest, for OpenAI-shaped errors). */
export const EmbeddingRequestSchema = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 256 }),
    input: Type.Union(
      [
        Type.String({ minLength: 1 }),
        Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: MAX_EMBEDDING_INPUTS }),
        Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
        Type.Array(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }), { minItems: 1, maxItems: MAX_EMBEDDING_INPUTS }),
      ],
      { description: 'A string, an array of strings, a token array, or an array of token arrays (at most 2048 inputs).' },
    ),
    encoding_format: Type.Optional(Type.Union([Type.Literal('float'), Type.Literal('base64')], { description: 'base64: little-endian float32 bytes. Default float.' })),
    dimensions: Type.Optional(Type.Integer({ minimum: 1, description: 'Output size, for models that can shorten their embeddings.' })),
    user: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: true },
);

function isTokenId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_TOKEN_ID;
}

function checkTokens(tokens: readonly unknown[], param: string): void {
  if (tokens.length === 0) throw invalidValue(param, 'a token array must not be empty');
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index];
    if (!isTokenId(token)) {
      if (typeof token !== 'number') throw invalidType(`${param}[${index}]`, 'an integer token id');
      throw invalidValue(`${param}[${index}]`, `${token} is not a token id (a non-negative integer)`);
    }
  }
}

/** Checks `input` in whichever of its four forms it comes. */
function checkInput(input: unknown): asserts input is EmbeddingInput {
  if (input === undefined || input === null) throw invalidType('input', 'a required field (a string, an array of strings or token arrays)');
  if (typeof input === 'string') {
    if (input.length === 0) throw invalidValue('input', 'must not be an empty string');
    return;
  }
  if (!Array.isArray(input)) throw invalidType('input', 'a string, an array of strings, a token array or an array of token arrays');
  if (input.length === 0) throw invalidValue('input', 'must not be an empty array');
  const first: unknown = input[0];
  if (typeof first === 'number') {
    checkTokens(input, 'input');
    return;
  }
  if (input.length > MAX_EMBEDDING_INPUTS) throw invalidValue('input', `${input.length} inputs; at most ${MAX_EMBEDDING_INPUTS} are allowed per request`);
  if (typeof first === 'string') {
    for (let index = 0; index < input.length; index++) {
      const item: unknown = input[index];
      if (typeof item !== 'string') throw invalidType(`input[${index}]`, 'a string, like the other inputs');
      if (item.length === 0) throw invalidValue(`input[${index}]`, 'must not be an empty string');
    }
    return;
  }
  for (let index = 0; index < input.length; index++) {
    const item: unknown = input[index];
    if (!Array.isArray(item)) throw invalidType(`input[${index}]`, 'a token array, like the other inputs');
    checkTokens(item, `input[${index}]`);
  }
}

/** Checks a parsed body; returns the typed request or throws a 400 naming the field. */
export function validateEmbeddingRequest(body: unknown): EmbeddingRequest {
  if (body === undefined || body === null) throw invalidJson('The request body is empty.');
  if (typeof body !== 'object' || Array.isArray(body)) throw invalidType('body', 'a JSON object');
  const fields = body as Record<string, unknown>;
  const model = fields.model;
  if (model === undefined || model === null) throw invalidType('model', 'a required field (a string)');
  if (typeof model !== 'string') throw invalidType('model', 'a string');
  if (model.length === 0) throw invalidValue('model', 'must not be empty');
  // An over-long name is a name nothing serves: 404, as on the chat route.
  if (model.length > 256) throw modelNotFound(model);
  checkInput(fields.input);
  const format = fields.encoding_format;
  if (format !== undefined && format !== null && format !== 'float' && format !== 'base64') {
    if (typeof format !== 'string') throw invalidType('encoding_format', "'float' or 'base64'");
    throw invalidValue('encoding_format', "must be 'float' or 'base64'");
  }
  const dimensions = fields.dimensions;
  if (dimensions !== undefined && dimensions !== null) {
    if (typeof dimensions !== 'number') throw invalidType('dimensions', 'a positive integer');
    if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_DIMENSIONS) {
      throw invalidValue('dimensions', `${dimensions} is not a positive integer of at most ${MAX_DIMENSIONS}`);
    }
  }
  const user = fields.user;
  if (user !== undefined && user !== null) {
    if (typeof user !== 'string') throw invalidType('user', 'a string');
    if (user.length > 512) throw invalidValue('user', 'longer than 512 characters');
  }
  return fields as EmbeddingRequest;
}

/** The requested encoding, with OpenAI's default. */
export function encodingOf(request: EmbeddingRequest): EncodingFormat {
  return request.encoding_format === 'base64' ? 'base64' : 'float';
}

/** True when the input is token ids rather than text. */
export function isTokenInput(input: EmbeddingInput): input is number[] | number[][] {
  return Array.isArray(input) && typeof input[0] !== 'string';
}

/** The input as a list of texts; undefined for token input. */
export function inputTexts(input: EmbeddingInput): readonly string[] | undefined {
  if (typeof input === 'string') return [input];
  if (isTokenInput(input)) return undefined;
  return input as string[];
}

/** How many embeddings the answer must hold. */
export function inputCount(input: EmbeddingInput): number {
  if (typeof input === 'string') return 1;
  return typeof input[0] === 'number' ? 1 : input.length;
}

/** Prompt tokens of an input: texts through `countText`, token arrays by their length. */
export function countInputTokens(input: EmbeddingInput, countText: (text: string) => number): number {
  if (typeof input === 'string') return countText(input);
  let tokens = 0;
  for (const item of input) tokens += typeof item === 'string' ? countText(item) : typeof item === 'number' ? 1 : item.length;
  return tokens;
}
