// Summarises a conversation within a token budget: one LLM call, map-reduce when the input is larger
// than the summariser's window, and an extractive summary when no model can serve. The calls are
// planned first (prepare), so the caller can hold what all of them may use; every call goes through
// the executor (routing, retries, fallbacks) and the caller records the usage it reports.
import { isGatewayError } from '../errors/gateway-error.js';
import { mayUseModel, ModelAllowlist } from '../keys/model-allowlist.js';
import type { ChatCompletionRequest, ChatMessage, CompletionUsage } from '../openai/types.js';
import type { ModelGroup, Route } from '../routing/model-router.js';
import type { Services } from '../services.js';
import { loadTokenCounter, type TokenCounter } from '../usage/token-estimator.js';
import { countTokens } from '../usage/token-counts.js';
import { checkUsage, estimateAnswerTokens } from '../usage/usage-check.js';
import { transcriptLine, truncateToTokens } from './extractive-summary.js';
import type { CallSignal } from '../upstream/call-signal.js';
import { isRecord } from '../json/guards.js';
import { groupOutputLimit, groupWindow } from '../routing/group-figures.js';

/** `none`: there was nothing to summarise (every message is kept verbatim), so no summariser was called. */
export type CondenseMethod = 'llm' | 'llm-map-reduce' | 'extractive' | 'none';

export interface CondenseRequest {
  messages: readonly ChatMessage[];
  maxTokens: number;
  /** The summarising model group; undefined means extractive only. */
  group: ModelGroup | undefined;
  instructions?: string | undefined;
  /**
   * `messages`' prompt tokens (counter.messages), when the caller has already counted them (the
   * chat policy counted every message to choose what to drop): not counted a second time.
   */
  originalTokens?: number | undefined;
}

export interface CondenseResult {
  summary: string;
  original_tokens: number;
  summary_tokens: number;
  model: string;
  method: CondenseMethod;
}

/** One summariser call that reached (or tried to reach) a deployment, for the usage record. */
export interface SummariserCall {
  route: Route | undefined;
  /** Set on every call that answered: the provider's report, or the local estimate where it was missing or implausible. */
  usage: CompletionUsage | undefined;
  /** The usage is (partly) the local estimate. */
  estimated: boolean;
  ok: boolean;
  errorCode?: string;
}

export interface CondenseContext {
  requestId: string;
  signal: CallSignal;
  /** The calling key's model allowlist (undefined: any model): the summariser's fallbacks follow it. */
  allowed: readonly string[] | undefined;
  onCall?: (call: SummariserCall) => void;
}

/** What `model` says when no LLM wrote the summary. */
export const EXTRACTIVE_MODEL = 'extractive';
/** What `model` and `method` say when there was nothing to summarise. */
const NOTHING = 'none';

/** Room kept in a summariser call for the prompt's own words and framing. */
const PROMPT_SLACK = 64;
/** A map-reduce over more calls than this is given up in favour of the extractive summary. */
const MAX_CALLS = 48;
const PARALLEL_CALLS = 4;

function summaryPrompt(maxTokens: number, instructions: string | undefined): string {
  const extra = instructions === undefined || instructions.length === 0 ? '' : `\n\nAdditional instructions: ${instructions}`;
  return (
    'You condense conversations. Summarise the conversation you are given so that it can replace the original in a later prompt. ' +
    "Keep every fact, name, number, date, identifier, decision made, open question, and the user's goals and preferences; " +
    'say who said what when it matters. Drop greetings and repetition. Answer with the summary only, in plain prose, ' +
    `in at most ${maxTokens} tokens.${extra}`
  );
}

/** The first choice's text from an OpenAI-shaped completion body. */
function completionText(body: string | Buffer): string {
  const parsed: unknown = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  const choice = isRecord(parsed) && Array.isArray(parsed.choices) ? (parsed.choices[0] as unknown) : undefined;
  const message = isRecord(choice) ? choice.message : undefined;
  const content = isRecord(message) ? message.content : undefined;
  if (typeof content !== 'string' || content.trim().length === 0) throw new Error('the summariser answered with no text');
  return content.trim();
}


/**
 * The summariser's own budget: the request's, lowered to the smallest catalog output limit of the
 * group (the upstream refuses a larger max_tokens; the summary still never exceeds the request's).
 */
