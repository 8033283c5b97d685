// The `condense` policy's summaries kept in the response cache (when it is on). The chat answer is
// cached under the request as the provider got it, summary included: without this, a repeated
// over-long request paid for its summariser calls again and, keyed on a summary that came out
// different, never hit. With it, the same dropped turns get the same summary without a call, the
// chat call after it is identical, and the response cache answers that too.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { answerFromCompletion } from '../cache/cached-answer.js';
import { planCache } from '../http/cache-response.js';
import { abortWhenClientLeaves } from '../http/client-gone.js';
import type { ChatMessage } from '../openai/types.js';
import type { ModelGroup } from '../routing/model-router.js';
import type { Services } from '../services.js';
import { CallAbort } from '../upstream/call-signal.js';
import type { CondenseResult } from './context-condenser.js';

/** Keeps summary entries apart from every chat and embeddings entry (CacheKeyTarget.endpoint). */
const SUMMARY_ENDPOINT = 'condense-summary';

export interface SummaryInput {
  /** The summarising group; undefined: extractive only (no call to save). */
  group: ModelGroup | undefined;
  /** The turns to summarise. */
  messages: readonly ChatMessage[];
  maxTokens: number;
}

/**
 * The summary of `input` from the cache, or `summarise()`'s, stored for the next identical request
 * when it came from the summariser (an extractive fallback is free and not kept: the next request
 * tries the model again). Scoped like the caller's chat entries (the key, or the operator's
 * namespace) and held to the request's Cache-Control; identical requests in flight wait for one summary.
 */
export async function cachedSummary(
  services: Pick<Services, 'cache' | 'config' | 'router'>,
  request: FastifyRequest,
  reply: FastifyReply,
  input: SummaryInput,
  summarise: () => Promise<CondenseResult>,
): Promise<string> {
  const { cache } = services;
  const { group } = input;
  const plan =
    cache === undefined || group === undefined
      ? undefined
      : planCache(cache, services.config, services.router, request, group, { model: group.name, messages: input.messages, max_tokens: input.maxTokens }, SUMMARY_ENDPOINT);
  if (cache === undefined || plan === undefined) return (await summarise()).summary;
  const gone = new CallAbort();
  abortWhenClientLeaves(reply.raw, gone);
  const hit = await cache.lookup(plan, gone);
  if (hit !== undefined && hit.answer.kind === 'json') return hit.answer.body;
  let result: CondenseResult;
  try {
    result = await summarise();
  } catch (error) {
    cache.release(plan);
    throw error;
  }
  if (result.method === 'extractive') cache.release(plan);
  else cache.save(plan, answerFromCompletion(result.summary, undefined, [], Date.now()));
  return result.summary;
}
