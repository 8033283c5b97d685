// reachableGroups: the group and its fallbacks, each once, less those a key may not use, planned
// again after a routing change; with the real router and catalog.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ModelCatalog } from '../catalog/model-catalog.js';
import type { ChatCodec, ProviderInstance, ProviderKind } from '../providers/provider.js';
import { ModelRouter } from './model-router.js';
import { plannedFallbacks, reachableGroups } from './reachable-groups.js';

function provider(name: string, kind: ProviderKind): ProviderInstance {
  return { name, kind, baseUrl: new URL('http://127.0.0.1:1/v1'), apiKey: 'k', codec: {} as ChatCodec, staticModels: [] };
}

function buildRouter(): ModelRouter {
  return new ModelRouter([provider('openai', 'openai'), provider('backup', 'openai')], ModelCatalog.builtin(), {}, [
    { name: 'team', deployments: [{ provider: 'openai', model: 'gpt-4o' }], fallbacks: ['only-backup', 'team', 'gpt-4o-mini', 'gpt-4o-mini', 'no-such-model'] },
  ]);
}

describe('reachableGroups', () => {
  test('each fallback that routes, once, in order; a key sees only those it may use', () => {
    const router = buildRouter();
    const team = router.plan('team');
    assert.ok(team !== undefined);
    // `only-backup` routes nowhere yet, `team` is the group itself, the second `gpt-4o-mini` a repeat.
    assert.deepEqual(plannedFallbacks(router, team).map((fallback) => fallback.name), ['gpt-4o-mini']);
    const open = reachableGroups(router, team, undefined);
    assert.deepEqual(open.groups.map((group) => group.name), ['team', 'gpt-4o-mini']);
    assert.deepEqual(open.routes.map((route) => route.upstreamModel), ['gpt-4o', 'gpt-4o-mini']);
    assert.equal(reachableGroups(router, team, undefined), open, 'kept for the next request');
    const allowed = ['team'];
    assert.deepEqual(reachableGroups(router, team, allowed).groups.map((group) => group.name), ['team']);
    assert.deepEqual(reachableGroups(router, team, ['team', 'openai/gpt-4o-mini']).groups.map((group) => group.name), ['team', 'gpt-4o-mini'], 'an entry allows where it routes');
  });

  test('a routing change plans the fallbacks again, even for a group planned before it', () => {
    const router = buildRouter();
    const team = router.plan('team');
    assert.ok(team !== undefined);
    assert.deepEqual(reachableGroups(router, team, undefined).groups.map((group) => group.name), ['team', 'gpt-4o-mini']);
    router.setDiscovered('backup', [{ id: 'only-backup' }]);
    assert.deepEqual(reachableGroups(router, team, undefined).groups.map((group) => group.name), ['team', 'only-backup', 'gpt-4o-mini']);
    // Another router (a reload) does not reuse this one's plan.
    const fresh = buildRouter();
    assert.deepEqual(reachableGroups(fresh, team, undefined).groups.map((group) => group.name), ['team', 'gpt-4o-mini']);
  });
});
