// Token counts of whole requests, off the event loop when they are big. Counting is linear but
// not cheap (~1-2 µs a character): a 4 MB prompt held the loop 3.5-7.5 s, stalling every other
// request and stream of the process. Requests under INLINE_CHARS are counted in place (a worker
// round trip costs more than they do); bigger ones go to a small pool of worker threads that load
// the tokenizer on their first job. The jobs are pure (runCountJob), so both paths give one answer.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { chunkLines, extractiveSummary } from '../context/extractive-summary.js';
import { countInputTokens, type EmbeddingInput } from '../openai/embeddings-request.js';
import type { ChatCompletionRequest, ChatMessage } from '../openai/types.js';
import { loadTokenCounter, type TokenCounter } from './token-estimator.js';

/** Below this many characters of prompt a count stays on the event loop (~10-20 ms at worst). */
export const INLINE_CHARS = 8 * 1024;

/** What the context policies need to cut a conversation: the whole count and its parts. */
export interface PromptPlan {
  /** The request's prompt tokens (counter.request). */
  request: number;
  /** Each message's tokens, framing included. */
  perMessage: number[];
  /** The reply priming (a prompt of no messages). */
  priming: number;
  /** Tokens outside the messages: tools, functions, response schema. No policy removes them. */
  fixed: number;
}

export type CountJob =
  | { kind: 'request'; chat: ChatCompletionRequest }
  /** request(), exact up to `cap`; past it, some number over `cap` (see TokenCounter.requestUpTo). */
  | { kind: 'upTo'; chat: ChatCompletionRequest; cap: number }
  | { kind: 'plan'; chat: ChatCompletionRequest }
  | { kind: 'messages'; messages: readonly ChatMessage[] }
  | { kind: 'embeddings'; input: EmbeddingInput }
  | { kind: 'text'; text: string }
  /** chunkLines (src/context/extractive-summary.ts): a transcript cut into chunks of at most `budget` tokens. */
  | { kind: 'chunks'; lines: readonly string[]; budget: number; maxChunks: number }
  /** extractiveSummary: the summary made without a model. */
  | { kind: 'extractive'; messages: readonly ChatMessage[]; maxTokens: number };

type Result<J extends CountJob> = J extends { kind: 'plan' } ? PromptPlan : J extends { kind: 'chunks' } ? string[] : J extends { kind: 'extractive' } ? string : number;
type AnyResult = number | PromptPlan | string[] | string;

/** One job on a loaded counter; what the worker runs and what the inline path runs. */
export function runCountJob(counter: TokenCounter, job: CountJob): AnyResult {
  switch (job.kind) {
    case 'request':
      return counter.request(job.chat);
    case 'upTo':
      return counter.requestUpTo(job.chat, job.cap);
    case 'messages':
      return counter.messages(job.messages);
    case 'embeddings':
      return countInputTokens(job.input, counter.text);
    case 'text':
      return counter.text(job.text);
    case 'chunks':
      return chunkLines(job.lines, job.budget, counter.text, counter.fit, job.maxChunks);
    case 'extractive':
      return extractiveSummary(job.messages, job.maxTokens, counter.text, counter.fit);
    case 'plan': {
      // Each message is counted once: the whole prompt is the parts' sum (request() would read them all again).
      const perMessage = job.chat.messages.map((message) => counter.message(message));
      const priming = counter.messages([]);
      const fixed = counter.fixed(job.chat);
      let request = priming + fixed;
      for (const tokens of perMessage) request += tokens;
      return { request, perMessage, priming, fixed };
    }
  }
}

function contentChars(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let chars = 0;
  for (const part of content as unknown[]) {
    if (part !== null && typeof part === 'object') {
      const text = (part as { text?: unknown }).text;
      if (typeof text === 'string') chars += text.length;
    }
  }
  return chars;
}

/** Roughly how much text a job counts: enough to choose between inline and a worker, never a count. */
export function jobChars(job: CountJob): number {
  if (job.kind === 'text') return job.text.length;
  if (job.kind === 'chunks') {
    let chars = 0;
    for (const line of job.lines) chars += line.length;
    return chars;
  }
  if (job.kind === 'embeddings') {
    const input = job.input;
    if (typeof input === 'string') return input.length;
    let chars = 0;
    for (const item of input) chars += typeof item === 'string' ? item.length : 1;
    return chars;
  }
  const messages = job.kind === 'messages' || job.kind === 'extractive' ? job.messages : job.chat.messages;
  let chars = 0;
  for (const message of messages) {
    chars += contentChars(message.content);
    if (message.tool_calls !== undefined || message.function_call !== undefined) chars += INLINE_CHARS;
  }
  if (job.kind !== 'messages' && job.kind !== 'extractive' && (job.chat.tools !== undefined || job.chat.functions !== undefined || job.chat.response_format !== undefined)) {
    chars += INLINE_CHARS;
  }
  return chars;
}

