// The embeddings side of a provider codec: pure translation of POST /v1/embeddings to the provider's
// own call and back. A provider serves embeddings when its ChatCodec has an `embeddings` member; the
// shared upstream client does the HTTP, and the codec's chat half still reads its error bodies.
import type { EmbeddingRequest, EmbeddingResponse } from '../openai/embeddings-request.js';
import type { UpstreamRequestSpec } from './provider.js';

/** What a codec needs to know about one embeddings call. Built per attempt. */
export interface EmbeddingsTarget {
  /** The configured provider's name, for messages. */
  provider: string;
  /** The model name the upstream expects. */
  model: string;
  /** A sink for fields that were dropped: they go out in `X-LLM-Proxy-Warnings`. */
  warnings: string[];
}

export interface EmbeddingsCodec {
  /** The upstream answers in OpenAI's format: an unchanged answer may be forwarded as its own bytes. */
  readonly passthrough: boolean;
  /** Most inputs one upstream call takes (Gemini: 100); a larger request is split into several calls. */
  readonly maxInputs?: number;
  /** Throws a 400 for what the provider cannot take (token input on Gemini); never clamps silently. */
  buildEmbeddingsRequest(request: EmbeddingRequest, target: EmbeddingsTarget): UpstreamRequestSpec;
  /**
   * The upstream's answer in OpenAI's shape (embeddings in whichever encoding it sent; the caller
   * conforms them). Throws a 502 for an answer that is not one.
   */
  parseEmbeddingsResponse(body: unknown, target: EmbeddingsTarget, expected: number): EmbeddingResponse;
}
