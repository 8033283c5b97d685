// Fallbacks that route to nothing at load time are named, field by field, with why; those that
// route (a catalog model, a group, an alias, `provider/model`) are not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../config/config-loader.js';
import type { Config } from '../config/config-schema.js';
import { configWarnings } from '../server/config-warnings.js';
import { fallbackWarnings } from './unrouted-names.js';

function configWith(change: (config: Config) => void): Config {
  const { config } = loadConfig({ OPENAI_API_KEY: 'sk-test-0123456789' });
  change(config);
  return config;
}

test('fallbacks that route are not named', () => {
  const config = configWith((next) => {
    next.models = [{ name: 'main', deployments: [{ provider: 'openai', model: 'gpt-4o' }], fallbacks: ['backup', 'cheap', 'gpt-4o-mini', 'openai/only-discovery-knows'] }, { name: 'backup', deployments: [{ provider: 'openai', model: 'gpt-4.1' }] }];
    next.aliases = { cheap: 'gpt-4.1-nano' };
    next.routing.fallbacks = ['main'];
  });
  assert.deepEqual(fallbackWarnings(config), []);
});

test('a fallback that routes nowhere is named by its field, with why and what follows', () => {
  const config = configWith((next) => {
    next.models = [{ name: 'main', deployments: [{ provider: 'openai', model: 'gpt-4o' }], fallbacks: ['gpt-4o', 'gpt-4o-mni', 'claude-3-5-haiku-20241022'] }];
    next.routing.fallbacks = ['bakup'];
  });
  const warnings = fallbackWarnings(config);
  assert.equal(warnings.length, 3, warnings.join('\n'));
  assert.match(warnings[0] as string, /^routing\.fallbacks\.0: 'bakup' names no routable model \(no configured provider, model group or alias serves that name\)/);
  assert.match(warnings[1] as string, /^models\.0\.fallbacks\.1: 'gpt-4o-mni' names no routable model/);
  assert.match(warnings[2] as string, /^models\.0\.fallbacks\.2: 'claude-3-5-haiku-20241022' names no routable model \(it needs the anthropic provider, which is not configured: set ANTHROPIC_API_KEY/);
  for (const warning of warnings) assert.match(warning, /is skipped when a request's own deployments fail, until a provider's model list \(discovery\) offers that name$/);
  // Logged at start, printed by check-config and answered by a reload, as every config warning.
  assert.deepEqual(
    configWarnings(config).filter((warning) => warning.component === 'routing').map((warning) => warning.message),
    warnings,
  );
});
