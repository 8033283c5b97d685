// The shared upstream HTTP client: one undici Agent (keep-alive pools per origin; one more per
// model-group connect timeout), connect, first-byte and idle timeouts, the SSRF guard's lookup on
// new connections, no redirects, capped bodies, and one mapping of transport
// failures to GatewayError. Providers never do I/O themselves; they describe requests.
import type { LookupFunction } from 'node:net';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import {
  GatewayError,
  upstreamBadResponse,
  contentPolicyRefusal,
  contextLengthExceeded,
  upstreamError,
  upstreamTimeout,
  upstreamUnreachable,
} from '../errors/gateway-error.js';
import type { Redactor } from '../logging/redactor.js';
import type { ProviderInstance, UpstreamRequestSpec } from '../providers/provider.js';
import type { CallSignal } from './call-signal.js';
import { UpstreamAddressRefused } from './guarded-lookup.js';
import { StreamingHandler, type UpstreamResponse } from './upstream-body.js';

export interface UpstreamClientOptions {
  connectTimeoutMs: number;
  /** Time to response headers. */
  ttfbTimeoutMs: number;
  /** Longest silence between two body chunks. */
  idleTimeoutMs: number;
  maxResponseBytes: number;
  /**
   * Resolves hosts for new connections (src/upstream/guarded-lookup.ts: the SSRF guard); absent,
   * net's own. Called only when a connection is opened, never per request on a kept-alive one.
   */
  lookup?: LookupFunction;
}

/** A model group's own limits for one call; an absent one is the client's default. */
export interface CallTimeouts {
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
}

export type { UpstreamResponse } from './upstream-body.js';

/** Where a provider lives, split once at start so no URL is parsed per request. */
interface Endpoint {
  origin: string;
  basePath: string;
  headers: Record<string, string>;
  /** `headers` plus the JSON content type, for calls with a body. */
  jsonHeaders: Record<string, string>;
}

function hasKeys(record: Record<string, string>): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
}

export class UpstreamClient {
  /** Serves every call at the default connect timeout. */
  readonly agent: Agent;
  /**
   * undici fixes the connect timeout per Agent, so a group with its own `connect_s` gets an Agent
   * of its own, keyed by milliseconds and made on first use: one per distinct value in the config.
   */
  private readonly connectAgents = new Map<number, Agent>();
  private closed = false;
  private readonly endpoints = new WeakMap<ProviderInstance, Endpoint>();

  constructor(
    private readonly options: UpstreamClientOptions,
    private readonly redactor: Redactor,
  ) {
    this.agent = this.createAgent(options.connectTimeoutMs);
  }

  /** The Agent for a call whose group sets its own connect timeout (the default's is `agent`). */
  agentFor(connectTimeoutMs: number): Agent {
    // After close() no Agent is made: the call fails on the closed main one, as any other would.
    if (connectTimeoutMs === this.options.connectTimeoutMs || this.closed) return this.agent;
    let agent = this.connectAgents.get(connectTimeoutMs);
    if (agent === undefined) {
      agent = this.createAgent(connectTimeoutMs);
      this.connectAgents.set(connectTimeoutMs, agent);
    }
    return agent;
  }

  private createAgent(connectTimeoutMs: number): Agent {
    return new Agent({
      connect: this.options.lookup === undefined ? { timeout: connectTimeoutMs } : { timeout: connectTimeoutMs, lookup: this.options.lookup },
      headersTimeout: this.options.ttfbTimeoutMs,
      bodyTimeout: this.options.idleTimeoutMs,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      // No per-origin cap: an LLM stream holds its connection for seconds to minutes, so a cap queues
      // every request beyond it behind whole streams (with 256, stream 600 waited ~5 s for its first
      // byte; RELIABILITY §4c, 2,000 concurrent streams). Client concurrency is bounded by the server.
      connections: null,
      pipelining: 1,
    });
  }

  private endpoint(provider: ProviderInstance): Endpoint {
    let endpoint = this.endpoints.get(provider);
    if (endpoint === undefined) {
      const basePath = provider.baseUrl.pathname.replace(/\/+$/, '');
      const headers = { ...provider.codec.authHeaders(provider.apiKey), 'user-agent': 'llm-proxy' };
      endpoint = { origin: provider.baseUrl.origin, basePath, headers, jsonHeaders: { ...headers, 'content-type': 'application/json' } };
      this.endpoints.set(provider, endpoint);
    }
    return endpoint;
  }

