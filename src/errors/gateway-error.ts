// GatewayError: the one error type every layer throws, and the one mapping to OpenAI's error JSON.
// Messages are written for clients: never a stack, an upstream URL, a header or a secret.
import type { ErrorBody } from '../openai/types.js';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'service_unavailable_error';

export interface GatewayErrorOptions {
  status: number;
  type: ErrorType;
  code: string | null;
  message: string;
  param?: string | null;
  provider?: string;
  retryable?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
  /**
   * For the server log only, never the answer (RELIABILITY 4d#8: no deployment lists in errors):
   * every deployment tried and what it gave, as `X-LLM-Proxy-Route` writes them.
   */
  attempts?: string;
  /** The provider's own detail of a refusal, passed on in the error JSON (Azure's `innererror`); already redacted. */
  innerError?: Record<string, unknown>;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string | null;
  readonly param: string | null;
  readonly provider: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly attempts: string | undefined;
  readonly innerError: Record<string, unknown> | undefined;

  constructor(options: GatewayErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.status = options.status;
    this.type = options.type;
    this.code = options.code;
    this.param = options.param ?? null;
    this.provider = options.provider;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.attempts = options.attempts;
    this.innerError = options.innerError;
  }

  /** The same error with its message, param or retryability changed (redacted, renamed, made retryable). */
  with(changes: Pick<Partial<GatewayErrorOptions>, 'message' | 'param' | 'retryable'>): GatewayError {
    return new GatewayError({
      status: this.status,
      type: this.type,
      code: this.code,
      message: changes.message ?? this.message,
      param: changes.param === undefined ? this.param : changes.param,
      retryable: changes.retryable ?? this.retryable,
      ...(this.provider === undefined ? {} : { provider: this.provider }),
      ...(this.retryAfterMs === undefined ? {} : { retryAfterMs: this.retryAfterMs }),
      ...(this.cause === undefined ? {} : { cause: this.cause }),
      ...(this.attempts === undefined ? {} : { attempts: this.attempts }),
      ...(this.innerError === undefined ? {} : { innerError: this.innerError }),
    });
  }

  /**
   * The message without the provider's name: for the error that sums up attempts at several
   * deployments, which names none of them (RELIABILITY 4d#8). The factories below name a provider
   * only as `provider '<name>'`.
   */
  messageWithoutProvider(): string {
    if (this.provider === undefined) return this.message;
    const named = `provider '${this.provider}'`;
    return this.message.replace(`The ${named}`, 'The provider').replace(named, 'the provider');
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { message: this.message, type: this.type, param: this.param, code: this.code };
    if (this.innerError !== undefined) error.innererror = this.innerError;
    return { error };
  }
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}

export function invalidRequest(message: string, code = 'invalid_request', param: string | null = null): GatewayError {
  return new GatewayError({ status: 400, type: 'invalid_request_error', code, message, param });
}

export function invalidJson(message = 'The request body is not valid JSON.'): GatewayError {
  return invalidRequest(message, 'invalid_json');
}

export function invalidType(param: string, expected: string): GatewayError {
  return invalidRequest(`Invalid type for '${param}': expected ${expected}.`, 'invalid_type', param);
}

export function invalidValue(param: string, detail: string): GatewayError {
  return invalidRequest(`Invalid value for '${param}': ${detail}.`, 'invalid_value', param);
}

export function authentication(message = 'Invalid API key. Send a valid key in the "Authorization" header ("Bearer" and the key).', code = 'invalid_api_key'): GatewayError {
  return new GatewayError({ status: 401, type: 'authentication_error', code, message });
}

export function permissionDenied(message: string, code = 'permission_denied', param: string | null = null): GatewayError {
  return new GatewayError({ status: 403, type: 'permission_error', code, message, param });
}

/**
 * A model name as an error message shows it: only when short and printable, so a hostile name
 * cannot smuggle control characters or megabytes into the answer.
 */
function shownModel(model: string): string {
  return /^[\x20-\x7e]{1,128}$/.test(model) ? `'${model}'` : 'requested';
}

