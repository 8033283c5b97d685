// The retry and failover loop shared by every routed call (chat, embeddings, native streams):
// orders a group's deployments by its strategy, skips open circuits and cooling deployments,
// retries within the retry budget, moves on to the fallbacks the key may use, and makes the one
// error when nothing could serve. ChatExecutor extends it; each attempt is the caller's function.
import { FAILED_TOOL_CALL, GatewayError, IMAGE_NOT_FETCHED, isGatewayError, noHealthyDeployment } from '../errors/gateway-error.js';
import { mayUseModel } from '../keys/model-allowlist.js';
import { delay as wait, type CallSignal } from '../upstream/call-signal.js';
import { isAbort } from './call-limits.js';
import type { AttemptRecord, CallReach, DeploymentAttempt, ExecutorOptions, FailoverResult, GroupView } from './chat-call-types.js';
import { groupOutputLimit } from './group-figures.js';
import { NO_PROBE, type CallKind, type HealthRegistry, type ProbeTicket } from './deployment-health.js';
import { orderCandidates, type Candidate } from './load-balance.js';
import type { ModelGroup, ModelRouter } from './model-router.js';
import { plannedFallbacks } from './reachable-groups.js';
import { MAX_WAITED_RETRY_AFTER_MS, retryDelay, type RetryBudget } from './retry-policy.js';

/** The route header's outcome for a fallback the key may not use: it was skipped, not tried. */
export const NOT_ALLOWED = 'model_not_allowed';
/** The route header's outcome for a fallback whose deployments allow fewer output tokens than asked: skipped, not tried. */
export const OUTPUT_LIMIT = 'output_limit';

/** How long a 429 that states no wait cools its deployment. */
const UNSTATED_RATE_LIMIT_WAIT_MS = 1000;

/** The breaker's reason for a stream that failed after its first content. */
const BROKE_OFF = 'upstream_stream_error';

const neverTried = (entry: AttemptRecord): boolean => entry.outcome === NOT_ALLOWED || entry.outcome === OUTPUT_LIMIT;

/**
 * How a failed attempt counts: against the deployment, or against the request itself; `answer`:
 * neither, tried again; `elsewhere`: neither, and only another deployment can help.
 */
type Verdict = 'client' | 'rate-limited' | 'deployment' | 'overflow' | 'answer' | 'elsewhere';

/** A refusal that does not mend by itself (a bad key, an account out of credit): the circuit opens at once. */
function opensAtOnce(error: GatewayError): boolean {
  return error.code === 'upstream_auth_error' || error.code === 'upstream_billing_error';
}

function verdict(error: GatewayError): Verdict {
  if (error.code === 'context_length_exceeded') return 'overflow';
  if (error.code === 'upstream_rate_limited') return 'rate-limited';
  if (error.code === FAILED_TOOL_CALL) return 'answer';
  // The proxy could not download an image for a provider that takes images only inline (Gemini):
  // a provider that fetches URLs itself (Claude, OpenAI) may still reach it from its own network.
  if (error.code === IMAGE_NOT_FETCHED) return 'elsewhere';
  // A deployment that refused the proxy (its key or its account's billing) or that the SSRF guard
  // refused (its address) counts against that deployment: not retried there (not retryable), the next one is tried.
  if (opensAtOnce(error) || error.code === 'upstream_unreachable' || error.retryable) return 'deployment';
  return 'client';
}

export class DeploymentFailover {
  private readonly random: () => number;

