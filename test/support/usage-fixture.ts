// A usage record for seeding the store in tests: an ok, non-streamed chat call with small figures.
import type { IdentifiedUsageRecord } from '../../src/store/usage-store.js';

export function usageRecord(id: string, keyId: string, model: string, createdAt: number, overrides: Partial<IdentifiedUsageRecord> = {}): IdentifiedUsageRecord {
  return {
    id,
    requestId: `req-${id}`,
    keyId,
    endpoint: 'chat.completions',
    model,
    provider: 'openai',
    promptTokens: 10,
    completionTokens: 5,
    cachedTokens: 0,
    cost: 0.001,
    latencyMs: 100,
    status: 'ok',
    httpStatus: 200,
    stream: false,
    cacheHit: false,
    estimated: false,
    createdAt,
    ...overrides,
  };
}