function summariserRequest(request: CondenseRequest, group: ModelGroup): CondenseRequest {
  const limit = groupOutputLimit(group);
  return limit === undefined || limit >= request.maxTokens ? request : { ...request, maxTokens: limit };
}

/** The summariser calls a condensation plans and the tokens they may use, for the key's holds. */
export interface SummariserEstimate {
  calls: number;
  promptTokens: number;
  outputTokens: number;
}

/** A counted and cut condensation, ready to run. */
export interface PreparedCondense {
  /** Every planned summariser call (each chunk call and the combine call of a map-reduce); none for an extractive summary. */
  estimate: SummariserEstimate;
  /**
   * What the summariser calls change from the request (max_tokens lowered to the group's output
   * limit), for `X-LLM-Proxy-Warnings` when they wrote the summary; empty when nothing changed.
   */
  warnings: readonly string[];
  run(context: CondenseContext): Promise<CondenseResult>;
}

interface SummaryPlan {
  whole: string;
  inputBudget: number;
  /** The first level of a map-reduce; undefined when one call takes the whole transcript. */
  chunks: string[] | undefined;
  estimate: SummariserEstimate;
}

const NO_CALLS: SummariserEstimate = Object.freeze({ calls: 0, promptTokens: 0, outputTokens: 0 });
/** What `Part N: ` and the line break add to each partial summary in the combine call (a bound). */
const PART_LABEL_TOKENS = 8;

/** The most a partial summary may take when `chunks` of them must fit one call together. */
function partTokens(maxTokens: number, inputBudget: number, chunks: number): number {
  const partBudget = Math.max(16, Math.min(maxTokens, inputBudget));
  return Math.max(16, Math.min(partBudget, Math.floor(inputBudget / Math.max(1, chunks))));
}

/**
 * The tokens of a map-reduce over `chunks` pieces of a `wholeTokens` transcript: every chunk call
 * (its piece, the instructions, at most `partTokens` out), each further level while the partial
 * summaries do not fit one call, and the combine call (the partials in, `maxTokens` out).
 */
function estimateMapReduce(wholeTokens: number, chunks: number, inputBudget: number, maxTokens: number, promptTokens: number): SummariserEstimate {
  const total = { calls: 0, promptTokens: 0, outputTokens: 0 };
  let levelTokens = wholeTokens;
  let pieces = chunks;
  for (;;) {
    const partMax = partTokens(maxTokens, inputBudget, pieces);
    total.calls += pieces;
    total.promptTokens += levelTokens + pieces * promptTokens;
    total.outputTokens += pieces * partMax;
    const joinedTokens = pieces * (partMax + PART_LABEL_TOKENS);
    const next = Math.ceil(joinedTokens / inputBudget);
    // The run gives up (extractive) where the partials stop getting fewer or the calls run out.
    if (joinedTokens <= inputBudget || next >= pieces || total.calls + next > MAX_CALLS) {
      return { calls: total.calls + 1, promptTokens: total.promptTokens + joinedTokens + promptTokens, outputTokens: total.outputTokens + maxTokens };
    }
    levelTokens = joinedTokens;
    pieces = next;
  }
}

export class ContextCondenser {
  private cheapest: { version: number; name: string | undefined } | undefined;

  constructor(private readonly services: Pick<Services, 'router' | 'executor' | 'config' | 'logger'>) {}

  /**
   * The summarising model: `condense.model` from the config, else the cheapest routable chat model
   * (catalog input + output price; reasoning models only when nothing else is priced). `allowed` is the
   * calling key's model list, if it has one: never a model outside it. `condense.model` is the
   * operator's choice, so it is not swapped for another the key may use: none (extractive) instead.
   */
  pickModel(allowed?: readonly string[]): ModelGroup | undefined {
    const router = this.services.router;
    const configured = this.services.config.condense?.model;
    if (configured !== undefined) {
      const group = router.plan(configured);
      return group === undefined || allowed === undefined || mayUseModel(allowed, router, configured, group) ? group : undefined;
    }
    if (allowed === undefined && this.cheapest?.version === router.version) {
      return this.cheapest.name === undefined ? undefined : router.plan(this.cheapest.name);
    }
    const allowlist = allowed === undefined ? undefined : new ModelAllowlist(allowed, (name) => router.plan(name));
    let best: { name: string; cost: number; reasoning: boolean } | undefined;
    for (const model of router.list()) {
      const entry = model.entry;
      if (entry === undefined || !entry.supports_chat || entry.deprecated === true) continue;
      if (entry.input_cost === null || entry.output_cost === null) continue;
      if (!entry.modalities.output.includes('text')) continue;
      const cost = entry.input_cost + entry.output_cost;
      const reasoning = entry.capabilities.includes('reasoning');
      const better = best === undefined || (best.reasoning && !reasoning) || (best.reasoning === reasoning && cost < best.cost);
      // The allowlist last: it plans the name, which only a better candidate needs.
      if (better && (allowlist === undefined || allowlist.allowsName(model.id))) best = { name: model.id, cost, reasoning };
    }
    if (allowed === undefined) this.cheapest = { version: router.version, name: best?.name };
    return best === undefined ? undefined : router.plan(best.name);
  }