  /**
   * Sends a request and resolves at the response headers. Transport failures become GatewayErrors.
   * `timeouts` override the client's connect time, time to headers and idle time between body chunks for this call.
   */
  async send(
    provider: ProviderInstance,
    spec: UpstreamRequestSpec,
    signal: CallSignal,
    timeouts?: CallTimeouts,
  ): Promise<UpstreamResponse> {
    try {
      // Dispatched with a handler of our own (src/upstream/upstream-body.ts): the body is fed to one
      // reader as the connection delivers it, without request()'s Readable and AsyncResource.
      return await new Promise<UpstreamResponse>((resolve, reject) => {
        const handler = new StreamingHandler(signal, resolve, reject);
        if (handler.done) return;
        const agent = timeouts?.connectTimeoutMs === undefined ? this.agent : this.agentFor(timeouts.connectTimeoutMs);
        agent.dispatch(this.dispatchOptions(provider, spec, timeouts), handler);
      });
    } catch (error) {
      throw this.transportError(provider.name, error, 'waiting for the response headers');
    }
  }

  /**
   * A call whose answer is one JSON body (non-streaming chat, embeddings): a non-2xx status becomes
   * our error, a body that is not JSON a 502; else the bytes (for pass-through) and their parse.
   * Dispatched with a handler of our own that collects the chunks: no response stream and no async
   * iterator per call, which `request()` + `readBody()` cost on the busiest path.
   */
  async sendForJson(
    provider: ProviderInstance,
    spec: UpstreamRequestSpec,
    signal: CallSignal,
    timeouts?: CallTimeouts,
  ): Promise<{ bytes: Buffer; parsed: unknown }> {
    let answer: CollectedAnswer | undefined;
    try {
      answer = await new Promise<CollectedAnswer>((resolve, reject) => {
        const handler = new CollectingHandler(this.options.maxResponseBytes, signal, resolve, reject);
        if (handler.settled) return;
        const agent = timeouts?.connectTimeoutMs === undefined ? this.agent : this.agentFor(timeouts.connectTimeoutMs);
        agent.dispatch(this.dispatchOptions(provider, spec, timeouts), handler);
      });
    } catch (error) {
      if (error instanceof BodyTooLarge) throw upstreamBadResponse(provider.name, `a body larger than ${this.options.maxResponseBytes} bytes`);
      throw this.transportError(provider.name, error, 'waiting for the response');
    }
    if (answer.status < 200 || answer.status >= 300) return Promise.reject(this.errorFromBytes(provider, answer.status, answer.headers, answer.bytes));
    try {
      return { bytes: answer.bytes, parsed: JSON.parse(answer.bytes.toString('utf8')) as unknown };
    } catch {
      throw upstreamBadResponse(provider.name, 'an answer that is not JSON');
    }
  }

  private dispatchOptions(
    provider: ProviderInstance,
    spec: UpstreamRequestSpec,
    timeouts?: CallTimeouts,
  ): Dispatcher.DispatchOptions {
    const endpoint = this.endpoint(provider);
    const base = spec.body === undefined ? endpoint.headers : endpoint.jsonHeaders;
    // Most calls add no headers of their own: the endpoint's prepared set then serves as is.
    const headers = hasKeys(spec.headers) ? { ...base, ...spec.headers } : base;
    return {
      origin: endpoint.origin,
      path: endpoint.basePath + spec.path,
      method: spec.method,
      headers,
      body: spec.body ?? null,
      ...(timeouts?.headersTimeoutMs === undefined ? {} : { headersTimeout: timeouts.headersTimeoutMs }),
      ...(timeouts?.bodyTimeoutMs === undefined ? {} : { bodyTimeout: timeouts.bodyTimeoutMs }),
    };
  }

  /** Maps undici's failures: timeouts to 504, everything else to 502 unreachable. Aborts pass through. */
  transportError(provider: string, error: unknown, phase: string): unknown {
    if (error instanceof GatewayError) return error;
    if (error instanceof undiciErrors.RequestAbortedError || (error instanceof Error && error.name === 'AbortError')) return error;
    if (error instanceof undiciErrors.HeadersTimeoutError) return upstreamTimeout(provider, phase);
    if (error instanceof undiciErrors.BodyTimeoutError) return upstreamTimeout(provider, 'between body chunks');
    if (error instanceof undiciErrors.ConnectTimeoutError) return upstreamTimeout(provider, 'connecting');
    // The guard would refuse the same address again: another deployment may serve, a retry of this one cannot.
    if (error instanceof UpstreamAddressRefused) return upstreamUnreachable(provider, error).with({ retryable: false });
    return upstreamUnreachable(provider, error);
  }

