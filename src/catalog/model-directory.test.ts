// ModelDirectory: the index is rebuilt only when routing or a provider's staleness changes, and
// lookups take ids, aliases and `provider/model` forms but never unsafe names.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModelCatalog } from './model-catalog.js';
import { ModelDirectory } from './model-directory.js';
import type { DiscoveryStatus } from './model-discovery.js';
import type { ChatCodec, ProviderInstance, ProviderKind } from '../providers/provider.js';
import { ModelRouter } from '../routing/model-router.js';

function provider(name: string, kind: ProviderKind): ProviderInstance {
  return { name, kind, baseUrl: new URL('http://127.0.0.1:1/v1'), apiKey: 'k', codec: {} as ChatCodec, staticModels: [] };
}

function setup() {
  const catalog = ModelCatalog.builtin();
  const router = new ModelRouter([provider('openai', 'openai'), provider('backup', 'openai')], catalog, { fast: 'openai/gpt-4o-mini' });
  const statuses = new Map<string, DiscoveryStatus>();
  const directory = new ModelDirectory(router, catalog, { statusOf: (name) => statuses.get(name) });
  return { router, statuses, directory };
}

describe('ModelDirectory', () => {
  test('the index is cached until the router or a staleness flag changes', () => {
    const { router, statuses, directory } = setup();
    const first = directory.index();
    assert.equal(directory.index(), first);
    router.setDiscovered('openai', [{ id: 'my-finetune' }]);
    const second = directory.index();
    assert.notEqual(second, first);
    assert.equal(second.get('my-finetune')?.stale, false);
    statuses.set('openai', { models: 1, lastSuccessAt: 1, lastAttemptAt: 2, lastError: 'HTTP 500 (error)', stale: true });
    const third = directory.index();
    assert.notEqual(third, second);
    assert.equal(third.get('my-finetune')?.stale, true);
    assert.equal(third.get('gpt-4')?.stale, true);
    assert.equal(directory.index(), third);
  });

  test('find: id, alias, provider/model, a second provider of the same kind, and config aliases', () => {
    const { router, directory } = setup();
    router.setDiscovered('backup', [{ id: 'backup-only', contextLength: 4096 }]);
    assert.equal(directory.find('gpt-4')?.context_length, 8192);
    assert.equal(directory.find('gpt-4o-2024-08-06')?.id, 'gpt-4o');
    assert.equal(directory.find('openai/gpt-4o')?.id, 'gpt-4o');
    assert.equal(directory.find('fast')?.alias_of, 'openai/gpt-4o-mini');
    // The list shows gpt-4o once (under openai); `backup/gpt-4o` routes too, so it is described.
    const backup = directory.find('backup/gpt-4o');
    assert.equal(backup?.provider, 'backup');
    assert.equal(backup?.input_cost, directory.find('gpt-4o')?.input_cost);
    assert.deepEqual(backup?.routes, ['backup/gpt-4o']);
    assert.equal(directory.find('backup/backup-only')?.context_length, 4096);
    // Known to neither that provider's list nor the catalog for its kind.
    assert.equal(directory.find('openai/claude-3-5-sonnet-20241022'), undefined);
    assert.equal(directory.find('openai/no-such-model'), undefined);
    assert.equal(directory.find('nowhere/gpt-4o'), undefined);
  });

  test('a configured model group is one model, its deployments as routes', () => {
    const catalog = ModelCatalog.builtin();
    const router = new ModelRouter([provider('openai', 'openai'), provider('backup', 'openai')], catalog, {}, [
      { name: 'smart', deployments: [{ provider: 'openai', model: 'gpt-4o' }, { provider: 'backup', model: 'gpt-4o' }] },
      { name: 'gpt-4o-mini', deployments: [{ provider: 'backup', model: 'gpt-4o-mini' }] },
    ]);
    const directory = new ModelDirectory(router, catalog, { statusOf: () => undefined });
    const index = directory.index();
    const smart = index.get('smart');
    assert.equal(smart?.id, 'smart');
    assert.deepEqual(smart?.routes, ['openai/gpt-4o', 'backup/gpt-4o']);
    assert.equal(smart?.input_cost, catalog.get('gpt-4o')?.input_cost);
    assert.equal(index.get('gpt-4o')?.id, 'gpt-4o', 'the catalog model stays listed on its own');
    const mini = index.search({ q: 'gpt-4o-mini' }).models.filter((model) => model.id === 'gpt-4o-mini');
    assert.equal(mini.length, 1, 'a group named after a catalog model is listed once');
    assert.equal(mini[0]?.provider, 'backup');
    assert.deepEqual(mini[0]?.routes, ['backup/gpt-4o-mini']);
    const ids = index.models.map((model) => model.id);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('unsafe names find nothing', () => {
    const { directory } = setup();
    for (const name of ['', '..', '../gpt-4', 'openai/../gpt-4', 'openai/./gpt-4', '\\..\\', 'gpt-4\u0000', '%2e%2e', 'gpt 4', 'gpt-4#x', 'a'.repeat(257), '/gpt-4', 'openai//gpt-4']) {
      assert.equal(directory.find(name), undefined, JSON.stringify(name));
    }
  });
});