  async condense(request: CondenseRequest, context: CondenseContext): Promise<CondenseResult> {
    return (await this.prepare(request)).run(context);
  }

  /**
   * Counts and cuts the input and plans the summariser calls, without making any: the caller holds
   * the estimate against the key's token limit and budget, then runs the plan.
   */
  async prepare(request: CondenseRequest): Promise<PreparedCondense> {
    if (request.messages.length === 0) {
      const nothing: CondenseResult = { summary: '', original_tokens: 0, summary_tokens: 0, model: NOTHING, method: NOTHING };
      return { estimate: NO_CALLS, warnings: [], run: () => Promise.resolve(nothing) };
    }
    // The input may be megabytes: its counts, chunks and extractive summary run in a worker thread
    // when it is big (src/usage/token-counts.ts); the summaries themselves are small.
    const counter = await loadTokenCounter();
    const originalTokens = request.originalTokens ?? (await countTokens({ kind: 'messages', messages: request.messages }));
    const finish = (summary: string, model: string, method: CondenseMethod): CondenseResult => {
      const fitted = truncateToTokens(summary, request.maxTokens, counter.text, counter.fit);
      return { summary: fitted, original_tokens: originalTokens, summary_tokens: counter.text(fitted), model, method };
    };
    const extractive = async () => finish(await countTokens({ kind: 'extractive', messages: request.messages, maxTokens: request.maxTokens }), EXTRACTIVE_MODEL, 'extractive');
    const group = request.group;
    // A plan that cannot be made is a summariser failure like any other: the run answers extractively.
    const summariser = group === undefined ? request : summariserRequest(request, group);
    const plan = group === undefined ? undefined : await this.plan(group, summariser, counter).catch((error: unknown) => ({ refused: error instanceof Error ? error.message : String(error) }));
    const lowered = group !== undefined && summariser.maxTokens < request.maxTokens;
    return {
      estimate: plan === undefined || 'refused' in plan ? NO_CALLS : plan.estimate,
      warnings: lowered ? [`max_tokens lowered from ${request.maxTokens} to ${summariser.maxTokens}: the largest output ${group.name} allows`] : [],
      run: async (context) => {
        if (group === undefined || plan === undefined) return extractive();
        try {
          if ('refused' in plan) throw new Error(plan.refused);
          const { summary, method } = await this.summarise(group, summariser, plan, counter, context);
          return finish(summary, group.name, method);
        } catch (error) {
          if (context.signal.aborted) throw error;
          this.services.logger.warn(
            { component: 'condense', model: group.name, err: isGatewayError(error) ? (error.code ?? error.message) : error instanceof Error ? error.message : String(error) },
            'summariser failed; answering with an extractive summary',
          );
        }
        return extractive();
      },
    };
  }

