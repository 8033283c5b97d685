// What the proxy knows about each deployment from live traffic: a circuit breaker (opened by
// consecutive failures or a high error rate, cool-down doubling on each reopening, one half-open
// probe), 429 cool-downs from Retry-After, in-flight count, and EWMAs of latency (whole answers
// and streams' first content apart).
// It feeds load balancing, failover and /health/providers.

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** Error rate over the recent window that opens it (with at least `minimumRequests`). */
  errorRateThreshold: number;
  minimumRequests: number;
  /** First cool-down; doubles each time the circuit reopens, up to `maxCooldownMs`. */
  cooldownMs: number;
  maxCooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = {
  failureThreshold: 5,
  errorRateThreshold: 0.5,
  minimumRequests: 10,
  cooldownMs: 10_000,
  maxCooldownMs: 300_000,
};

/** What admit() grants outside a half-open circuit: a call that holds no probe slot. */
export const NO_PROBE = 0;

/**
 * What admit() granted: NO_PROBE, or the ticket of a half-open circuit's one probe. The call hands it
 * back when it ends, so only the call that holds the slot frees it: a call let through an open
 * circuit as the last resort, or one that began before the circuit opened, never does.
 */
export type ProbeTicket = number;

/**
 * What a latency figure measures: a whole answer's time, or a stream's time to its first content.
 * Kept apart: one figure fed both made a deployment that mostly served streams look faster for
 * whole answers than one that serves them sooner.
 */
export type CallKind = 'answer' | 'stream';

export interface LatencyFigure {
  /** EWMA in ms; undefined until measured. */
  ewmaMs: number | undefined;
  /** When an attempt of this kind last started here (epoch ms; 0: never, or not said): how old `ewmaMs` may be. */
  triedAt: number;
}

const WINDOW = 20;
const EWMA_WEIGHT = 0.2;

export interface HealthSnapshot {
  status: 'healthy' | 'degraded' | 'down' | 'cooling';
  circuit: CircuitState;
  inFlight: number;
  requests: number;
  failures: number;
  errorRate: number;
  /** Whole answers' time (ms). */
  latencyMs: number | null;
  /** Streams' time to first content (ms). */
  firstContentMs: number | null;
  lastError: string | null;
  lastErrorAt: string | null;
  retryAt: string | null;
}

export class DeploymentHealth {
  inFlight = 0;
  readonly latency: Record<CallKind, LatencyFigure> = { answer: { ewmaMs: undefined, triedAt: 0 }, stream: { ewmaMs: undefined, triedAt: 0 } };
  requests = 0;
  failures = 0;
  private state: CircuitState = 'closed';
  private consecutive = 0;
  private readonly recent: boolean[] = [];
  private openUntil = 0;
  private currentCooldown: number;
  /** The ticket of the probe out on a half-open circuit, or NO_PROBE. */
  private probe: ProbeTicket = NO_PROBE;
  private tickets = 0;
  private coolUntil = 0;
  lastError: string | undefined;
  lastErrorAt: number | undefined;

  constructor(
    readonly id: string,
    private readonly options: BreakerOptions,
    private readonly onTransition: (id: string, from: CircuitState, to: CircuitState, reason: string) => void,
  ) {
    this.currentCooldown = options.cooldownMs;
  }

  get circuit(): CircuitState {
    return this.state;
  }

  /**
   * Whether a request may go here now (undefined: not now); a half-open circuit lets exactly one
   * probe through, and its ticket goes to the ending of that call (succeeded, failed, released, passedOver).
   */
  admit(now: number): ProbeTicket | undefined {
    if (now < this.coolUntil) return undefined;
    if (this.state === 'closed') return NO_PROBE;
    if (this.state === 'open') {
      if (now < this.openUntil) return undefined;
      this.transition('half-open', 'cool-down over');
    }
    if (this.probe !== NO_PROBE) return undefined;
    this.probe = ++this.tickets;
    return this.probe;
  }

  /** A half-open circuit whose one probe is out: another call now would be a second probe. */
  probeInFlight(): boolean {
    return this.state === 'half-open' && this.probe !== NO_PROBE;
  }

  /** Whether `ticket` is the probe out now (a call's own, not one the circuit has moved past). */
  private holds(ticket: ProbeTicket): boolean {
    return ticket !== NO_PROBE && ticket === this.probe;
  }

