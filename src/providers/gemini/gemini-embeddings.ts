// Embeddings on Gemini: POST /v1/embeddings → `models/{model}:batchEmbedContents` (one request per
// input, in order) and its `{embeddings: [{values}]}` back to OpenAI's list. Pure functions; Gemini
// reports no token counts here, so the proxy counts them, and it encodes base64 itself.
// @see https://ai.google.dev/api/embeddings#method:-models.batchembedcontents
import { invalidRequest, upstreamBadResponse } from '../../errors/gateway-error.js';
import { inputTexts, type EmbeddingRequest, type EmbeddingResponse } from '../../openai/embeddings-request.js';
import type { EmbeddingsCodec, EmbeddingsTarget } from '../embeddings-codec.js';
import type { UpstreamRequestSpec } from '../provider.js';
import { isRecord } from './gemini-wire.js';

/** One `EmbedContentRequest`. `model` is the full resource name (`models/gemini-embedding-001`). */
export interface GeminiEmbedContentRequest {
  model: string;
  content: { role: 'user'; parts: Array<{ text: string }> };
  outputDimensionality?: number;
}

export interface GeminiBatchEmbedRequest {
  requests: GeminiEmbedContentRequest[];
}

export interface GeminiContentEmbedding {
  values: number[];
}

export interface GeminiBatchEmbedResponse {
  embeddings: GeminiContentEmbedding[];
}

/** Fields this codec maps itself; any other is dropped with a warning. `encoding_format` is applied by the proxy. */
const HANDLED = new Set(['model', 'input', 'dimensions', 'encoding_format']);

/** `models/x` and `x` name the same model: the bare id for the path, the resource name for the body. */
function bareModel(model: string): string {
  return model.startsWith('models/') ? model.slice('models/'.length) : model;
}

export function convertGeminiEmbeddingsRequest(request: EmbeddingRequest, target: EmbeddingsTarget): GeminiBatchEmbedRequest {
  const texts = inputTexts(request.input);
  if (texts === undefined) {
    throw invalidRequest(`Token-array input is not supported by ${target.provider} (Gemini embeds text only); send the input as strings.`, 'unsupported_parameter', 'input');
  }
  for (const [field, value] of Object.entries(request)) {
    if (!HANDLED.has(field) && value !== undefined && value !== null) target.warnings.push(`${field.slice(0, 64)}: not supported by ${target.provider}, ignored`);
  }
  const model = `models/${bareModel(target.model)}`;
  const dimensions = typeof request.dimensions === 'number' ? request.dimensions : undefined;
  return {
    requests: texts.map((text) => ({ model, content: { role: 'user', parts: [{ text }] }, ...(dimensions === undefined ? {} : { outputDimensionality: dimensions }) })),
  };
}

/**
 * `values` scaled to unit length when they are not already: gemini-embedding-001 normalises only its
 * full 3,072 dimensions, and shortened vectors (`dimensions` 768, 1536) come back at other lengths,
 * where OpenAI's are always unit vectors and clients compare them by dot product. A vector already of
 * unit length (within float error) is left exactly as sent, and a zero vector as it is.
 * @see https://ai.google.dev/gemini-api/docs/embeddings#quality-for-smaller-dimensions
 */
export function unitLength(values: number[]): number[] {
  let squares = 0;
  for (const value of values) squares += value * value;
  const norm = Math.sqrt(squares);
  if (norm === 0 || !Number.isFinite(norm) || Math.abs(norm - 1) < 1e-6) return values;
  return values.map((value) => value / norm);
}

/** `{embeddings: [{values}]}` → OpenAI's list, one entry per input, floats of unit length (no usage: Gemini reports none). */
export function parseGeminiEmbeddingsResponse(body: unknown, target: EmbeddingsTarget, expected: number): EmbeddingResponse {
  if (!isRecord(body) || !Array.isArray(body.embeddings)) throw upstreamBadResponse(target.provider, 'an answer that is not a batch of embeddings');
  const embeddings = body.embeddings as unknown[];
  if (embeddings.length !== expected) throw upstreamBadResponse(target.provider, `${embeddings.length} embeddings for ${expected} inputs`);
  const data: EmbeddingResponse['data'] = [];
  for (let index = 0; index < embeddings.length; index++) {
    const item = embeddings[index];
    const values = isRecord(item) ? item.values : undefined;
    if (!Array.isArray(values) || !values.every((value) => typeof value === 'number')) throw upstreamBadResponse(target.provider, 'an embedding that is not a vector');
    data.push({ object: 'embedding', index, embedding: unitLength(values as number[]) });
  }
  return { object: 'list', data, model: bareModel(target.model) };
}

const noHeaders: Record<string, string> = {};

export const geminiEmbeddingsCodec: EmbeddingsCodec = {
  passthrough: false,
  // "BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch".
  maxInputs: 100,
  buildEmbeddingsRequest(request, target): UpstreamRequestSpec {
    const body = convertGeminiEmbeddingsRequest(request, target);
    return { path: `/v1beta/models/${encodeURIComponent(bareModel(target.model))}:batchEmbedContents`, method: 'POST', headers: noHeaders, body: JSON.stringify(body) };
  },
  parseEmbeddingsResponse: parseGeminiEmbeddingsResponse,
};