/**
 * 403 for a model the calling key's `models` allowlist leaves out. `hint` ends the message; `param`
 * names the field when the model is not the request's `model` (one the request has the provider call).
 */
export function modelNotAllowed(model: string, hint = '', param: string | null = null): GatewayError {
  return permissionDenied(`This key may not use the model ${shownModel(model)}.${hint}`, 'model_not_allowed', param);
}

export function modelNotFound(model: string, param: string | null = 'model'): GatewayError {
  const shown = shownModel(model);
  return new GatewayError({
    status: 404,
    type: 'invalid_request_error',
    code: 'model_not_found',
    param,
    message: `The model ${shown} does not exist or is not served by any configured provider. GET /v1/models lists the models you can use.`,
  });
}

export function routeNotFound(method: string, path: string): GatewayError {
  const shown = /^[\x20-\x7e]{1,200}$/.test(path) ? path : 'this path';
  return new GatewayError({
    status: 404,
    type: 'invalid_request_error',
    code: 'not_found',
    message: `No route for ${method} ${shown}.`,
  });
}

export function rateLimited(message: string, retryAfterMs: number, code = 'rate_limit_exceeded'): GatewayError {
  return new GatewayError({ status: 429, type: 'rate_limit_error', code, message, retryAfterMs });
}

export function requestTooLarge(limitBytes: number): GatewayError {
  return new GatewayError({
    status: 413,
    type: 'invalid_request_error',
    code: 'request_too_large',
    message: `The request body is larger than the limit of ${limitBytes} bytes.`,
  });
}