interface Pending {
  resolve(value: AnyResult): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Set once the worker failed or exited: its jobs were rejected, it takes no more. */
  dead: boolean;
  /** Set at its first reply: a worker that dies before it is a failed start. */
  answered: boolean;
}

interface WorkerReply {
  id: number;
  result?: AnyResult;
  error?: string;
}

/** Workers that fail in a row, none having answered, before the pool stops starting them for a while. */
const FAILED_STARTS_BEFORE_PAUSE = 3;
/** How long the pool then refuses jobs at once (they are counted in place) before it tries a worker again. */
const WORKER_RETRY_MS = 60_000;

/** A worker that failed before it answered anything: where worker threads cannot run, every start does. */
export class WorkersUnavailable extends Error {}

export interface CountPoolOptions {
  /** The worker's script (tests point it at one that cannot start). */
  workerUrl?: URL;
  now?: () => number;
}

/** A few worker threads, started on first use, each job to the least busy; never keeps the process alive. */
export class CountPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private readonly workerUrl: URL;
  private readonly now: () => number;
  /** Workers that died before their first answer, since the last answer. */
  private failedStarts = 0;
  /** While now() is before this, run() refuses at once instead of starting another worker to fail. */
  private pausedUntil = 0;
  /** Workers started, for tests and diagnostics. */
  started = 0;

  constructor(
    private readonly size: number = Math.max(1, Math.min(4, availableParallelism() - 1)),
    options: CountPoolOptions = {},
  ) {
    this.workerUrl = options.workerUrl ?? new URL('./token-count-worker.js', import.meta.url);
    this.now = options.now ?? Date.now;
  }

  run(job: CountJob): Promise<AnyResult> {
    // A missing worker file or a sandbox without threads would otherwise cost a failed start (~30 ms) per big count.
    if (this.slots.length === 0 && this.now() < this.pausedUntil) return Promise.reject(new WorkersUnavailable('token count workers are unavailable'));
    const slot = this.slot();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      // Referenced while it has work (a caller is waiting on it), unreferenced when idle.
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      try {
        slot.worker.postMessage({ id, job });
      } catch (error) {
        // A job that cannot be cloned never reaches the worker: it must not hold it referenced.
        slot.pending.delete(id);
        if (slot.pending.size === 0) slot.worker.unref();
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Jobs waiting or running, over every worker. */
  pending(): number {
    let total = 0;
    for (const slot of this.slots) total += slot.pending.size;
    return total;
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private slot(): Slot {
    let best: Slot | undefined;
    for (const slot of this.slots) if (best === undefined || slot.pending.size < best.pending.size) best = slot;
    if (best !== undefined && (best.pending.size === 0 || this.slots.length >= this.size)) return best;
    return this.spawn();
  }

  private spawn(): Slot {
    const worker = new Worker(this.workerUrl);
    this.started++;
    const slot: Slot = { worker, pending: new Map(), dead: false, answered: false };
    worker.on('message', (message: WorkerReply) => {
      if (!slot.answered) {
        slot.answered = true;
        this.failedStarts = 0;
      }
      const waiting = slot.pending.get(message.id);
      if (waiting === undefined) return;
      slot.pending.delete(message.id);
      if (slot.pending.size === 0) worker.unref();
      if (message.error !== undefined || message.result === undefined) waiting.reject(new Error(message.error ?? 'no result'));
      else waiting.resolve(message.result);
    });
    const fail = (error: Error) => {
      if (slot.dead) return;
      slot.dead = true;
      if (!slot.answered && ++this.failedStarts >= FAILED_STARTS_BEFORE_PAUSE) {
        this.failedStarts = 0;
        this.pausedUntil = this.now() + WORKER_RETRY_MS;
      }
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots.splice(index, 1);
      for (const waiting of slot.pending.values()) waiting.reject(error);
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`token count worker exited with code ${code}`)));
    // After the listeners (adding a 'message' listener refs the worker's port again); run() refs it while it has jobs.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }
}

let pool: CountPool | undefined;

/**
 * Counts `job`: in place when it is small, else in a worker thread. A worker that fails (it
 * crashed, or could not start) is not the request's fault: the count is then made in place.
 */
export async function countTokens<J extends CountJob>(job: J): Promise<Result<J>> {
  if (jobChars(job) >= INLINE_CHARS) {
    pool ??= new CountPool();
    try {
      return (await pool.run(job)) as Result<J>;
    } catch {
      // Fall through: counted here, as before workers.
    }
  }
  return runCountJob(await loadTokenCounter(), job) as Result<J>;
}

/** Stops the shared pool's workers (tests; the process never waits for them). */
export async function closeCountPool(): Promise<void> {
  const current = pool;
  pool = undefined;
  await current?.close();
}