  /** True while a provider's Retry-After holds traffic off (as opposed to an open circuit). */
  cooling(now: number): boolean {
    return now < this.coolUntil;
  }

  /** When this deployment can next take traffic (for Retry-After when none can). */
  availableAt(): number {
    return Math.max(this.coolUntil, this.state === 'open' ? this.openUntil : 0);
  }

  /** An attempt of `kind` starts here at `now` (epoch ms). */
  start(now = 0, kind: CallKind = 'answer'): void {
    this.inFlight++;
    const figure = this.latency[kind];
    if (now > figure.triedAt) figure.triedAt = now;
  }

  /**
   * `open`: the answer goes on (a stream past its first content): it stays in flight, and its outcome
   * counts, until finished() or brokeOff(). A half-open circuit closes now all the same. `ms`: the
   * whole answer's time, or an open one's (a stream's) time to first content.
   */
  succeeded(ms: number | undefined, open = false): void {
    this.requests++;
    // Undefined: a time that says nothing of real requests' (a health probe's).
    if (ms !== undefined) {
      const figure = this.latency[open ? 'stream' : 'answer'];
      figure.ewmaMs = figure.ewmaMs === undefined ? ms : figure.ewmaMs + EWMA_WEIGHT * (ms - figure.ewmaMs);
    }
    if (!open) this.finished();
    // Any call's success closes the circuit, the probe's or not (closing frees the probe slot).
    if (this.state !== 'closed') {
      this.currentCooldown = this.options.cooldownMs;
      this.transition('closed', 'probe succeeded');
    }
  }

  /**
   * A failure that says something about the deployment (not the client's fault). While the circuit
   * is open (an attempt let through because nothing else could serve, see DeploymentFailover.run) it only
   * counts: the cool-down runs on unchanged; a success closes the circuit as a probe's would. While it
   * is half-open, only the probe (`probe`: its ticket) reopens it; any other call's failure only counts.
   * `opensAtOnce`: a failure that will repeat on every call (the provider rejected our key), so one
   * opens the circuit, and its transition line is the operator's alert.
   */
  failed(reason: string, now: number, opensAtOnce = false, probe: ProbeTicket = NO_PROBE): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.requests++;
    this.failures++;
    this.lastError = reason;
    this.lastErrorAt = now;
    this.push(false);
    this.consecutive++;
    if (this.state === 'half-open' && this.holds(probe)) {
      this.currentCooldown = Math.min(this.currentCooldown * 2, this.options.maxCooldownMs);
      this.open(now, `probe failed: ${reason}`);
      return;
    }
    if (this.state === 'closed') {
      const errors = this.recent.filter((ok) => !ok).length;
      if (opensAtOnce) this.open(now, reason);
      else if (this.consecutive >= this.options.failureThreshold) this.open(now, `${this.consecutive} consecutive failures: ${reason}`);
      else if (this.recent.length >= this.options.minimumRequests && errors / this.recent.length >= this.options.errorRateThreshold) {
        this.open(now, `error rate ${Math.round((100 * errors) / this.recent.length)}%: ${reason}`);
      }
    }
  }

  /** An answer is over (a stream that succeeded(…, true) included): a success. */
  finished(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.push(true);
    this.consecutive = 0;
  }

  /**
   * A stream that succeeded(…, true) broke off before its end (a reset, a stall): a failure, so a
   * deployment that cuts every answer short opens its circuit like one that refuses them.
   */
  brokeOff(reason: string, now: number): void {
    // Counted once, at its first content: failed() counts it again.
    this.requests--;
    this.failed(reason, now);
  }

  /**
   * A stream that succeeded(…, true) was then rate limited by its provider (an error event saying so):
   * over, counted neither way (as a 429 before the headers is not), and no traffic here until `untilMs`.
   */
  rateLimitedOpen(untilMs: number): void {
    // Counted once, at its first content: a rate limit is not a request the breaker weighs.
    this.requests--;
    this.released();
    this.coolDown(untilMs);
  }

  /**
   * A request that ended without saying anything about the deployment (client gone, bad request).
   * `probe`: its ticket, if it was the probe: the slot is free for the next call.
   */
  released(probe: ProbeTicket = NO_PROBE): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (this.holds(probe)) this.probe = NO_PROBE;
  }

  /**
   * admit() said yes but no attempt was started (no retry budget, no retry wanted, client gone
   * while waiting): give back the probe slot it granted, if any, without touching the in-flight
   * count, which belongs to other requests' attempts.
   */
  passedOver(probe: ProbeTicket): void {
    if (this.holds(probe)) this.probe = NO_PROBE;
  }

  /** The provider asked us to wait (429 Retry-After): no traffic here until then. */
  coolDown(untilMs: number): void {
    this.coolUntil = Math.max(this.coolUntil, untilMs);
  }

  private push(ok: boolean): void {
    this.recent.push(ok);
    if (this.recent.length > WINDOW) this.recent.shift();
  }

  private open(now: number, reason: string): void {
    this.openUntil = now + this.currentCooldown;
    this.transition('open', reason);
  }

  private transition(to: CircuitState, reason: string): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    // A probe slot belongs to one half-open period: a call still out from an earlier one holds none.
    this.probe = NO_PROBE;
    this.onTransition(this.id, from, to, reason);
  }

  snapshot(now: number): HealthSnapshot {
    const errors = this.recent.filter((ok) => !ok).length;
    const errorRate = this.recent.length === 0 ? 0 : errors / this.recent.length;
    let status: HealthSnapshot['status'] = 'healthy';
    if (this.state !== 'closed') status = 'down';
    else if (now < this.coolUntil) status = 'cooling';
    // Old failures stop counting against the status after five quiet minutes.
    else if (errorRate > 0.2 && this.lastErrorAt !== undefined && now - this.lastErrorAt < 300_000) status = 'degraded';
    const retryAt = this.availableAt();
    return {
      status,
      circuit: this.state,
      inFlight: this.inFlight,
      requests: this.requests,
      failures: this.failures,
      errorRate: Math.round(errorRate * 1000) / 1000,
      latencyMs: shown(this.latency.answer.ewmaMs),
      firstContentMs: shown(this.latency.stream.ewmaMs),
      lastError: this.lastError ?? null,
      lastErrorAt: this.lastErrorAt === undefined ? null : new Date(this.lastErrorAt).toISOString(),
      retryAt: retryAt > now ? new Date(retryAt).toISOString() : null,
    };
  }
}