  constructor(
    private readonly router: ModelRouter,
    private readonly health: HealthRegistry,
    private readonly budget: RetryBudget,
    protected readonly options: ExecutorOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  /**
   * The chain of groups to try: the asked group, then its fallbacks (each once), as `view` shows
   * them. A fallback the view leaves nothing of is passed over unnoted (it was never a candidate);
   * one the key may not use is skipped and noted in `attempts`; each is checked only once reached.
   */
  private *chain(group: ModelGroup, reach: CallReach, attempts: AttemptRecord[], view: GroupView | undefined): Generator<ModelGroup> {
    const { allowed, maxOutput } = reach;
    yield group;
    /** Groups already in the chain: two names of one group (an alias, a model's own name) try it once. */
    let chained: ModelGroup[] | undefined;
    for (const { name, group: fallback } of plannedFallbacks(this.router, group)) {
      const shown = view === undefined ? fallback : view(fallback);
      if (shown === undefined || shown === group || chained?.includes(shown) === true) continue;
      // The allowlist knows the configured group, not a view of it.
      if (allowed !== undefined && !mayUseModel(allowed, this.router, name, fallback)) attempts.push({ deployment: name, outcome: NOT_ALLOWED });
      // Its upstream would refuse the max_tokens with a 400, which ends the request: not tried.
      else if (maxOutput !== undefined && (groupOutputLimit(shown) ?? Infinity) < maxOutput) attempts.push({ deployment: name, outcome: OUTPUT_LIMIT });
      else {
        (chained ??= []).push(shown);
        yield shown;
      }
    }
  }

  /**
   * Groups are long-lived (configured, or planned once per name): their candidates are too. Each use
   * asks the registry again, which marks the deployment recently used; one it forgot meanwhile (past
   * its limit, or a reload's forgetProvider) makes the list anew, so a breaker never runs on apart
   * from the one the registry, /health/providers and a plain `provider/model` call see.
   */
  private readonly candidateCache = new WeakMap<ModelGroup, Candidate[]>();

  private stillTracked(candidates: readonly Candidate[]): boolean {
    for (const candidate of candidates) if (this.health.get(candidate.health.id) !== candidate.health) return false;
    return true;
  }

  private candidates(group: ModelGroup): Candidate[] {
    const cached = this.candidateCache.get(group);
    if (cached !== undefined && this.stillTracked(cached)) return cached;
    const built = group.deployments.map((deployment) => {
      const entry = deployment.route.entry;
      const unitCost = entry && entry.input_cost !== null && entry.output_cost !== null ? entry.input_cost + entry.output_cost : undefined;
      return { route: deployment.route, weight: deployment.weight, health: this.health.get(deployment.id), unitCost };
    });
    this.candidateCache.set(group, built);
    return built;
  }

  /**
   * Tries deployments until one answers. Within a group: strategy order, moving on at once after a
   * failure and cycling back with backoff until `1 + retries` attempts (at least one per deployment);
   * then each fallback group. Every attempt after the first needs a place in the retry budget.
   *
   * An open circuit exists to send traffic elsewhere; it is no reason to call no one. So when every
   * group of the chain was skipped without a single attempt, and some deployment was skipped for a
   * circuit opened by failures, the request goes to one of them anyway: the one whose cool-down ends
   * first (the one the breaker would probe next; for equal cool-downs, the one that opened earliest),
   * once, with no retries, like a half-open probe. A group of one deployment (a plain model name) thus
   * never answers 503 without calling its only deployment, as LiteLLM never cools down the only
   * deployment of a group. A provider's 429 Retry-After is an instruction, not a guess: a cooling
   * deployment is never chosen, and when nothing else is left the client gets 429 with Retry-After.
   *
   * `group` is tried as given; `view` (see GroupView) narrows each fallback to what can serve the call.
   * `ongoing`, for a result that goes on after the attempt returns (a held stream), is handed the
   * result and the function to call when it is over: the deployment counts it in flight until then,
   * and a failure then (a reset, a stall; not the client's leaving) counts against it.
   */
  protected async run<T>(
    group: ModelGroup,
    signal: CallSignal,
    attempt: DeploymentAttempt<T>,
    reach: CallReach,
    view?: GroupView,
    ongoing?: (result: T, done: (failure: unknown) => void) => void,
  ): Promise<FailoverResult<T>> {
    const attempts: AttemptRecord[] = [];
    let lastError: GatewayError | undefined;
    let overflowWindow: number | undefined;
    let earliestRetry: number | undefined;
    /**
     * When each failed deployment said it could take a call again (its last failure's Retry-After; a
     * 429's cool-down), or undefined once any failure said nothing of when: the combined error's Retry-After.
     */
    let statedWaits: Map<string, number> | undefined = new Map();
    let total = 0;
    let holding = false;
    /** A held result is a stream: its time is to first content, ranked apart from whole answers'. */
    const kind: CallKind = ongoing === undefined ? 'answer' : 'stream';
    /** The deployment tried when nothing else could be (see above), with its group and rank (its cool-down's end). */
    let lastResort: { candidate: Candidate; group: ModelGroup; at: number } | undefined;

    /**
     * One attempt at one deployment; failures are recorded here, and only a client's fault or an abort
     * is thrown. `probe`: what admit() granted (NO_PROBE for the last resort, which went through an
     * open circuit and holds no probe slot to give back).
     */
    const tryOnce = async (candidate: Candidate, current: ModelGroup, probe: ProbeTicket): Promise<{ served: T } | 'failed' | 'overflow'> => {
      const deployment = candidate.health.id;
      total++;
      const started = Date.now();
      // A probe's start does not make the latency figure current either (see REMEASURE_AFTER_MS).
      candidate.health.start(reach.probe === true ? 0 : started, kind);
      try {
        const served = await attempt(candidate.route, current, signal);
        candidate.health.succeeded(reach.probe === true ? undefined : Date.now() - started, ongoing !== undefined);
        if (ongoing !== undefined) {
          ongoing(served, (failure) => {
            if (failure === undefined || signal.aborted || isAbort(failure)) candidate.health.finished();
            else if (isGatewayError(failure) && verdict(failure) === 'rate-limited') candidate.health.rateLimitedOpen(Date.now() + (failure.retryAfterMs ?? UNSTATED_RATE_LIMIT_WAIT_MS));
            else candidate.health.brokeOff(BROKE_OFF, Date.now());
          });
        }
        attempts.push({ deployment, outcome: '200' });
        return { served };
      } catch (error) {
        if (signal.aborted || isAbort(error) || !isGatewayError(error)) {
          candidate.health.released(probe);
          throw error;
        }
        attempts.push({ deployment, outcome: error.status === 502 || error.status === 504 ? (error.code ?? String(error.status)) : String(error.status) });
        // Answered with an error (or never sent): no prompt of this attempt is billed.
        reach.sentTo = undefined;
        const kind = verdict(error);
        if (kind === 'client') {
          candidate.health.released(probe);
          throw error;
        }
        lastError = error;
        if (statedWaits !== undefined) {
          const wait = kind === 'rate-limited' ? (error.retryAfterMs ?? UNSTATED_RATE_LIMIT_WAIT_MS) : kind === 'deployment' ? error.retryAfterMs : undefined;
          if (wait === undefined) statedWaits = undefined;
          else statedWaits.set(deployment, Date.now() + wait);
        }
        if (kind === 'overflow') {
          candidate.health.released(probe);
          if (!this.options.contextWindowFallbacks) throw error;
          overflowWindow = candidate.route.entry?.context_length ?? 0;
          return 'overflow';
        }
        if (kind === 'answer' || kind === 'elsewhere') {
          // The deployment answered, unusably this time, or was never called: nothing against it.
          candidate.health.released(probe);
        } else if (kind === 'rate-limited') {
          candidate.health.released(probe);
          const until = Date.now() + (error.retryAfterMs ?? UNSTATED_RATE_LIMIT_WAIT_MS);
          candidate.health.coolDown(until);
          earliestRetry = earliestRetry === undefined ? until : Math.min(earliestRetry, until);
        } else {
          const now = Date.now();
          candidate.health.failed(error.code ?? `HTTP ${error.status}`, now, opensAtOnce(error), probe);
          // A 503 that says when to come back, later than a retry would wait: believed, as a 429's is
          // (the time is capped where it is read), so the next calls do not go straight back to it.
          if (error.retryAfterMs !== undefined && error.retryAfterMs > MAX_WAITED_RETRY_AFTER_MS) candidate.health.coolDown(now + error.retryAfterMs);
        }
        return 'failed';
      }
    };

    this.budget.inFlight++;
    try {
      for (const current of this.chain(group, reach, attempts, view)) {
        if (overflowWindow !== undefined) {
          // After an overflow only a model with a larger window can help.
          const window = current.deployments[0]?.route.entry?.context_length;
          if (typeof window !== 'number' || window <= overflowWindow) continue;
        }
        const ordered = orderCandidates(this.candidates(current), current.strategy, this.random, kind);
        const limit = Math.max(ordered.length, 1 + current.retries);
        /** Each deployment tried in this group, with the error it failed on: a retry there goes by that one. */
        const tried = new Map<string, GatewayError | undefined>();
        const skipped = new Set<string>();
        let groupAttempts = 0;
        for (let index = 0; groupAttempts < limit && index < limit * 2; index++) {
          const candidate = ordered[index % ordered.length] as Candidate;
          const deployment = candidate.health.id;
          const now = Date.now();
          const probe = candidate.health.admit(now);
          if (probe === undefined) {
            if (!skipped.has(deployment)) {
              skipped.add(deployment);
              const cooling = candidate.health.cooling(now);
              attempts.push({ deployment, outcome: cooling ? 'cooling' : 'circuit_open' });
              const at = candidate.health.availableAt();
              if (at > now) earliestRetry = earliestRetry === undefined ? at : Math.min(earliestRetry, at);
              // A half-open circuit allows one probe: while it is out, an open one is called first (the
              // one whose cool-down ends soonest), and the probing one only when there is no other.
              const rank = candidate.health.probeInFlight() ? Number.POSITIVE_INFINITY : at;
              if (!cooling && (lastResort === undefined || (lastResort.group === current && rank < lastResort.at))) {
                lastResort = { candidate, group: current, at: rank };
              }
            }
            if (skipped.size === ordered.length) break;
            continue;
          }
          if (total > 0) {
            if (holding) this.budget.release();
            holding = this.budget.tryAcquire();
            if (!holding) {
              candidate.health.passedOver(probe);
              throw lastError ?? noHealthyDeployment(group.name, undefined);
            }
            const previous = tried.get(deployment);
            if (previous !== undefined) {
              // A deployment that refused the proxy's key would refuse it again: no second try there.
              // Its own error decides (another deployment's refusal or Retry-After is not about it).
              const delay = previous.retryable ? retryDelay(previous, groupAttempts, { retries: current.retries }, this.random) : undefined;
              if (delay === undefined) {
                // Passed over, not the end of the group: the next deployment may still be worth its retry.
                candidate.health.passedOver(probe);
                continue;
              }
              try {
                await wait(delay, signal);
              } catch {
                candidate.health.passedOver(probe);
                throw lastError;
              }
            }
          }
          groupAttempts++;
          const outcome = await tryOnce(candidate, current, probe);
          if (outcome === 'overflow') break;
          if (outcome !== 'failed') return { result: outcome.served, route: candidate.route, attempts };
          // A failed attempt set lastError to its own error.
          tried.set(deployment, lastError);
        }
      }
      if (total === 0 && lastResort !== undefined) {
        const { candidate } = lastResort;
        // It was not skipped after all: the route header shows the attempt only.
        const index = attempts.findIndex((entry) => entry.deployment === candidate.health.id && entry.outcome === 'circuit_open');
        if (index >= 0) attempts.splice(index, 1);
        const outcome = await tryOnce(candidate, lastResort.group, NO_PROBE);
        if (outcome !== 'failed' && outcome !== 'overflow') return { result: outcome.served, route: candidate.route, attempts };
      }
    } finally {
      if (holding) this.budget.release();
      this.budget.inFlight--;
    }
    throw this.exhausted(group.name, attempts, lastError, earliestRetry, soonest(statedWaits, earliestRetry));
  }

  /**
   * The one error when nothing could serve: says how many attempts on how many deployments and what
   * each got, never which deployments or providers (RELIABILITY 4d#8) nor with what key. The error
   * carries the full list (`attempts`) and the last error (`cause`) for the server log: the error
   * handler's `every attempt failed` warn line. `statedRetry`: when every failure said when to come
   * back, the soonest of those times (and of the skipped deployments'): the combined error's Retry-After.
   */
  private exhausted(
    model: string,
    all: AttemptRecord[],
    lastError: GatewayError | undefined,
    earliestRetry: number | undefined,
    statedRetry: number | undefined,
  ): GatewayError {
    // A fallback skipped for the key or the output asked for was never a candidate: the error is the one the others made.
    const attempts = all.some(neverTried) ? all.filter((entry) => !neverTried(entry)) : all;
    const retryAfterMs = earliestRetry === undefined ? undefined : Math.max(1000, earliestRetry - Date.now());
    const tried = attempts.filter((entry) => !skippedUntried(entry));
    if (lastError === undefined && attempts.length > 0 && attempts.every((entry) => entry.outcome === 'cooling')) {
      return new GatewayError({
        status: 429,
        type: 'rate_limit_error',
        code: 'upstream_rate_limited',
        // Cooling after a 429, or after a 503 with a long Retry-After: either way the provider said when.
        message: `Every deployment of '${model}' is rate limited or unavailable by its provider's word; retry after the time in Retry-After.`,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    if (lastError === undefined) return noHealthyDeployment(model, retryAfterMs);
    if (tried.length <= 1 && attempts.length === tried.length) return lastError;
    const summary = describeAttempts(tried, attempts.filter(skippedUntried));
    const logged = all.map((entry) => `${entry.deployment}=${entry.outcome}`).join(', ');
    if (tried.every((entry) => entry.outcome === '429')) {
      return new GatewayError({
        status: 429,
        type: 'rate_limit_error',
        code: 'upstream_rate_limited',
        message: `Every deployment of '${model}' is rate limited by its provider. ${summary}`,
        attempts: logged,
        cause: lastError,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    const status = lastError.status === 504 ? 504 : lastError.status === 400 ? 400 : 502;
    // A last error of another status (a 429 after a 5xx) lends the 502 neither its type nor its code:
    // "rate_limit_error" on a 502 without Retry-After misleads clients that branch on either.
    const own = status === lastError.status;
    return new GatewayError({
      status,
      type: status === 504 ? 'timeout_error' : own ? lastError.type : 'api_error',
      code: own ? lastError.code : 'upstream_error',
      param: own ? lastError.param : null,
      // The last error's own words, without its provider's name when several deployments were
      // tried (the one named would be a piece of the list); retries of one deployment name it, as
      // its single attempt's error does.
      message: `${new Set(attempts.map((entry) => entry.deployment)).size > 1 ? lastError.messageWithoutProvider() : lastError.message} ${summary}`,
      attempts: logged,
      cause: lastError,
      // Every provider said when: SDKs that honour Retry-After on a 5xx then wait that long, not their own guess.
      ...(statedRetry === undefined ? {} : { retryAfterMs: Math.max(1000, statedRetry - Date.now()) }),
    });
  }
}

/** The soonest of the stated waits and `earliestRetry` (skipped deployments, 429s); undefined if any failure stated none. */
function soonest(statedWaits: ReadonlyMap<string, number> | undefined, earliestRetry: number | undefined): number | undefined {
  if (statedWaits === undefined || statedWaits.size === 0) return undefined;
  let first = earliestRetry ?? Number.POSITIVE_INFINITY;
  for (const at of statedWaits.values()) if (at < first) first = at;
  return first;
}

/** A deployment passed over for an open circuit or a provider's cool-down: not an attempt. */
const skippedUntried = (entry: AttemptRecord): boolean => entry.outcome === 'circuit_open' || entry.outcome === 'cooling';

/**
 * What the client is told was tried: counts and outcomes, e.g. `Tried 3 attempt(s) on 2
 * deployment(s): upstream_error, upstream_timeout, upstream_error.` Which deployments, and of which
 * providers, is configuration the client has no business with: that goes to the log only.
 */
function describeAttempts(tried: readonly AttemptRecord[], skipped: readonly AttemptRecord[]): string {
  const deployments = new Set(tried.map((entry) => entry.deployment)).size;
  const outcomes = tried.map((entry) => entry.outcome).join(', ');
  const passed = skipped.length === 0 ? '' : `; ${skipped.length} deployment(s) skipped: ${skipped.map((entry) => entry.outcome).join(', ')}`;
  return `Tried ${tried.length} attempt(s) on ${deployments} deployment(s): ${outcomes}${passed}.`;
}
