// Load-balancing strategies: each turns a model group's deployments into the order to try them.
// The first is the pick; the rest are where a failure moves on to.
import type { DeploymentHealth } from './deployment-health.js';
import type { Route } from './model-router.js';

export type Strategy = 'weighted-random' | 'least-busy' | 'lowest-latency' | 'lowest-cost';

export interface Candidate {
  route: Route;
  weight: number;
  health: DeploymentHealth;
  /** USD per 1K input + 1K output tokens, from the catalog; undefined when unknown. */
  unitCost: number | undefined;
}

/** Weighted random order without replacement (Efraimidis–Spirakis keys). */
function weightedOrder(candidates: readonly Candidate[], random: () => number): Candidate[] {
  return candidates
    .map((candidate) => ({ candidate, key: Math.pow(random(), 1 / Math.max(candidate.weight, 1e-9)) }))
    .sort((a, b) => b.key - a.key)
    .map((entry) => entry.candidate);
}

/** Sorts by a score, lowest first; ties keep a random order so equal deployments share load. */
function byScore(candidates: readonly Candidate[], score: (candidate: Candidate) => number, random: () => number): Candidate[] {
  return weightedOrder(candidates, random)
    .map((candidate, index) => ({ candidate, index, score: score(candidate) }))
    .sort((a, b) => a.score - b.score || a.index - b.index)
    .map((entry) => entry.candidate);
}

export function orderCandidates(candidates: readonly Candidate[], strategy: Strategy, random: () => number = Math.random): Candidate[] {
  if (candidates.length <= 1) return candidates.slice();
  switch (strategy) {
    case 'weighted-random':
      return weightedOrder(candidates, random);
    case 'least-busy':
      return byScore(candidates, (candidate) => candidate.health.inFlight, random);
    case 'lowest-latency':
      // Unmeasured deployments go first, so each gets measured.
      return byScore(candidates, (candidate) => candidate.health.ewmaTtfbMs ?? -1, random);
    case 'lowest-cost':
      return byScore(candidates, (candidate) => candidate.unitCost ?? Number.POSITIVE_INFINITY, random);
  }
}

/** A small seeded generator (mulberry32), for reproducible distributions in tests. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
