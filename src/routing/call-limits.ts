// The limits of one upstream call and how a cut-short call is told apart: a group's own timeouts,
// the abort reason our own deadlines carry (a stream's first token, a call's total time), and the
// abort errors of a call the client ended. Shared by the failover loop, the held stream and the executor.
import type { CallTimeouts } from '../upstream/upstream-client.js';
import type { ModelGroup } from './model-router.js';

export function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || (error as { code?: string }).code === 'UND_ERR_ABORTED');
}

/** A group's own connect time, time to headers and idle time for one call, when it sets them. */
export function callTimeouts(group: ModelGroup): CallTimeouts {
  // Set field by field: one object per call, and none of the spreads' temporaries.
  const timeouts: CallTimeouts = {};
  if (group.timeouts.connectMs !== undefined) timeouts.connectTimeoutMs = group.timeouts.connectMs;
  if (group.timeouts.ttfbMs !== undefined) timeouts.headersTimeoutMs = group.timeouts.ttfbMs;
  if (group.timeouts.idleMs !== undefined) timeouts.bodyTimeoutMs = group.timeouts.idleMs;
  return timeouts;
}

export class AttemptTimeout extends Error {
  constructor() {
    super('attempt timed out');
    this.name = 'AttemptTimeout';
  }
}
