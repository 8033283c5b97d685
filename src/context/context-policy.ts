// The chat route's context policy (issue #8): before any upstream call, a prompt that will not fit
// the model's catalog window is refused (`error`), cut (`truncate`), partly summarised (`condense`)
// or sent to a fallback with a larger window (`fallback`). Streams are fitted the same way.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ContextPolicy } from '../config/config-schema.js';
import { contextLengthExceeded, invalidValue, type GatewayError } from '../errors/gateway-error.js';
import { mayUseModel } from '../keys/model-allowlist.js';
import type { ChatCompletionRequest, ChatMessage } from '../openai/types.js';
import { NOT_ALLOWED, type AttemptRecord } from '../routing/chat-executor.js';
import type { ModelGroup } from '../routing/model-router.js';
import { plannedFallbacks } from '../routing/reachable-groups.js';
import type { Services } from '../services.js';
import { countTokens, type PromptPlan } from '../usage/token-counts.js';
import { loadTokenCounter } from '../usage/token-estimator.js';
import { condenserFor } from './context-condenser.js';
import { groupWindow } from '../routing/group-figures.js';
import { runCondensation } from './condense-usage.js';
import { planTrim } from './conversation-trim.js';
import { cachedSummary } from './summary-cache.js';

export const CONTEXT_HEADER = 'x-llm-proxy-context';
const POLICIES: ReadonlySet<string> = new Set<ContextPolicy>(['error', 'truncate', 'condense', 'fallback']);
/** The summary replacing old turns gets at most this, or a quarter of the room, whichever is less. */
const MAX_SUMMARY_TOKENS = 512;
/** The summary message's framing and lead-in words. */
const SUMMARY_OVERHEAD = 16;
const SUMMARY_PREFIX = 'Summary of the earlier conversation: ';

type FitServices = Pick<Services, 'config' | 'router' | 'executor' | 'logger' | 'usage' | 'catalog' | 'admission' | 'cache'>;

const groupPolicies = new WeakMap<object, Map<string, ContextPolicy>>();

function configuredPolicy(services: FitServices, group: ModelGroup): ContextPolicy {
  let byName = groupPolicies.get(services.config);
  if (byName === undefined) {
    byName = new Map();
    for (const entry of services.config.models ?? []) if (entry.context_policy !== undefined) byName.set(entry.name, entry.context_policy);
    groupPolicies.set(services.config, byName);
  }
  return byName.get(group.name) ?? services.config.routing.context_policy ?? 'error';
}

/** The request's policy: `X-LLM-Proxy-Context`, else the group's `context_policy`, else `routing.context_policy`, else `error`. */
export function contextPolicy(services: FitServices, request: FastifyRequest, group: ModelGroup): ContextPolicy {
  const header = request.headers[CONTEXT_HEADER];
  if (header === undefined) return configuredPolicy(services, group);
  const value = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase() ?? '';
  if (!POLICIES.has(value)) throw invalidValue('X-LLM-Proxy-Context', `'${value.slice(0, 32)}' is not one of error, truncate, condense, fallback`);
  return value as ContextPolicy;
}

function overflow(group: ModelGroup, prompt: number, output: number, window: number, counted = true): GatewayError {
  // The proxy refuses it, for the whole group: naming the provider of one of several deployments
  // would tell the client a part of the configuration (RELIABILITY 4d#8).
  const provider = group.deployments.length === 1 ? group.deployments[0]?.route.provider.name : undefined;
  return contextLengthExceeded(
    provider,
    `${counted ? '' : 'over '}${prompt} prompt tokens (estimated) + ${output} requested output tokens > ${window} for '${group.name}'. ` +
      'Shorten the conversation, lower max_tokens, or send X-LLM-Proxy-Context: truncate, condense or fallback.',
  );
}

/**
 * The group's fallbacks the catalog knows a window for, in order, with that window and whether the
 * key may use it (keys/model-allowlist.ts): one it may not is no way out for it.
 */
