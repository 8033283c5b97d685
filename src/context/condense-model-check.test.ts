// condense.model that routes to nothing at load time is named, with why and what follows; one that
// routes (a catalog model, a configured group, an alias, `provider/model`) is not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config/config-loader.js';
import type { Config } from '../config/config-schema.js';
import { condenseModelWarning } from './condense-model-check.js';

function configWith(model: string | undefined, change: (config: Config) => void = () => undefined): Config {
  const { config } = loadConfig({ OPENAI_API_KEY: 'sk-test-0123456789' });
  if (model !== undefined) config.condense = { model };
  change(config);
  return config;
}

test('no warning when condense.model is unset or routes', () => {
  assert.equal(condenseModelWarning(configWith(undefined)), undefined);
  for (const model of ['gpt-4o-mini', 'openai/some-model-only-discovery-knows', 'summariser', 'cheap']) {
    const config = configWith(model, (next) => {
      next.models = [{ name: 'summariser', deployments: [{ provider: 'openai', model: 'gpt-4.1-nano' }] }];
      next.aliases = { cheap: 'gpt-4.1-nano' };
    });
    assert.equal(condenseModelWarning(config), undefined, model);
  }
});

test('a typo, a provider not configured and a group without a deployment are each named, with the fallback', () => {
  const cases: Array<[model: string, why: RegExp, change?: (config: Config) => void]> = [
    ['gpt-4o-mni', /no configured provider, model group or alias serves that name/],
    ['claude-3-5-haiku-20241022', /needs the anthropic provider, which is not configured: set ANTHROPIC_API_KEY/],
    ['anthropic/claude-3-5-haiku-20241022', /needs the anthropic provider, which is not configured: set ANTHROPIC_API_KEY/],
    ['summariser', /none of its model group’s deployments is on a configured provider/, (config) => {
      config.models = [{ name: 'summariser', deployments: [{ provider: 'groq', model: 'llama-3.1-8b-instant' }] }];
    }],
  ];
  for (const [model, why, change] of cases) {
    const warning = condenseModelWarning(configWith(model, change));
    assert.ok(warning !== undefined, model);
    assert.ok(warning.startsWith(`condense.model '${model}' names no routable model (`), warning);
    assert.match(warning, why);
    assert.match(warning, /gets the extractive summary, written without an LLM, until a provider's model list \(discovery\) offers that name$/);
  }
});
