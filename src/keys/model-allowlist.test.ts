// ModelAllowlist: entries compared by where they route, with the real router and catalog.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mayUseModel, ModelAllowlist } from './model-allowlist.js';
import { ModelCatalog } from '../catalog/model-catalog.js';
import type { ChatCodec, ProviderInstance, ProviderKind } from '../providers/provider.js';
import { ModelRouter } from '../routing/model-router.js';

function provider(name: string, kind: ProviderKind): ProviderInstance {
  return { name, kind, baseUrl: new URL('http://127.0.0.1:1/v1'), apiKey: 'k', codec: {} as ChatCodec, staticModels: [] };
}

const router = new ModelRouter([provider('openai', 'openai'), provider('backup', 'openai')], ModelCatalog.builtin(), { smart: 'team', mini: 'gpt-4o-mini' }, [
  { name: 'team', deployments: [{ provider: 'openai', model: 'gpt-4o' }, { provider: 'backup', model: 'gpt-4o' }] },
]);
const allows = (entries: string[], requested: string): boolean => new ModelAllowlist(entries, (name) => router.plan(name)).allowsName(requested);

describe('ModelAllowlist', () => {
  test('a bare name, its provider/model form and an alias of it allow each other; another provider is refused', () => {
    for (const entry of ['gpt-4o-mini', 'openai/gpt-4o-mini', 'mini']) {
      for (const requested of ['gpt-4o-mini', 'openai/gpt-4o-mini', 'mini']) assert.equal(allows([entry], requested), true, `${entry} → ${requested}`);
      assert.equal(allows([entry], 'backup/gpt-4o-mini'), false, entry);
      assert.equal(allows([entry], 'gpt-4o'), false, entry);
    }
  });

  test('a group is allowed by its name or an alias of it, not by one of its deployments', () => {
    assert.equal(allows(['smart'], 'team'), true);
    assert.equal(allows(['team'], 'smart'), true);
    assert.equal(allows(['openai/gpt-4o'], 'team'), false);
    assert.equal(allows(['team'], 'openai/gpt-4o'), false);
  });

  test('a model a provider calls itself: by its name, or an entry that routes to it on that provider; not by a group', () => {
    const on = (entries: string[], provider: string, model: string): boolean => new ModelAllowlist(entries, (name) => router.plan(name)).allowsOn(provider, model);
    for (const entry of ['gpt-4o-mini', 'openai/gpt-4o-mini', 'mini']) {
      assert.equal(on([entry], 'openai', 'gpt-4o-mini'), true, entry);
      assert.equal(on([entry], 'backup', 'gpt-4o-mini'), entry === 'gpt-4o-mini', `${entry} on backup`);
      assert.equal(on([entry], 'openai', 'gpt-4o'), false, entry);
    }
    assert.equal(on(['team'], 'openai', 'gpt-4o'), false);
    assert.equal(on(['smart'], 'openai', 'gpt-4o'), false);
  });

  test("a listed alias that shares a real model's name allows what it routes to, not that model, when the provider calls it", () => {
    const aliased = new ModelRouter([provider('openai', 'openai'), provider('backup', 'openai')], ModelCatalog.builtin(), { 'gpt-4o': 'gpt-4o-mini' });
    const on = (entries: string[], on: string, model: string): boolean => new ModelAllowlist(entries, (name) => aliased.plan(name)).allowsOn(on, model);
    assert.equal(on(['gpt-4o'], 'openai', 'gpt-4o'), false, 'the key was given gpt-4o-mini under that name');
    assert.equal(on(['gpt-4o'], 'openai', 'gpt-4o-mini'), true);
    // A name that routes to itself, or a provider/model form of it, still allows the model by name; unrouted names too.
    assert.equal(on(['gpt-4o-mini'], 'backup', 'gpt-4o-mini'), true);
    assert.equal(on(['openai/gpt-4o-mini'], 'backup', 'openai/gpt-4o-mini'), true);
    assert.equal(on(['claude-opus-4-8'], 'anthropic', 'claude-opus-4-8'), true);
  });

  test('entries that route nowhere allow only their own name', () => {
    assert.equal(allows(['no-such-model'], 'no-such-model'), true);
    assert.equal(allows(['no-such-model', 'nowhere/x'], 'gpt-4o-mini'), false);
  });

  test("mayUseModel works a key's entries out once per routing version: a list a provider reported later counts", () => {
    const own = new ModelRouter([provider('openai', 'openai'), provider('backup', 'openai')], ModelCatalog.builtin(), {});
    const allowed = ['only-backup'];
    const group = own.plan('backup/only-backup');
    assert.ok(group !== undefined);
    // Nothing routes `only-backup` yet: the entry reaches nothing.
    assert.equal(mayUseModel(allowed, own, 'backup/only-backup', group), false);
    own.setDiscovered('backup', [{ id: 'only-backup' }]);
    const after = own.plan('backup/only-backup');
    assert.ok(after !== undefined);
    assert.equal(mayUseModel(allowed, own, 'backup/only-backup', after), true);
    // Another router (a reload) with the same version number does not reuse this one's answer.
    const fresh = new ModelRouter([provider('openai', 'openai'), provider('backup', 'openai')], ModelCatalog.builtin(), {});
    const freshGroup = fresh.plan('backup/only-backup');
    assert.ok(freshGroup !== undefined);
    assert.equal(mayUseModel(allowed, fresh, 'backup/only-backup', freshGroup), false);
  });

  test('a configured group planned before a routing change is still allowed by an alias of it after the change', () => {
    const own = new ModelRouter([provider('openai', 'openai'), provider('backup', 'openai')], ModelCatalog.builtin(), { smart: 'team' }, [
      { name: 'team', deployments: [{ provider: 'openai', model: 'gpt-4o' }] },
    ]);
    // A fallback chain planned its group, then discovery rebuilt the routes (new group objects).
    const before = own.plan('team');
    assert.ok(before !== undefined);
    own.setDiscovered('backup', [{ id: 'late-model' }]);
    assert.notEqual(own.plan('team'), before);
    assert.equal(mayUseModel(['smart'], own, 'team', before), true);
  });
});