function* fallbackWindows(services: FitServices, request: FastifyRequest, group: ModelGroup): Generator<{ name: string; fallback: ModelGroup; room: number; allowed: boolean }> {
  const allowed = request.principal?.models;
  for (const { name, group: fallback } of plannedFallbacks(services.router, group)) {
    const room = groupWindow(fallback);
    if (room !== undefined) yield { name, fallback, room, allowed: allowed === undefined || mayUseModel(allowed, services.router, name, fallback) };
  }
}

/** The largest window among the group and the fallbacks the key may use. */
function largestWindow(services: FitServices, request: FastifyRequest, group: ModelGroup, window: number): number {
  let largest = window;
  for (const { room, allowed } of fallbackWindows(services, request, group)) if (allowed && room > largest) largest = room;
  return largest;
}

/**
 * What a part other than text may count beyond its bytes in the body: an image URL of 40 bytes is
 * hundreds of tokens (the estimator's tile formula reaches 1,445 for one image), an audio or file
 * part 1,000.
 */
const NON_TEXT_PART_TOKENS = 1_500;

/**
 * True when a prompt of `bytes` body bytes surely fits without counting. No tokenizer makes more
 * than one token per byte of text (byte-level BPE falls back to single bytes: 130 hieroglyphs, 520
 * bytes, are ~520 tokens), so text is bounded by its bytes; each non-text part gets its allowance.
 * (Half a token per byte, the bound before, let such prompts and image-heavy ones skip the policy.)
 */
function surelyFits(bytes: number, chat: ChatCompletionRequest, output: number, window: number): boolean {
  if (bytes + output >= window) return false;
  let parts = 0;
  for (const message of chat.messages) {
    const content = message.content;
    if (Array.isArray(content)) for (const part of content as unknown[]) if ((part as { type?: unknown } | null)?.type !== 'text') parts++;
  }
  return bytes + parts * NON_TEXT_PART_TOKENS + output < window;
}

/**
 * True when the request surely fits without counting: no policy header to check, and the catalog
 * knows no window for the group or the body is obviously small (see surelyFits). The chat route
 * asks this first, so most requests never enter the async fitContext.
 */
export function fitsUncounted(request: FastifyRequest, chat: ChatCompletionRequest, group: ModelGroup): boolean {
  if (request.headers[CONTEXT_HEADER] !== undefined) return false;
  const window = groupWindow(group);
  if (window === undefined) return true;
  const length = Number(request.headers['content-length']);
  return Number.isFinite(length) && length > 0 && surelyFits(length, chat, chat.max_completion_tokens ?? chat.max_tokens ?? 0, window);
}

/** The group that will serve, and (under `fallback`) the fallbacks that would have fitted but the key may not use. */
export interface Fitted {
  group: ModelGroup;
  /** `name=model_not_allowed` entries that open `X-LLM-Proxy-Route`, as the executor notes them. */
  skipped?: readonly AttemptRecord[];
}

/**
 * Fits `chat` (in place) to the window of the group that will serve it, and returns that group (a
 * fallback's, under `fallback`, with those passed over for the key's allowlist). Does no counting at
 * all when the catalog knows no window for the group, or when the body is obviously small (see surelyFits).
 */
