// Load-balancing strategies: each turns a model group's deployments into the order to try them.
// The first is the pick; the rest are where a failure moves on to.
import type { CallKind, DeploymentHealth } from './deployment-health.js';
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

/**
 * How far a deployment's latency figure may fall behind the group's newest attempt. lowest-latency
 * never picks a deployment once slower than another, so its figure would never change however fast
 * it became: this far behind it counts as unmeasured again, and the next call goes to it (one call:
 * that call's start makes the figure current; its answer updates it). Measured against the group's
 * own traffic, not the clock, so a quiet group keeps its fastest first. LiteLLM's latency routing
 * likewise forgets figures past a TTL.
 */
export const REMEASURE_AFTER_MS = 60_000;

/**
 * lowest-latency's order by the figure of the call's kind: the lowest first, unmeasured and
 * long-untried deployments (in that kind) before all.
 */
function latencyOrder(candidates: readonly Candidate[], random: () => number, kind: CallKind): Candidate[] {
  let newest = 0;
  for (const candidate of candidates) if (candidate.health.latency[kind].triedAt > newest) newest = candidate.health.latency[kind].triedAt;
  return byScore(
    candidates,
    ({ health }) => {
      const { ewmaMs, triedAt } = health.latency[kind];
      return ewmaMs === undefined || newest - triedAt > REMEASURE_AFTER_MS ? -1 : ewmaMs;
    },
    random,
  );
}

/** `kind`: the call's, for lowest-latency (a stream is ranked by first content, a whole answer by its time). */
export function orderCandidates(candidates: readonly Candidate[], strategy: Strategy, random: () => number = Math.random, kind: CallKind = 'answer'): Candidate[] {
  if (candidates.length <= 1) return candidates.slice();
  switch (strategy) {
    case 'weighted-random':
      return weightedOrder(candidates, random);
    case 'least-busy':
      return byScore(candidates, (candidate) => candidate.health.inFlight, random);
    case 'lowest-latency':
      // Unmeasured deployments go first, so each gets measured (again, when its figure is old).
      return latencyOrder(candidates, random, kind);
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
