// The Gemini codec: Generative Language API paths and headers around the pure converters, and model
// discovery. The key travels in `x-goog-api-key`, never in the URL (URLs end up in logs).
// Side-effect free; `gemini-provider.ts` registers it as a provider kind.
// @see https://ai.google.dev/api/generate-content
import type { ChatCodec, DiscoveredModel, UpstreamRequestSpec } from '../provider.js';
import { convertGeminiRequest, isFilesApiUri } from './convert-request.js';
import { geminiErrorStatus, parseGeminiErrorMessage, parseGeminiResponse, parseGeminiRetryDelay } from './convert-response.js';
import { convertGeminiStream } from './convert-stream.js';
import { geminiEmbeddingsCodec } from './gemini-embeddings.js';
import { isRecord } from './gemini-wire.js';

export { parseGeminiRetryDelay };

export const GEMINI_DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';

/** `models/gemini-2.5-flash` and `gemini-2.5-flash` name the same model; the path wants the bare id. */
function modelPath(model: string): string {
  return encodeURIComponent(model.startsWith('models/') ? model.slice('models/'.length) : model);
}

/**
 * `GET /v1beta/models` → the models that can chat (`generateContent`), with their token limits;
 * undefined when the body is not a list.
 */
export function parseGeminiModelList(body: unknown): DiscoveredModel[] | undefined {
  if (!isRecord(body)) return undefined;
  // Google's JSON omits an empty repeated field, so an empty list is `{}`; an error object is not.
  const list = body.models === undefined && Object.keys(body).length === 0 ? [] : body.models;
  if (!Array.isArray(list)) return undefined;
  const models: DiscoveredModel[] = [];
  for (const item of list) {
    if (!isRecord(item) || typeof item.name !== 'string') continue;
    const methods = item.supportedGenerationMethods;
    if (!Array.isArray(methods) || !methods.includes('generateContent')) continue;
    const id = item.name.startsWith('models/') ? item.name.slice('models/'.length) : item.name;
    if (id.length === 0 || id.length > 256) continue;
    const model: DiscoveredModel = { id, ownedBy: 'google' };
    if (typeof item.displayName === 'string') model.name = item.displayName;
    if (typeof item.inputTokenLimit === 'number') model.contextLength = item.inputTokenLimit;
    if (typeof item.outputTokenLimit === 'number') model.maxOutputTokens = item.outputTokenLimit;
    models.push(model);
  }
  return models;
}

const noHeaders: Record<string, string> = {};

/**
 * Gemini answers a bad or expired key with 400 INVALID_ARGUMENT and an `ErrorInfo` reason of
 * `API_KEY_INVALID`: the operator's key is at fault, not the client's request, so it is a 401; a
 * request over its size limit with 400 too, read as 413; and a project it will not serve (no free
 * tier in the country without billing, an unsupported location) with 400 FAILED_PRECONDITION, read as
 * the 402 an account refused for billing is: the operator's to fix, and another deployment may serve.
 * @see https://cloud.google.com/apis/design/errors#error_info
 * @see https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes
 */
export function parseGeminiErrorStatus(status: number, body: unknown): number | undefined {
  if (status !== 400) return undefined;
  const error = geminiErrorStatus(body);
  if (error?.status === 'FAILED_PRECONDITION') return 402;
  // Its limit on a request's size is a 400 too ("Request payload size exceeds the limit: N bytes."): the 413 it means.
  if (typeof error?.message === 'string' && PAYLOAD_TOO_LARGE.test(error.message)) return 413;
  const details = error?.details;
  if (!Array.isArray(details)) return undefined;
  const rejectedKey = details.some((detail: unknown) => detail !== null && typeof detail === 'object' && (detail as { reason?: unknown }).reason === 'API_KEY_INVALID');
  return rejectedKey ? 401 : undefined;
}

const PAYLOAD_TOO_LARGE = /payload size exceeds the limit/i;

export const geminiCodec: ChatCodec = {
  passthrough: false,
  // Gemini's fileData takes Files API URIs only; any other web image URL is downloaded and sent as inlineData.
  inlinesImageUrl: (url) => !isFilesApiUri(url),
  authHeaders(apiKey): Record<string, string> {
    return apiKey === undefined ? {} : { 'x-goog-api-key': apiKey };
  },
  buildChatRequest(request, target): UpstreamRequestSpec {
    const path = target.stream
      ? `/v1beta/models/${modelPath(target.model)}:streamGenerateContent?alt=sse`
      : `/v1beta/models/${modelPath(target.model)}:generateContent`;
    return { path, method: 'POST', headers: noHeaders, body: JSON.stringify(convertGeminiRequest(request, target)) };
  },
  parseChatResponse: parseGeminiResponse,
  convertStream: convertGeminiStream,
  parseErrorMessage: parseGeminiErrorMessage,
  parseRetryAfterMs: parseGeminiRetryDelay,
  parseErrorStatus: parseGeminiErrorStatus,
  embeddings: geminiEmbeddingsCodec,
  listModels: {
    request: (): UpstreamRequestSpec => ({ path: '/v1beta/models?pageSize=1000', method: 'GET', headers: noHeaders }),
    parse: parseGeminiModelList,
  },
};
