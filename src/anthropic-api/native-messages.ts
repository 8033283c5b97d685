// The Anthropic fast path of /v1/messages: when every deployment that may serve (fallbacks included)
// is an Anthropic upstream, the client's own body goes to the upstream's /v1/messages with the
// routed model name and our provider key, and the answer's bytes and events come back unchanged.
// Usage is read from the answer (message_start and message_delta in a stream).
import { modelNotAllowed, permissionDenied, upstreamBadResponse } from '../errors/gateway-error.js';
import { servedNatively, type NativeProtocol } from '../http/native-call.js';
import type { ModelAllowlist } from '../keys/model-allowlist.js';
import { convertAnthropicStreamError } from '../providers/anthropic/convert-stream.js';
import { convertAnthropicUsage, mergeAnthropicUsage, parseAnthropicResponse } from '../providers/anthropic/convert-response.js';
import {
  isAnthropicMessage,
  isAnthropicUsage,
  isRecord,
  type AnthropicMessage,
  type AnthropicMessageDeltaUsage,
  type AnthropicTextBlock,
  type AnthropicToolUseBlock,
  type AnthropicUsage,
} from '../providers/anthropic/anthropic-wire.js';
import { JSON_RESPONSE_TOOL } from '../providers/anthropic/convert-tools.js';
import type { ChatTarget, ProviderInstance } from '../providers/provider.js';
import type { ModelGroup, ModelRouter, Route } from '../routing/model-router.js';
import { claudeRuns } from '../rate-limit/claude-runs-bound.js';
import { reachableGroups } from '../routing/reachable-groups.js';
import { encodeSseData } from '../streaming/sse-encoder.js';

/** An SSE event name passed on: a plain token, as every Anthropic event type is. */
const EVENT_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * The name a passed-through event leaves with: the upstream's own, so a type this proxy does not
 * know (Anthropic may add some) keeps it and clients can skip it; else the data's `type`; `message`
 * (the SSE default) when there is neither. Undefined (the event is dropped) when what there is is
 * no plain token: a `type` may hold CR or LF, which would split the frame.
 * @see https://docs.anthropic.com/en/docs/build-with-claude/streaming#other-events
 */
function eventName(sent: string | undefined, type: string | undefined): string | undefined {
  if (sent !== undefined && sent !== '' && EVENT_NAME.test(sent)) return sent;
  if (type !== undefined && EVENT_NAME.test(type)) return type;
  return (sent === undefined || sent === '') && type === undefined ? 'message' : undefined;
}

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

/** The provider Messages bodies go to as they came. */
export const isAnthropic = (provider: ProviderInstance): boolean => provider.kind === 'anthropic';

/** Whether every deployment of the group and of the fallback groups the key may use is an Anthropic upstream. */
export function servedByAnthropicOnly(router: ModelRouter, group: ModelGroup, allowed: readonly string[] | undefined): boolean {
  return servedNatively(router, group, isAnthropic, allowed);
}

/**
 * Providers that run Claude's web search tool: Claude (the body as it came, or the chat form's
 * `web_search_options` as its own tool) and Gemini (`web_search_options` as Google Search grounding).
 */
const searchesTheWeb = (provider: ProviderInstance): boolean => provider.kind === 'anthropic' || provider.kind === 'gemini';

/** Whether every deployment the key may reach searches the web for Claude's web search tool. */
export function servedWithWebSearch(router: ModelRouter, group: ModelGroup, allowed: readonly string[] | undefined): boolean {
  return servedNatively(router, group, searchesTheWeb, allowed);
}

/** Whether some deployment of the group or of a fallback group the key may use is an Anthropic upstream. */
export function servedByAnthropicPartly(router: ModelRouter, group: ModelGroup, allowed: readonly string[] | undefined): boolean {
  return reachableGroups(router, group, allowed).groups.some((entry) => entry.deployments.some((deployment) => isAnthropic(deployment.route.provider)));
}

/**
 * Claude calls, and bills to the key, the models a Messages body names beside `model`: an advisor
 * tool's and each server-side fallback's. A key with a `models` list may name only those it may use
 * on every Anthropic provider the call may reach (the body goes to each as it came); refused before
 * any call. `"fallbacks": "default"` lets Anthropic choose models no list can be checked against.
 * Only a body with an advisor or fallbacks reads `routes`.
 * @see https://platform.claude.com/docs/en/agents-and-tools/tool-use/advisor-tool
 * @see https://platform.claude.com/docs/en/build-with-claude/refusals-and-fallback
 */