export async function fitContext(services: FitServices, request: FastifyRequest, reply: FastifyReply, chat: ChatCompletionRequest, group: ModelGroup): Promise<Fitted> {
  const policy = contextPolicy(services, request, group);
  const window = groupWindow(group);
  const unchanged = { group };
  if (window === undefined) return unchanged;
  const output = chat.max_completion_tokens ?? chat.max_tokens ?? 0;
  const length = Number(request.headers['content-length']);
  const bytes = Number.isFinite(length) && length > 0 ? length : Buffer.byteLength(JSON.stringify(chat.messages));
  if (surelyFits(bytes, chat, output, window)) return unchanged;

  // Refusing, or moving to a larger window, needs the count only up to the largest window that
  // could take the prompt: a 10 MB body is not counted whole (seconds of counting) to be refused.
  // Big prompts are counted in a worker thread (src/usage/token-counts.ts), never on the event loop.
  const largest = policy === 'error' ? window : policy === 'fallback' ? largestWindow(services, request, group, window) : undefined;
  const cap = largest === undefined ? undefined : Math.max(0, largest - output);
  const parts = cap === undefined ? await countTokens({ kind: 'plan', chat }) : undefined;
  const before = parts?.request ?? (await countTokens({ kind: 'upTo', chat, cap: cap as number }));
  const counted = cap === undefined || before <= cap;
  if (before + output <= window) return unchanged;
  const mark = (after: number, method: ContextPolicy) => {
    reply.header('x-llm-proxy-context-tokens', `${before}->${after}`);
    reply.header('x-llm-proxy-context-method', method);
  };

  if (policy === 'fallback') {
    const skipped: AttemptRecord[] = [];
    for (const { name, fallback, room, allowed } of fallbackWindows(services, request, group)) {
      if (before + output > room) continue;
      if (!allowed) {
        skipped.push({ deployment: name, outcome: NOT_ALLOWED });
        continue;
      }
      mark(before, 'fallback');
      return skipped.length === 0 ? { group: fallback } : { group: fallback, skipped };
    }
    throw overflow(group, before, output, window, counted);
  }
  if (policy === 'error') throw overflow(group, before, output, window, counted);

  // Room for the messages themselves (the reply priming is part of `messages`' count).
  const { perMessage, priming, fixed } = parts as PromptPlan;
  const budget = window - output - fixed;
  /** The prompt after cutting: its parts were counted once, so nothing is counted again. */
  const keptTokens = (kept: readonly number[]) => kept.reduce((sum, index) => sum + (perMessage[index] as number), fixed + priming);

  if (policy === 'truncate') {
    const plan = planTrim(chat.messages, perMessage, budget - priming);
    if (plan === undefined) throw overflow(group, before, output, window);
    chat.messages = plan.kept.map((index) => chat.messages[index] as ChatMessage);
    mark(keptTokens(plan.kept), 'truncate');
    return unchanged;
  }

  // condense: keep what fits beside a summary of at most `summaryTokens`, summarise the rest.
  const summaryTokens = Math.min(MAX_SUMMARY_TOKENS, Math.floor((budget - priming) / 4));
  const plan = summaryTokens < 1 ? undefined : planTrim(chat.messages, perMessage, budget - priming - summaryTokens - SUMMARY_OVERHEAD);
  if (plan === undefined || plan.dropped.length === 0) throw overflow(group, before, output, window);
  const started = Date.now();
  const condenser = condenserFor(services);
  const summariser = condenser.pickModel(request.principal?.models);
  const dropped = plan.dropped.map((index) => chat.messages[index] as ChatMessage);
  // Their count is the policy's own (priming plus each message's, as counter.messages sums it).
  const droppedTokens = plan.dropped.reduce((sum, index) => sum + (perMessage[index] as number), priming);
  // From the response cache when an identical request was condensed before (src/context/summary-cache.ts).
  const text = await cachedSummary(services, request, reply, { group: summariser, messages: dropped, maxTokens: summaryTokens }, async () => {
    const prepared = await condenser.prepare({ messages: dropped, maxTokens: summaryTokens, group: summariser, originalTokens: droppedTokens });
    // Admitted, run and recorded as /api/condense does: a key over its budget or token limit is refused
    // before any spend, with the error its chat call would get; the chat call's own hold follows.
    return runCondensation(services, request, reply, prepared, { group: summariser, started, recordWithoutCalls: false });
  });
  const summary: ChatMessage = { role: 'system', content: `${SUMMARY_PREFIX}${text}` };
  // The summary takes the place of the first dropped message: after the leading instructions.
  const first = plan.dropped[0] as number;
  const messages: ChatMessage[] = [];
  let placed = false;
  for (const index of plan.kept) {
    if (!placed && index > first) {
      messages.push(summary);
      placed = true;
    }
    messages.push(chat.messages[index] as ChatMessage);
  }
  if (!placed) messages.push(summary);
  chat.messages = messages;
  const after = keptTokens(plan.kept) + (await loadTokenCounter()).message(summary);
  if (after + output > window) throw overflow(group, before, output, window);
  mark(after, 'condense');
  return unchanged;
}
