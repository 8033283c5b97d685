// Optional background probes (off by default: each one is a real, billed completion of one token).
// Every `interval` each deployment of the configured model groups gets a one-token chat call; the
// result feeds the same health and circuit breakers as live traffic, so a dead deployment is found
// before a client finds it and a recovered one is closed again without waiting for traffic.
import type { Logger } from '../logging/logger.js';
import type { ChatCompletionRequest } from '../openai/types.js';
import type { ChatExecutor } from './chat-executor.js';
import type { ModelGroup, ModelRouter } from './model-router.js';

export class HealthProbe {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Aborted by stop(): a probe in flight (up to 30 s) would hold a shutdown or a retired generation's close. */
  private stopped = new AbortController();

  constructor(
    private readonly router: ModelRouter,
    private readonly executor: ChatExecutor,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.probeAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stopped.abort();
    this.stopped = new AbortController();
  }

  /** Probes every deployment of every configured group once; never throws. */
  async probeAll(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let probed = 0;
    const stopped = this.stopped.signal;
    try {
      const seen = new Set<string>();
      for (const group of this.router.modelGroups()) {
        for (const deployment of group.deployments) {
          if (stopped.aborted) return probed;
          if (seen.has(deployment.id)) continue;
          seen.add(deployment.id);
          probed++;
          // A group of one deployment, no retries, no fallbacks: the answer is about this deployment only.
          const single: ModelGroup = { ...group, deployments: [deployment], fallbacks: [], retries: 0 };
          try {
            await this.executor.complete(single, probeRequest(group.name, deployment.route.provider.kind), {
              requestId: `probe-${deployment.id}`,
              signal: AbortSignal.any([stopped, AbortSignal.timeout(30_000)]),
              includeUsage: false,
              created: Math.floor(Date.now() / 1000),
              warnings: [],
              // The proxy's own probe, made for no key.
              allowed: undefined,
              probe: true,
            });
          } catch (error) {
            this.logger.debug({ deployment: deployment.id, code: (error as { code?: string }).code }, 'health probe failed');
          }
        }
      }
    } finally {
      this.running = false;
    }
    return probed;
  }
}

/**
 * The smallest chat call: OpenAI's reasoning models (o-series, gpt-5) refuse `max_tokens` and take
 * only `max_completion_tokens`, so OpenAI and Azure get that (an old Azure api-version is sent
 * `max_tokens` by the codec); every other host `max_tokens`.
 */
export function probeRequest(model: string, kind: string): ChatCompletionRequest {
  const messages: ChatCompletionRequest['messages'] = [{ role: 'user', content: 'ping' }];
  return kind === 'openai' || kind === 'azure' ? { model, messages, max_completion_tokens: 1 } : { model, messages, max_tokens: 1 };
}