  /** One call when the transcript fits the summariser's window, else the first level of a map-reduce. */
  private async plan(group: ModelGroup, request: CondenseRequest, counter: TokenCounter): Promise<SummaryPlan | { refused: string }> {
    const lines = request.messages.map(transcriptLine);
    const window = groupWindow(group);
    const promptTokens = counter.text(summaryPrompt(request.maxTokens, request.instructions)) + PROMPT_SLACK;
    const inputBudget = window === undefined ? Number.POSITIVE_INFINITY : window - request.maxTokens - promptTokens;
    const whole = lines.join('\n');
    const wholeTokens = await countTokens({ kind: 'text', text: whole });
    if (wholeTokens <= inputBudget) {
      return { whole, inputBudget, chunks: undefined, estimate: { calls: 1, promptTokens: wholeTokens + promptTokens, outputTokens: request.maxTokens } };
    }
    const refused = { refused: 'the conversation needs too many summariser calls' };
    if (inputBudget < 32) return refused;
    const chunks = await countTokens({ kind: 'chunks', lines, budget: inputBudget, maxChunks: MAX_CALLS });
    if (chunks.length > MAX_CALLS) return refused;
    return { whole, inputBudget, chunks, estimate: estimateMapReduce(wholeTokens, chunks.length, inputBudget, request.maxTokens, promptTokens) };
  }

  private async summarise(group: ModelGroup, request: CondenseRequest, plan: SummaryPlan, counter: TokenCounter, context: CondenseContext): Promise<{ summary: string; method: CondenseMethod }> {
    const { inputBudget } = plan;
    if (plan.chunks === undefined) {
      return { summary: await this.call(group, plan.whole, request.maxTokens, request.instructions, context), method: 'llm' };
    }
    // Map-reduce: summarise window-sized chunks, then the joined partial summaries, until one call fits.
    let calls = 0;
    let chunks: string[] = plan.chunks;
    for (;;) {
      const partMax = partTokens(request.maxTokens, inputBudget, chunks.length);
      if (inputBudget < 32 || calls + chunks.length > MAX_CALLS) throw new Error('the conversation needs too many summariser calls');
      const partials: string[] = [];
      for (let index = 0; index < chunks.length; index += PARALLEL_CALLS) {
        const batch = chunks.slice(index, index + PARALLEL_CALLS);
        calls += batch.length;
        const answers = await Promise.all(
          batch.map((chunk) => this.call(group, chunk, partMax, undefined, context).then((text) => truncateToTokens(text, partMax, counter.text, counter.fit))),
        );
        partials.push(...answers);
      }
      const joined = partials.map((text, index) => `Part ${index + 1}: ${text}`);
      if ((await countTokens({ kind: 'text', text: joined.join('\n') })) <= inputBudget) {
        return { summary: await this.call(group, joined.join('\n'), request.maxTokens, request.instructions, context), method: 'llm-map-reduce' };
      }
      if (joined.length >= chunks.length) throw new Error('the partial summaries do not get shorter');
      chunks = await countTokens({ kind: 'chunks', lines: joined, budget: inputBudget, maxChunks: MAX_CALLS - calls });
    }
  }

  private async call(group: ModelGroup, transcript: string, maxTokens: number, instructions: string | undefined, context: CondenseContext): Promise<string> {
    const chat: ChatCompletionRequest = {
      model: group.name,
      messages: [
        { role: 'system', content: summaryPrompt(maxTokens, instructions) },
        { role: 'user', content: `Conversation to summarise:\n\n${transcript}` },
      ],
      max_tokens: maxTokens,
    };
    try {
      const outcome = await this.services.executor.complete(group, chat, {
        requestId: context.requestId,
        signal: context.signal,
        includeUsage: false,
        created: Math.floor(Date.now() / 1000),
        warnings: [],
        allowed: context.allowed,
        maxOutput: maxTokens,
      });
      // Checked like a chat call's report: a missing or implausible count is billed from the local estimate.
      const checked = checkUsage(outcome.usage, chat, outcome.route.entry, estimateAnswerTokens, outcome.body);
      context.onCall?.({ route: outcome.route, usage: checked?.usage ?? outcome.usage, estimated: checked !== undefined, ok: true });
      return completionText(outcome.body);
    } catch (error) {
      context.onCall?.({
        route: group.deployments[0]?.route,
        usage: undefined,
        estimated: false,
        ok: false,
        ...(isGatewayError(error) && error.code !== null ? { errorCode: error.code } : {}),
      });
      throw error;
    }
  }
}

const condensers = new WeakMap<object, ContextCondenser>();

/** The one condenser of a services object (the route and the chat policy share its model choice). */
export function condenserFor(services: Pick<Services, 'router' | 'executor' | 'config' | 'logger'>): ContextCondenser {
  let condenser = condensers.get(services);
  if (condenser === undefined) {
    condenser = new ContextCondenser(services);
    condensers.set(services, condenser);
  }
  return condenser;
}