/** A figure for /health/providers: tenths of a millisecond, null until measured. */
function shown(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 10) / 10;
}

/**
 * Deployments kept at most. Clients name deployments (`openai/<anything>` routes), so without a
 * bound every made-up name stayed here, in /health/providers and in /metrics for good.
 */
export const MAX_TRACKED_DEPLOYMENTS = 2_000;

/** Every deployment's health, created on first use, keyed by `provider/model`. */
export class HealthRegistry {
  /** Least recently used first: get() moves an entry to the end. */
  private readonly entries = new Map<string, DeploymentHealth>();

  constructor(
    private readonly options: BreakerOptions,
    private readonly onTransition: (id: string, from: CircuitState, to: CircuitState, reason: string) => void,
    private readonly limit = MAX_TRACKED_DEPLOYMENTS,
  ) {}

  get(id: string): DeploymentHealth {
    let health = this.entries.get(id);
    if (health === undefined) {
      health = new DeploymentHealth(id, this.options, this.onTransition);
      if (this.entries.size >= this.limit) this.evictIdle(Date.now());
    } else {
      this.entries.delete(id);
    }
    this.entries.set(id, health);
    return health;
  }

  /**
   * Forgets the least recently used deployment with nothing worth keeping: closed, nothing in flight,
   * no Retry-After running. Open or cooling ones stay (forgetting them would send traffic back early),
   * so the registry may exceed the limit while that many are failing at once.
   */
  private evictIdle(now: number): void {
    for (const [id, health] of this.entries) {
      if (health.circuit === 'closed' && health.inFlight === 0 && !health.cooling(now)) {
        this.entries.delete(id);
        return;
      }
    }
  }

  /** Forgets one provider's deployments (a reload changed its endpoint or key: old failures say nothing of the new one). */
  forgetProvider(provider: string): void {
    const prefix = `${provider}/`;
    for (const id of this.entries.keys()) if (id.startsWith(prefix)) this.entries.delete(id);
  }

  /** Deployments seen so far for one provider (ids start with `provider/`). */
  forProvider(provider: string): DeploymentHealth[] {
    const prefix = `${provider}/`;
    return [...this.entries.values()].filter((health) => health.id.startsWith(prefix));
  }
}