  /** Reads a whole body, refusing more than the configured cap (an endless body cannot exhaust memory). */
  async readBody(provider: string, body: UpstreamResponse['body']): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        const buffer = chunk as Buffer;
        size += buffer.length;
        if (size > this.options.maxResponseBytes) {
          body.destroy();
          throw upstreamBadResponse(provider, `a body larger than ${this.options.maxResponseBytes} bytes`);
        }
        chunks.push(buffer);
      }
    } catch (error) {
      throw this.transportError(provider, error, 'reading the body');
    }
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
  }

  /** Turns a non-2xx answer into our error, with the provider's message redacted. */
  async errorFrom(provider: ProviderInstance, response: UpstreamResponse): Promise<GatewayError> {
    let bytes: Buffer | undefined;
    try {
      bytes = await this.readBody(provider.name, response.body);
    } catch {
      // The status alone still tells what happened.
    }
    return this.errorFromBytes(provider, response.status, response.headers, bytes);
  }

  private errorFromBytes(provider: ProviderInstance, httpStatus: number, headers: UpstreamResponse['headers'], bytes: Buffer | undefined): GatewayError {
    const text = bytes === undefined ? '' : bytes.toString('utf8');
    let message: string | undefined;
    let bodyRetryAfter: number | undefined;
    let policyCode: string | undefined;
    let policyDetail: Record<string, unknown> | undefined;
    let status = httpStatus;
    let page = false;
    if (text.length > 0) {
      try {
        const parsed = JSON.parse(text) as unknown;
        message = provider.codec.parseErrorMessage(parsed);
        bodyRetryAfter = provider.codec.parseRetryAfterMs?.(parsed);
        status = provider.codec.parseErrorStatus?.(httpStatus, parsed) ?? status;
        policyCode = provider.codec.parseContentPolicyCode?.(parsed);
        if (policyCode !== undefined) policyDetail = provider.codec.parseContentPolicyDetail?.(parsed);
      } catch {
        // HTML or other non-JSON error pages are never reflected (they leak internals): only said to have come.
        page = true;
      }
    }
    const safe = message !== undefined ? this.redactor.redactProviderText(message.slice(0, 1000)) : page ? errorPage(headers) : 'no details';
    if (httpStatus >= 300 && httpStatus < 400) {
      return upstreamBadResponse(provider.name, `a redirect (HTTP ${httpStatus}), which is not followed`);
    }
    if (status === 400 && CONTEXT_OVERFLOW.test(safe)) return contextLengthExceeded(provider.name, safe);
    if (status === 400 && policyCode !== undefined) return contentPolicyRefusal(provider.name, policyCode, safe, this.safeDetail(policyDetail));
    return upstreamError(status, provider.name, safe, cappedRetryAfter(retryAfterMs(headers) ?? bodyRetryAfter));
  }

  /**
   * A provider's error detail as the client may see it: redacted like the message (its JSON text, so
   * every string in it), and left out when larger than MAX_DETAIL_CHARS or no longer JSON once redacted.
   */
  private safeDetail(detail: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
    if (detail === undefined) return undefined;
    const text = JSON.stringify(detail);
    if (text.length > MAX_DETAIL_CHARS) return undefined;
    try {
      return JSON.parse(this.redactor.redactProviderText(text)) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** Closes the main Agent and every per-group one (shutdown, or the old services after a reload). */
  async close(): Promise<void> {
    this.closed = true;
    const agents = [this.agent, ...this.connectAgents.values()];
    this.connectAgents.clear();
    await Promise.all(agents.map((agent) => agent.close()));
  }
}

/**
 * An upstream SSE body for readers that stop at the stream's own end marker (`[DONE]`,
 * `message_stop`) before the body has ended: stopping drains the few bytes left, so the
 * connection stays reusable, instead of destroying the body with an abort error (whose stack
 * trace alone was ~6% of the streaming path's CPU). A client that leaves still aborts the call
 * through its signal.
 */
export function upstreamSse(body: UpstreamResponse['body']): AsyncIterable<Buffer> {
  return body.chunks(false);
}

/** Releases an upstream body its reader stopped early: reads what is left (within a cap), then closes. */
export function releaseBody(body: UpstreamResponse['body']): void {
  if (body.destroyed || body.readableEnded) return;
  void body.dump(64 * 1024);
}

/**
 * How providers word a prompt too long for the model's window (OpenAI, Anthropic, Gemini, vLLM, Ollama).
 * Anthropic has two: "prompt is too long: …", and, when the prompt fits but not with `max_tokens`,
 * "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, …".
 */
/**
 * What a non-JSON error body is called in the error: a page from a proxy or gateway in front of the
 * provider (nginx's 413, a load balancer's 502), named by its media type when that is a plain one.
 */
function errorPage(headers: UpstreamResponse['headers']): string {
  const type = headers['content-type'];
  const media = typeof type === 'string' ? (type.split(';')[0] ?? '').trim().toLowerCase() : '';
  return MEDIA_TYPE.test(media) ? `an error page that is not JSON (${media}, not shown)` : 'an error page that is not JSON (not shown)';
}

const MEDIA_TYPE = /^[a-z]+\/[a-z0-9.+-]{1,64}$/;

/** The most of a provider's error detail passed on (Azure's content_filter_result is a few hundred characters). */
const MAX_DETAIL_CHARS = 8 * 1024;

const CONTEXT_OVERFLOW = /context.length|context window|maximum context|prompt is too long|exceed context limit|too many tokens|input token count.*exceeds|reduce the length/i;

/**
 * The longest an upstream's Retry-After may cool a deployment (and be passed on to clients): a
 * provider's "retry in 3,000 years" must not take a model away until the next restart. The breaker's
 * longest cool-down is the same 5 minutes.
 */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

function cappedRetryAfter(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.min(ms, MAX_RETRY_AFTER_MS);
}

/**
 * A header's plain decimal number, or NaN. `Number` reads `''` and `' '` as 0 and takes `0x10`,
 * `1e3` and `Infinity`: none is a delay a provider means.
 */
function headerNumber(value: string): number {
  return DECIMAL.test(value) ? Number(value) : Number.NaN;
}

const DECIMAL = /^\s*\d+(?:\.\d+)?\s*$/;
/**
 * The outline of an HTTP date in any of its three forms (IMF-fixdate, RFC 850, asctime): a month
 * name and a time. `Date.parse` alone takes `-5` or `foo 1` as a day in 2001, that is "retry at once".
 */
const HTTP_DATE = /\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\b.*\b\d{1,2}:\d{2}:\d{2}\b/i;

/** Reads `retry-after-ms` or `retry-after` (seconds or an HTTP date); an empty or unreadable one is no hint. */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const ms = headers['retry-after-ms'];
  if (typeof ms === 'string') {
    const value = headerNumber(ms);
    if (!Number.isNaN(value)) return value;
  }
  const after = headers['retry-after'];
  if (typeof after === 'string') {
    const seconds = headerNumber(after);
    if (!Number.isNaN(seconds)) return seconds * 1000;
    const date = HTTP_DATE.test(after) ? Date.parse(after) : Number.NaN;
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  return undefined;
}

interface CollectedAnswer {
  status: number;
  headers: UpstreamResponse['headers'];
  bytes: Buffer;
}

/** The cap was passed: the call is aborted and answered as a bad upstream response. */
class BodyTooLarge extends Error {}

/**
 * Collects one whole answer (status, headers, body chunks) straight from the connection, within a
 * size cap, and aborts the call when the signal does.
 */
class CollectingHandler implements Dispatcher.DispatchHandler {
  settled = false;
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private headers: UpstreamResponse['headers'] = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly onAbort = (): void => {
    this.fail(this.signal.reason instanceof Error ? this.signal.reason : new undiciErrors.RequestAbortedError());
  };

  constructor(
    private readonly maxBytes: number,
    private readonly signal: CallSignal,
    private readonly resolve: (answer: CollectedAnswer) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    if (signal.aborted) this.onAbort();
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(new undiciErrors.RequestAbortedError());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: UpstreamResponse['headers']): void {
    this.status = statusCode;
    this.headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.fail(new BodyTooLarge());
      controller.abort(new BodyTooLarge());
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.signal.removeEventListener('abort', this.onAbort);
    const bytes = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size);
    this.resolve({ status: this.status, headers: this.headers, bytes });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.signal.removeEventListener('abort', this.onAbort);
    this.controller?.abort(error instanceof Error ? error : new undiciErrors.RequestAbortedError());
    this.reject(error);
  }
}
