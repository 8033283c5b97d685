import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry } from 'prom-client';
import { GatewayMetrics } from './gateway-metrics.js';

/** One worker's metrics, its breaker holding `state` for one deployment. */
function worker(state: 'closed' | 'open' | 'half-open'): GatewayMetrics {
  const metrics = new GatewayMetrics();
  metrics.bind({ circuits: () => [{ deployment: 'openai/gpt-4o', provider: 'openai', state }] });
  return metrics;
}

test('circuit_state across cluster workers is the worst state, still 0, 1 or 2: a sum (4 for two open circuits) matched no state', async () => {
  const workers = [worker('open'), worker('open'), worker('closed')];
  const aggregated = AggregatorRegistry.aggregate(await Promise.all(workers.map((metrics) => metrics.registry.getMetricsAsJSON())));
  const text = await aggregated.metrics();
  assert.match(text, /^llm_proxy_circuit_state\{deployment="openai\/gpt-4o",provider="openai"\} 2$/m);
  const closed = AggregatorRegistry.aggregate(await Promise.all([worker('closed'), worker('closed')].map((metrics) => metrics.registry.getMetricsAsJSON())));
  assert.match(await closed.metrics(), /^llm_proxy_circuit_state\{deployment="openai\/gpt-4o",provider="openai"\} 0$/m);
});
