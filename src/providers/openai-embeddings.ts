// Embeddings for the OpenAI-format family (OpenAI, Azure OpenAI, Ollama, the OpenAI-compatible
// hosts): the body passes through with the upstream model name; one row per host says how its
// /embeddings differs from OpenAI's. Hosts without an embeddings endpoint have no codec.
import { upstreamBadResponse } from '../errors/gateway-error.js';
import type { EmbeddingRequest, EmbeddingResponse } from '../openai/embeddings-request.js';
import type { EmbeddingsCodec, EmbeddingsTarget } from './embeddings-codec.js';
import type { OpenAiFamilyKind } from './openai-compatible.js';
import type { UpstreamRequestSpec } from './provider.js';
import { azurePath, type AzureApi } from './azure-api.js';
import { isRecord } from '../json/guards.js';

interface EmbeddingsDialect {
  /** Answers `encoding_format: "base64"` itself; others are asked for floats, which the proxy encodes. */
  base64: boolean;
  /** The body field for the output size. */
  dimensionsField: 'dimensions' | 'output_dimension';
  /** Refuses fields it does not know (`user` is then dropped, with a warning). */
  strict: boolean;
}

const OPENAI: EmbeddingsDialect = { base64: true, dimensionsField: 'dimensions', strict: false };
// Floats are every host's default; base64 support varies by host and version.
const COMPATIBLE: EmbeddingsDialect = { base64: false, dimensionsField: 'dimensions', strict: false };

/**
 * Per host; null where the host has no embeddings endpoint (a request gets a clear 400 instead of a
 * provider 404). Mistral takes `output_dimension` and rejects unknown fields.
 * @see https://docs.mistral.ai/api/endpoint/embeddings
 */
const DIALECTS: Record<OpenAiFamilyKind, EmbeddingsDialect | null> = {
  openai: OPENAI,
  azure: OPENAI,
  ollama: COMPATIBLE,
  mistral: { base64: false, dimensionsField: 'output_dimension', strict: true },
  groq: null,
  deepseek: null,
  together: COMPATIBLE,
  openrouter: COMPATIBLE,
  xai: COMPATIBLE,
  fireworks: COMPATIBLE,
  'openai-compatible': COMPATIBLE,
};

/** The outgoing body: the client's request with the upstream model name and the host's field names. */
export function convertOpenAiEmbeddingsRequest(request: EmbeddingRequest, target: EmbeddingsTarget, dialect: EmbeddingsDialect): string {
  const body: Record<string, unknown> = { ...request, model: target.model };
  if (!dialect.base64) delete body.encoding_format;
  if (dialect.dimensionsField !== 'dimensions' && body.dimensions !== undefined) {
    body[dialect.dimensionsField] = body.dimensions;
    delete body.dimensions;
  }
  if (dialect.strict && body.user !== undefined) {
    delete body.user;
    target.warnings.push(`user: not supported by ${target.provider}, ignored`);
  }
  return JSON.stringify(body);
}

/** Checks an upstream answer has the shape of an embeddings list with one embedding per input. */
export function parseOpenAiEmbeddingsResponse(body: unknown, target: EmbeddingsTarget, expected: number): EmbeddingResponse {
  if (!isRecord(body) || !Array.isArray(body.data)) throw upstreamBadResponse(target.provider, 'an answer that is not an embeddings list');
  const data = body.data as unknown[];
  if (data.length !== expected) throw upstreamBadResponse(target.provider, `${data.length} embeddings for ${expected} inputs`);
  for (const item of data) {
    if (!isRecord(item) || typeof item.index !== 'number' || !(Array.isArray(item.embedding) || typeof item.embedding === 'string')) {
      throw upstreamBadResponse(target.provider, 'an embedding that is not a vector');
    }
  }
  const response = body as unknown as EmbeddingResponse;
  const usage = body.usage;
  // A host that reports no usage (or a broken one) is counted by the proxy instead.
  if (usage !== undefined && (!isRecord(usage) || typeof usage.prompt_tokens !== 'number' || !Number.isFinite(usage.prompt_tokens) || usage.prompt_tokens < 0)) delete response.usage;
  return response;
}

export interface OpenAiEmbeddingsOptions {
  kind: OpenAiFamilyKind;
  /** Azure's API (v1 or deployments) and `api-version`. */
  azureApi?: AzureApi;
}

/** The family's embeddings codec for one host; undefined for hosts without embeddings. */
export function createOpenAiEmbeddingsCodec(options: OpenAiEmbeddingsOptions): EmbeddingsCodec | undefined {
  const dialect = DIALECTS[options.kind];
  if (dialect === null) return undefined;
  // Azure's deployment API puts the deployment in the path; everyone else takes the model in the body.
  const azureApi = options.kind === 'azure' ? (options.azureApi ?? { v1: false, apiVersion: undefined }) : undefined;
  const path = azureApi === undefined ? () => '/embeddings' : (model: string) => azurePath('embeddings', model, azureApi);
  const noHeaders: Record<string, string> = {};
  return {
    passthrough: true,
    buildEmbeddingsRequest(request, target): UpstreamRequestSpec {
      return { path: path(target.model), method: 'POST', headers: noHeaders, body: convertOpenAiEmbeddingsRequest(request, target, dialect) };
    },
    parseEmbeddingsResponse: parseOpenAiEmbeddingsResponse,
  };
}
