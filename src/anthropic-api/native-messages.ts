// The Anthropic fast path of /v1/messages: when every deployment that may serve (fallbacks included)
// is an Anthropic upstream, the client's own body goes to the upstream's /v1/messages with the
// routed model name and our provider key, and the answer's bytes and events come back unchanged.
// Usage is read from the answer (message_start and message_delta in a stream).
import { upstreamBadResponse } from '../errors/gateway-error.js';
import { servedNatively, type NativeProtocol } from '../http/native-call.js';
import { convertAnthropicStreamError } from '../providers/anthropic/convert-stream.js';
import { convertAnthropicUsage, mergeAnthropicUsage, parseAnthropicResponse } from '../providers/anthropic/convert-response.js';
import { isAnthropicMessage, isAnthropicUsage, isRecord, type AnthropicMessageDeltaUsage, type AnthropicUsage } from '../providers/anthropic/anthropic-wire.js';
import type { ChatTarget, ProviderInstance } from '../providers/provider.js';
import type { ModelGroup, ModelRouter, Route } from '../routing/model-router.js';
import { encodeSseData } from '../streaming/sse-encoder.js';

/** Request headers worth passing on: the API version the client speaks and the betas it turned on. */
export interface ClientAnthropicHeaders {
  version?: string;
  beta?: string;
}

/** Betas that only make sense with the client's own credentials (Claude's OAuth login) are not passed on. */
function forwardedBetas(beta: string): string {
  return beta
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0 && !entry.startsWith('oauth-'))
    .join(',');
}

export function anthropicHeaders(client: ClientAnthropicHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  if (client.version !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(client.version)) headers['anthropic-version'] = client.version;
  const beta = client.beta === undefined ? '' : forwardedBetas(client.beta);
  if (beta.length > 0 && /^[A-Za-z0-9,._-]+$/.test(beta)) headers['anthropic-beta'] = beta;
  return headers;
}

const isAnthropic = (provider: ProviderInstance): boolean => provider.kind === 'anthropic';

/** Whether every deployment of the group and of its fallback groups is an Anthropic upstream. */
export function servedByAnthropicOnly(router: ModelRouter, group: ModelGroup): boolean {
  return servedNatively(router, group, isAnthropic);
}

function chatTarget(route: Route, requestId: string): ChatTarget {
  return { provider: route.provider.name, model: route.upstreamModel, stream: false, includeUsage: true, requestId, created: Math.floor(Date.now() / 1000), warnings: [] };
}

/** Only plain text and tool calls survive the trip through the chat-format cache unchanged. */
function cacheable(message: { content: Array<{ type: string }> }): boolean {
  return message.content.every((block) => block.type === 'text' || block.type === 'tool_use');
}

/**
 * The protocol for one request. `body` is the client's parsed request (never modified: each attempt
 * serialises a copy with its deployment's model name).
 */
export function messagesProtocol(body: Record<string, unknown>, headers: Record<string, string>, requestId: string, path = '/v1/messages'): NativeProtocol {
  // Anthropic's own counts, kept apart so cache writes and reads fold correctly when message_delta updates them.
  let raw: AnthropicUsage | undefined;
  return {
    request(route, stream) {
      return { path, method: 'POST', headers, body: JSON.stringify({ ...body, model: route.upstreamModel, ...(stream ? { stream: true } : {}) }) };
    },
    readJson(parsed, route) {
      if (!isAnthropicMessage(parsed)) throw upstreamBadResponse(route.provider.name, 'an answer that is not an Anthropic message');
      const usage = convertAnthropicUsage(parsed.usage);
      if (!cacheable(parsed)) return { usage };
      return { usage, chatBody: JSON.stringify(parseAnthropicResponse(parsed, chatTarget(route, requestId))) };
    },
    readEvent(event, stats, route) {
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        throw upstreamBadResponse(route.provider.name, 'a stream event that is not JSON');
      }
      const type = isRecord(data) && typeof data.type === 'string' ? data.type : event.event;
      switch (type) {
        case 'message_start': {
          const message = isRecord(data) ? data.message : undefined;
          raw = isRecord(message) && isAnthropicUsage(message.usage) ? message.usage : { input_tokens: 0, output_tokens: 0 };
          stats.usage = convertAnthropicUsage(raw);
          break;
        }
        case 'content_block_start':
        case 'content_block_delta':
          stats.contentStarted = true;
          break;
        case 'message_delta': {
          const usage = isRecord(data) ? data.usage : undefined;
          if (isRecord(usage) && typeof usage.output_tokens === 'number') {
            raw = mergeAnthropicUsage(raw ?? { input_tokens: 0, output_tokens: 0 }, usage as unknown as AnthropicMessageDeltaUsage);
            stats.usage = convertAnthropicUsage(raw);
          }
          break;
        }
        case 'message_stop':
          stats.finished = true;
          stats.contentStarted = true;
          break;
        case 'error':
          throw convertAnthropicStreamError(data, route.provider.name);
        default:
          break;
      }
      return `event: ${event.event ?? type ?? 'message'}\n${encodeSseData(event.data)}`;
    },
  };
}