export function checkClaudeRunModels(body: unknown, allowlist: ModelAllowlist, routes: () => readonly Route[]): void {
  const runs = claudeRuns(body);
  if (runs === undefined) return;
  if (runs.fallbacks === 'default') {
    throw permissionDenied(
      'This key may use only the models it lists, and "fallbacks": "default" lets Anthropic choose the fallback models: name the fallback models instead ("fallbacks": [{"model": ...}]), each one the key may use.',
      'model_not_allowed',
      'fallbacks',
    );
  }
  if (runs.advisors.length === 0 && runs.fallbacks.length === 0) return;
  const providers = new Set(routes().flatMap((route) => (isAnthropic(route.provider) ? [route.provider.name] : [])));
  const check = (run: { model: string; field: string }, role: string) => {
    for (const provider of providers) {
      if (!allowlist.allowsOn(provider, run.model)) throw modelNotAllowed(run.model, ` ${run.field} names it as ${role}, which Anthropic would call and bill to this key.`, run.field);
    }
  };
  for (const advisor of runs.advisors) check(advisor, 'the advisor');
  for (const fallback of runs.fallbacks) check(fallback, 'a server-side fallback');
}

/** The chat form of a native answer keeps the model name the answer gave (a hit shows the same). */
function chatTarget(route: Route, requestId: string, model: string): ChatTarget {
  return { provider: route.provider.name, model: model.length > 0 ? model : route.upstreamModel, stream: false, includeUsage: true, requestId, created: Math.floor(Date.now() / 1000), warnings: [] };
}

/** Stop reasons the chat form keeps (stop_sequence loses its sequence, pause_turn becomes end_turn). */
const KEPT_STOP_REASONS: ReadonlySet<string | null> = new Set(['end_turn', 'max_tokens', 'tool_use', 'refusal']);

/**
 * Whether the chat-format cache gives this answer back unchanged, so a hit is the same message: at
 * most one non-empty text block without citations, before any tool calls; no tool named like the
 * proxy's JSON-mode tool (the chat form reads it back as text); a stop reason the chat form keeps,
 * `tool_use` exactly when there are tool calls; no cache writes in the usage (the chat form folds
 * them into the input tokens). Anything else is answered but not stored.
 */
export function cacheable(message: AnthropicMessage): boolean {
  if (!KEPT_STOP_REASONS.has(message.stop_reason)) return false;
  const written = message.usage.cache_creation_input_tokens;
  if (typeof written === 'number' && written > 0) return false;
  let texts = 0;
  let tools = 0;
  for (const block of message.content) {
    if (block.type === 'text') {
      const text = block as AnthropicTextBlock;
      if (tools > 0 || ++texts > 1 || typeof text.text !== 'string' || text.text.length === 0) return false;
      if (text.citations !== undefined && text.citations !== null && text.citations.length > 0) return false;
    } else if (block.type === 'tool_use') {
      if ((block as AnthropicToolUseBlock).name === JSON_RESPONSE_TOOL) return false;
      tools++;
    } else return false;
  }
  return (message.stop_reason === 'tool_use') === tools > 0;
}

/**
 * The protocol for one request. `body` is the client's parsed request (never modified: each attempt
 * serialises a copy with its deployment's model name).
 */
export function messagesProtocol(body: Record<string, unknown>, headers: Record<string, string>, requestId: string, path = '/v1/messages'): NativeProtocol {
  // Anthropic's own counts, kept apart so cache writes and reads fold correctly when message_delta updates them.
  let raw: AnthropicUsage | undefined;
  let stopped = false;
  return {
    request(route, stream) {
      return { path, method: 'POST', headers, body: JSON.stringify({ ...body, model: route.upstreamModel, ...(stream ? { stream: true } : {}) }) };
    },
    readJson(parsed, route) {
      if (!isAnthropicMessage(parsed)) throw upstreamBadResponse(route.provider.name, 'an answer that is not an Anthropic message');
      const usage = convertAnthropicUsage(parsed.usage);
      // A pre-warm (max_tokens 0) answered from the response cache would warm nothing upstream.
      if (body.max_tokens === 0 || !cacheable(parsed)) return { usage };
      try {
        return { usage, chatBody: JSON.stringify(parseAnthropicResponse(parsed, chatTarget(route, requestId, parsed.model))) };
      } catch {
        // The chat form is only for the cache: a tool input nested too deep for JSON.stringify
        // (JSON.parse takes any depth) leaves the answer uncached; it still passes through as it came.
        return { usage };
      }
    },
    readEvent(event, stats, route) {
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        throw upstreamBadResponse(route.provider.name, 'a stream event that is not JSON');
      }
      // An `event: error` is the stream's error whatever type its data names: passed on as it came,
      // the client read an error while the call was recorded as served.
      const type = event.event === 'error' ? 'error' : isRecord(data) && typeof data.type === 'string' ? data.type : event.event;
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
          stopped = true;
          break;
        case 'error':
          throw convertAnthropicStreamError(data, route.provider.name);
        default:
          break;
      }
      const name = eventName(event.event, isRecord(data) && typeof data.type === 'string' ? data.type : undefined);
      if (name === undefined) return '';
      return `event: ${name}\n${encodeSseData(event.data)}`;
    },
    ended: () => stopped,
  };
}