export function serviceUnavailable(message: string, code = 'service_unavailable', retryAfterMs?: number): GatewayError {
  return new GatewayError({
    status: 503,
    type: 'service_unavailable_error',
    code,
    message,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

export function upstreamTimeout(provider: string, phase: string): GatewayError {
  return new GatewayError({
    status: 504,
    type: 'timeout_error',
    code: 'upstream_timeout',
    provider,
    retryable: true,
    message: `The provider '${provider}' did not answer in time (${phase}).`,
  });
}

export function upstreamUnreachable(provider: string, cause?: unknown): GatewayError {
  return new GatewayError({
    status: 502,
    type: 'api_error',
    code: 'upstream_unreachable',
    provider,
    retryable: true,
    cause,
    message: `The provider '${provider}' could not be reached.`,
  });
}

export function upstreamBadResponse(provider: string, detail = 'an answer that is not valid'): GatewayError {
  return new GatewayError({
    status: 502,
    type: 'api_error',
    code: 'upstream_error',
    provider,
    retryable: true,
    message: `The provider '${provider}' sent ${detail}.`,
  });
}

/**
 * Thrown by a pure stream converter that cannot go on with what the provider sent: its message (a
 * clause, "it sent …") ends the client's stream as the detail of an upstream_stream_error.
 */
export class StreamConversionError extends Error {}

/**
 * The model's answer was a function call it failed to write (Gemini's MALFORMED_FUNCTION_CALL): a
 * sampling accident of this request, retried and failed over like a bad answer, but never counted
 * against the deployment's health (one client's tools could otherwise open its circuit for everyone).
 */
export const FAILED_TOOL_CALL = 'upstream_failed_tool_call';
/** The code of a web image the proxy could not download for a provider that takes images only inline. */
export const IMAGE_NOT_FETCHED = 'invalid_image_url';

export function failedToolCallError(provider: string, detail: string): GatewayError {
  return new GatewayError({ status: 502, type: 'api_error', code: FAILED_TOOL_CALL, provider, retryable: true, message: `The provider '${provider}' sent ${detail}.` });
}

export function upstreamStreamError(provider: string, detail: string): GatewayError {
  return new GatewayError({
    status: 502,
    type: 'api_error',
    code: 'upstream_stream_error',
    provider,
    message: `The stream from provider '${provider}' failed: ${detail}.`,
  });
}

/**
 * The provider refused the request under its content policy (Azure's prompt filter: 400 with code
 * `content_filter`): a client's 400, with the provider's own code, which clients written for it check,
 * and its detail of what was filtered (`innerError`: Azure's `innererror`, redacted), which they read.
 */
export function contentPolicyRefusal(provider: string, code: string, detail: string, innerError?: Record<string, unknown>): GatewayError {
  return new GatewayError({
    ...(innerError === undefined ? {} : { innerError }),
    status: 400,
    type: 'invalid_request_error',
    code,
    param: 'prompt',
    provider,
    message: `The provider '${provider}' refused the request under its content policy: ${detail}`,
  });
}

/** `provider`: the one that refused it; undefined when the proxy refused it for a group of several deployments. */
export function contextLengthExceeded(provider: string | undefined, detail: string): GatewayError {
  return new GatewayError({
    status: 400,
    type: 'invalid_request_error',
    code: 'context_length_exceeded',
    param: 'messages',
    ...(provider === undefined ? {} : { provider }),
    message: `The conversation is longer than the model's context window (${provider === undefined ? '' : `provider '${provider}': `}${detail})`,
  });
}

export function noHealthyDeployment(model: string, retryAfterMs: number | undefined): GatewayError {
  return new GatewayError({
    status: 503,
    type: 'service_unavailable_error',
    code: 'no_healthy_deployment',
    message: `No deployment of '${model}' is healthy right now; every one is cooling down after failures.`,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

export function internalError(): GatewayError {
  return new GatewayError({
    status: 500,
    type: 'api_error',
    code: 'internal_error',
    message: 'The proxy failed to handle this request. It has been logged; the server keeps serving.',
  });
}

/**
 * Maps an upstream HTTP error to ours: the one table of upstream status → gateway error.
 * `message` must already be redacted by the caller.
 */
export function upstreamError(status: number, provider: string, message: string, retryAfterMs?: number): GatewayError {
  const base = { provider, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  if (status === 401 || status === 403) {
    return new GatewayError({
      ...base,
      status: 502,
      type: 'api_error',
      code: 'upstream_auth_error',
      message: `The provider '${provider}' rejected the proxy's credentials (HTTP ${status}). An operator must fix the provider key.`,
    });
  }
  if (status === 402) {
    // The provider account's credit or billing (Anthropic billing_error, DeepSeek and OpenRouter
    // balances, OpenAI insufficient_quota): the operator's to fix, not the client's request.
    return new GatewayError({
      ...base,
      status: 502,
      type: 'api_error',
      code: 'upstream_billing_error',
      message: `The provider '${provider}' refused the proxy's account for billing or quota: ${message}. An operator must fix the provider account.`,
    });
  }
  if (status === 429) {
    return new GatewayError({
      ...base,
      status: 429,
      type: 'rate_limit_error',
      code: 'upstream_rate_limited',
      retryable: true,
      message: `The provider '${provider}' is rate limiting requests: ${message}`,
    });
  }
  if (status === 408) {
    return new GatewayError({ ...base, status: 504, type: 'timeout_error', code: 'upstream_timeout', retryable: true, message: `The provider '${provider}' timed out: ${message}` });
  }
  if (status === 404) {
    return new GatewayError({ ...base, status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model', message: `The provider '${provider}' answered not found: ${message}` });
  }
  if (status === 413) {
    // The provider's own limit on a request's size (Anthropic's request_too_large, a proxy's page in
    // front of a host): the client's to make smaller, as the proxy's own 413 says.
    return new GatewayError({ ...base, status: 413, type: 'invalid_request_error', code: 'request_too_large', message: `The provider '${provider}' refused the request as too large: ${message}` });
  }
  if (status >= 400 && status < 500 && status !== 409) {
    return new GatewayError({ ...base, status: 400, type: 'invalid_request_error', code: 'upstream_invalid_request', message: `The provider '${provider}' rejected the request: ${message}` });
  }
  return new GatewayError({
    ...base,
    status: 502,
    type: 'api_error',
    code: 'upstream_error',
    retryable: true,
    message: `The provider '${provider}' failed (HTTP ${status}): ${message}`,
  });
}
