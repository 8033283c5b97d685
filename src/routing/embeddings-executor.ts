// Runs one embeddings call for a model group through the chat executor's failover, retries,
// breakers and time caps; each attempt is the provider's embeddings codec around one upstream call.
// The answer's embeddings are put in the encoding the client asked for; an OpenAI-format answer
// that needed no change keeps its own bytes.
import { invalidRequest, upstreamBadResponse, type GatewayError } from '../errors/gateway-error.js';
import { conformEncoding } from '../openai/embeddings-encoding.js';
import { encodingOf, inputCount, type EmbeddingRequest, type EmbeddingResponse, type EncodingFormat } from '../openai/embeddings-request.js';
import type { EmbeddingsTarget } from '../providers/embeddings-codec.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import { callTimeouts, type AttemptRecord, type ChatExecutor, type GroupView } from './chat-executor.js';
import type { ModelGroup, ModelRouter, Route } from './model-router.js';
import { reachableGroups, type Reach } from './reachable-groups.js';
import type { CallSignal } from '../upstream/call-signal.js';

export interface EmbeddingsCallContext {
  signal: CallSignal;
  /** Dropped fields of the attempt that answered, for `X-LLM-Proxy-Warnings`. */
  warnings: string[];
  /** The calling key's model allowlist (undefined: any model): a fallback outside it is skipped. */
  allowed: readonly string[] | undefined;
}

export interface EmbeddingsOutcome {
  /** The answer in OpenAI's shape, embeddings in the requested encoding; `usage` absent when the provider gave none. */
  response: EmbeddingResponse;
  /** The upstream's own bytes when they can go out unchanged (pass-through, nothing re-encoded, usage reported). */
  raw: Buffer | undefined;
  route: Route;
  attempts: AttemptRecord[];
}

/**
 * A deployment whose provider has no embeddings endpoint: the request, not the deployment, is at
 * fault. `provider` undefined: a group of several deployments, none of which is named (RELIABILITY 4d#8).
 */
export function embeddingsNotServed(provider: string | undefined, model: string): GatewayError {
  const shown = /^[\x20-\x7e]{1,128}$/.test(model) ? `'${model}'` : 'requested';
  const why = provider === undefined ? 'none of its deployments serves them' : `its provider '${provider}' does not serve them`;
  return invalidRequest(
    `The model ${shown} cannot create embeddings: ${why}. GET /api/models/search?capability=embeddings lists embedding models.`,
    'model_not_supported',
    'model',
  );
}

function servesEmbeddings(route: Route): boolean {
  return route.provider.codec.embeddings !== undefined;
}

export class EmbeddingsExecutor {
  /** Groups as embeddings see them, per router version (a routing change can replace a deployment). */
  private readonly served = new WeakMap<ModelGroup, { version: number; group: ModelGroup | undefined }>();
  /** The embedding deployments of each reach (reachable-groups.ts keeps one per group, router version and allowlist). */
  private readonly embedding = new WeakMap<Reach, readonly Route[]>();
  /** servedGroup for the failover's fallbacks: made once, not per request. */
  private readonly view: GroupView = (group) => this.servedGroup(group);

  constructor(
    private readonly client: UpstreamClient,
    private readonly executor: ChatExecutor,
    private readonly router: ModelRouter,
  ) {}

  /**
   * The group with only the deployments that can embed, the same object while nothing changes;
   * undefined when none can. The asked group and, through `view`, each fallback go through it: a
   * chat-only deployment such as a Claude model is never an attempt, so it can neither turn an
   * upstream failure into a 400 nor be counted against the group.
   */
  servedGroup(group: ModelGroup): ModelGroup | undefined {
    const version = this.router.version;
    const cached = this.served.get(group);
    if (cached !== undefined && cached.version === version) return cached.group;
    const deployments = group.deployments.filter((deployment) => servesEmbeddings(deployment.route));
    const served = deployments.length === group.deployments.length ? group : deployments.length > 0 ? { ...group, deployments } : undefined;
    this.served.set(group, { version, group: served });
    return served;
  }

  /**
   * The deployments that may embed for a served group: its own and those of the fallbacks the key
   * may use (`allowed`; undefined: any model), for the hold. A fallback's chat-only deployment
   * bills no embeddings, so it is not priced.
   */
  reachableRoutes(group: ModelGroup, allowed: readonly string[] | undefined): readonly Route[] {
    const reach = reachableGroups(this.router, group, allowed);
    let routes = this.embedding.get(reach);
    if (routes === undefined) {
      routes = reach.routes.filter(servesEmbeddings);
      this.embedding.set(reach, routes);
    }
    return routes;
  }

