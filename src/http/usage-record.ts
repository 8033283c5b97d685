// The one usage record of a model call (chat, messages, completions, embeddings): tokens and cost
// from the provider's usage and the catalog's prices, and the settlement of the call's token and
// budget holds. Positional arguments: it runs once per request on the hot path.
import type { FastifyRequest } from 'fastify';
import type { CompletionUsage } from '../openai/types.js';
import type { Route } from '../routing/model-router.js';
import type { Services } from '../services.js';
import type { UsageRecord, UsageStatus } from '../usage/usage-recorder.js';

export function recordCall(
  services: Services,
  request: FastifyRequest,
  endpoint: string,
  route: Route | undefined,
  model: string,
  stream: boolean,
  started: number,
  status: UsageStatus,
  httpStatus: number,
  tokens: CompletionUsage | undefined,
  extra: Partial<UsageRecord> = {},
): void {
  const prompt = tokens?.prompt_tokens ?? 0;
  const completion = tokens?.completion_tokens ?? 0;
  const cached = tokens?.prompt_tokens_details?.cached_tokens ?? 0;
  const cost = tokens === undefined ? undefined : services.catalog.cost(route?.entry, prompt, completion, cached);
  services.usage.record({
    requestId: request.id,
    keyId: request.principal?.keyId ?? 'anonymous',
    endpoint,
    model,
    ...(route === undefined ? {} : { provider: route.provider.name, upstreamModel: route.upstreamModel }),
    promptTokens: prompt,
    completionTokens: completion,
    cachedTokens: cached,
    ...(cost === undefined ? {} : { cost }),
    latencyMs: Date.now() - started,
    status,
    httpStatus,
    stream,
    cacheHit: false,
    estimated: false,
    createdAt: started,
    ...extra,
    // Settles the token and budget holds taken before the call; its id lets the store settle the budget.
    ...services.admission.settle(request, extra.cacheHit === true ? undefined : tokens, extra.cost ?? cost),
  });
}
