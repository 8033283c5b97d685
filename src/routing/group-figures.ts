// What a model group as a whole promises: the smallest catalog figure among its deployments, since
// a retry or the load balancer may land on any of them. Read by the chat pipeline's output-limit
// check, the context policy and the condenser, so all three judge a group alike.
import type { ModelGroup } from './model-router.js';

/** The smallest catalog value among a group's deployments; undefined if none is known. */
function smallestOf(group: ModelGroup, field: 'context_length' | 'max_output_tokens'): number | undefined {
  let smallest: number | undefined;
  for (const deployment of group.deployments) {
    const value = deployment.route.entry?.[field];
    if (typeof value === 'number') smallest = smallest === undefined ? value : Math.min(smallest, value);
  }
  return smallest;
}

/** The smallest catalog window among a group's deployments; undefined if none is known. */
export const groupWindow = (group: ModelGroup): number | undefined => smallestOf(group, 'context_length');

/** The smallest catalog output limit among a group's deployments; undefined if none is known. */
export const groupOutputLimit = (group: ModelGroup): number | undefined => smallestOf(group, 'max_output_tokens');