  async embed(group: ModelGroup, request: EmbeddingRequest, context: EmbeddingsCallContext): Promise<EmbeddingsOutcome> {
    const expected = inputCount(request.input);
    const format = encodingOf(request);
    const { result, route, attempts } = await this.executor.execute(
      group,
      context.signal,
      (route, current, signal) => this.embedOnce(route, current, request, context.warnings, signal, expected, format),
      context,
      this.view,
    );
    // Named fields, not a spread: see heldOutcome in src/routing/chat-stream.ts (the same V8 slow path).
    return { response: result.response, raw: result.raw, route, attempts };
  }

  private async embedOnce(
    route: Route,
    group: ModelGroup,
    request: EmbeddingRequest,
    warnings: string[],
    signal: CallSignal,
    expected: number,
    format: EncodingFormat,
  ): Promise<{ response: EmbeddingResponse; raw: Buffer | undefined }> {
    const provider = route.provider;
    const codec = provider.codec.embeddings;
    if (codec === undefined) throw embeddingsNotServed(provider.name, route.model);
    // One attempt at a time: the warnings left are those of the attempt that answered.
    warnings.length = 0;
    const target: EmbeddingsTarget = { provider: provider.name, model: route.upstreamModel, warnings };
    const timeouts = callTimeouts(group);
    const call = async (part: EmbeddingRequest, count: number, partSignal: CallSignal) => {
      const spec = codec.buildEmbeddingsRequest(part, target);
      const { bytes, parsed } = await this.client.sendForJson(provider, spec, partSignal, timeouts);
      return { bytes, response: codec.parseEmbeddingsResponse(parsed, target, count) };
    };
    let response: EmbeddingResponse;
    let bytes: Buffer | undefined;
    if (codec.maxInputs === undefined || expected <= codec.maxInputs) {
      ({ bytes, response } = await call(request, expected, signal));
    } else {
      response = await this.embedInBatches(request, codec.maxInputs, signal, call);
      // Warnings are the same for every batch: keep one set.
      warnings.splice(0, warnings.length, ...new Set(warnings));
    }
    const changed = conformEncoding(response.data, format);
    if (changed === undefined) throw upstreamBadResponse(provider.name, 'an embedding that is neither floats nor base64');
    return { response, raw: bytes !== undefined && codec.passthrough && !changed && response.usage !== undefined ? bytes : undefined };
  }

  /**
   * A request over the provider's per-call limit, as consecutive slices of at most `size` inputs,
   * a few calls at a time; one failure aborts the others and fails the attempt as a whole.
   */
  private async embedInBatches(
    request: EmbeddingRequest,
    size: number,
    signal: CallSignal,
    call: (part: EmbeddingRequest, count: number, signal: CallSignal) => Promise<{ response: EmbeddingResponse }>,
  ): Promise<EmbeddingResponse> {
    // A client already gone (it left while waiting for an identical request) fires no listener:
    // its batches would go out on a fresh controller, so none is sent (as ChatExecutor's deadline).
    if (signal.aborted) throw signal.reason;
    const inputs = request.input as readonly unknown[];
    const controller = new AbortController();
    const abort = () => controller.abort();
    signal.addEventListener('abort', abort, { once: true });
    const parts: EmbeddingResponse[] = [];
    try {
      for (let wave = 0; wave < inputs.length; wave += size * PARALLEL_BATCHES) {
        const calls: Array<Promise<{ response: EmbeddingResponse }>> = [];
        for (let start = wave; start < Math.min(inputs.length, wave + size * PARALLEL_BATCHES); start += size) {
          const slice = inputs.slice(start, start + size) as EmbeddingRequest['input'];
          calls.push(call({ ...request, input: slice }, (slice as unknown[]).length, controller.signal));
        }
        const settled = await Promise.all(
          calls.map((pending) =>
            pending.catch((error: unknown) => {
              controller.abort();
              throw error;
            }),
          ),
        );
        for (const done of settled) parts.push(done.response);
      }
    } finally {
      signal.removeEventListener('abort', abort);
    }
    return mergeBatches(parts);
  }
}

/** How many slices of an over-long request are in flight at once. */
const PARALLEL_BATCHES = 4;

/** The slices' answers as one: indexes renumbered in order, usage summed when every slice reported it. */
export function mergeBatches(parts: readonly EmbeddingResponse[]): EmbeddingResponse {
  const data: EmbeddingResponse['data'] = [];
  let tokens = 0;
  let reported = true;
  for (const part of parts) {
    for (const item of part.data) data.push({ ...item, index: data.length });
    if (part.usage === undefined) reported = false;
    else tokens += part.usage.prompt_tokens;
  }
  const first = parts[0];
  return { object: 'list', data, model: first?.model ?? '', ...(reported ? { usage: { prompt_tokens: tokens, total_tokens: tokens } } : {}) };
}
