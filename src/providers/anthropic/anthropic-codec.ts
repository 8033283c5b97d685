// The Anthropic codec: Messages API paths and headers around the pure converters, and model discovery.
// Side-effect free; `anthropic-provider.ts` registers it as a provider kind.
// @see https://docs.anthropic.com/en/api/overview
import type { DiscoveredModel, ChatCodec, UpstreamRequestSpec } from '../provider.js';
import { ANTHROPIC_VERSION, isRecord } from './anthropic-wire.js';
import { convertAnthropicRequest } from './convert-request.js';
import { parseAnthropicErrorMessage, parseAnthropicErrorStatus, parseAnthropicResponse } from './convert-response.js';
import { convertAnthropicStream } from './convert-stream.js';

export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';

/**
 * `GET /v1/models` → discovered models; undefined when the body is not a list. Entries without a
 * usable id are skipped, never fatal.
 */
export function parseAnthropicModelList(body: unknown): DiscoveredModel[] | undefined {
  if (!isRecord(body) || !Array.isArray(body.data)) return undefined;
  const models: DiscoveredModel[] = [];
  for (const item of body.data) {
    if (!isRecord(item) || typeof item.id !== 'string' || item.id.length === 0 || item.id.length > 256) continue;
    const model: DiscoveredModel = { id: item.id, ownedBy: 'anthropic' };
    if (typeof item.display_name === 'string') model.name = item.display_name;
    if (typeof item.created_at === 'string') {
      const ms = Date.parse(item.created_at);
      if (!Number.isNaN(ms)) model.created = Math.floor(ms / 1000);
    }
    // Newer list answers report the limits; older ones leave them to the catalog.
    if (typeof item.max_input_tokens === 'number') model.contextLength = item.max_input_tokens;
    if (typeof item.max_tokens === 'number') model.maxOutputTokens = item.max_tokens;
    models.push(model);
  }
  return models;
}

const noHeaders: Record<string, string> = {};

export const anthropicCodec: ChatCodec = {
  passthrough: false,
  keepsCacheControl: true,
  authHeaders(apiKey): Record<string, string> {
    return apiKey === undefined ? { 'anthropic-version': ANTHROPIC_VERSION } : { 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION };
  },
  buildChatRequest(request, target): UpstreamRequestSpec {
    return { path: '/v1/messages', method: 'POST', headers: noHeaders, body: JSON.stringify(convertAnthropicRequest(request, target)) };
  },
  parseChatResponse: parseAnthropicResponse,
  convertStream: convertAnthropicStream,
  parseErrorMessage: parseAnthropicErrorMessage,
  parseErrorStatus: parseAnthropicErrorStatus,
  listModels: {
    request: (): UpstreamRequestSpec => ({ path: '/v1/models?limit=1000', method: 'GET', headers: noHeaders }),
    parse: parseAnthropicModelList,
  },
};
