// ModelRouter.setDiscovered: a provider list that did not change leaves the router as it was (same
// version, no rebuild), so the views keyed on the version are not rebuilt on every refresh.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModelCatalog } from '../catalog/model-catalog.js';
import { defaultConfig } from '../config/config-loader.js';
import type { ChatCodec, DiscoveredModel, ProviderInstance } from '../providers/provider.js';
import { ModelRouter } from './model-router.js';

function router(): ModelRouter {
  const provider: ProviderInstance = { name: 'openai', kind: 'openai', baseUrl: new URL('http://127.0.0.1:1/v1'), apiKey: 'k', codec: {} as ChatCodec, staticModels: [] };
  return new ModelRouter([provider], ModelCatalog.builtin(), {});
}

describe('ModelRouter.setDiscovered', () => {
  test('the same list again (in any order, as new objects) keeps the version and the stored list', () => {
    const models: DiscoveredModel[] = [
      { id: 'team-a', ownedBy: 'acme', created: 1700000000, contextLength: 8192 },
      { id: 'team-b', name: 'Team B', maxOutputTokens: 4096 },
    ];
    const r = router();
    assert.equal(r.setDiscovered('openai', models), true);
    const version = r.version;
    const stored = r.discoveredFor('openai');
    assert.equal(r.setDiscovered('openai', models.map((model) => ({ ...model }))), false);
    assert.equal(r.setDiscovered('openai', [...models].reverse()), false);
    assert.equal(r.version, version);
    assert.equal(r.discoveredFor('openai'), stored);
    // An empty list where nothing was found before changes nothing either.
    const empty = router();
    const emptyVersion = empty.version;
    assert.equal(empty.setDiscovered('openai', []), false);
    assert.equal(empty.version, emptyVersion);
  });

  test('a changed id, figure, added or removed field, or a shorter list rebuilds', () => {
    const base: DiscoveredModel[] = [{ id: 'team-a', contextLength: 8192 }, { id: 'team-b' }];
    const changes: DiscoveredModel[][] = [
      [{ id: 'team-a', contextLength: 16384 }, { id: 'team-b' }],
      [{ id: 'team-a' }, { id: 'team-b' }],
      [{ id: 'team-a', contextLength: 8192 }, { id: 'team-b', name: 'B' }],
      [{ id: 'team-a', contextLength: 8192 }, { id: 'team-c' }],
      [{ id: 'team-a', contextLength: 8192 }],
      [],
    ];
    for (const change of changes) {
      const r = router();
      r.setDiscovered('openai', base);
      const version = r.version;
      assert.equal(r.setDiscovered('openai', change), true, JSON.stringify(change));
      assert.equal(r.version, version + 1, JSON.stringify(change));
      assert.deepEqual([...(r.discoveredFor('openai')?.values() ?? [])], change);
    }
    const r = router();
    r.setDiscovered('openai', base);
    r.setDiscovered('openai', []);
    assert.equal(r.resolve('team-a'), undefined, 'a model no longer listed no longer routes');
  });
});

describe('ModelRouter routing defaults', () => {
  test('a router given no defaults retries as the config does by default (routing.retries, 1)', () => {
    assert.equal(router().plan('gpt-4o-mini')?.retries, defaultConfig().routing.retries);
  });
});
