// Google's own OpenAI-compatible endpoint takes Gemini settings OpenAI has no field for under
// `extra_body.google` (the Python SDK's `extra_body={"extra_body": {"google": …}}`, as Google's docs
// write it; a plain `extra_body={"google": …}` puts it at the top level, and that is read too). The
// proxy reads the same shape, so a client written for Google's endpoint works unchanged. Pure.
// @see https://ai.google.dev/gemini-api/docs/openai#thinking
// @see https://ai.google.dev/gemini-api/docs/openai#cached-content
import { invalidValue } from '../../errors/gateway-error.js';
import type { ChatCompletionRequest } from '../../openai/types.js';
import type { GeminiThinkingConfig, GeminiThinkingLevel } from './gemini-wire.js';
import { isRecord } from './gemini-wire.js';

export interface GoogleExtension {
  thinkingConfig?: GeminiThinkingConfig;
  /** `cachedContents/…`: a context cache made with the Gemini API. */
  cachedContent?: string;
  /** Keys of the extension the proxy does not read, named as the client wrote them. */
  ignored: string[];
}

const LEVELS: ReadonlySet<string> = new Set<GeminiThinkingLevel>(['minimal', 'low', 'medium', 'high']);
const CACHED_CONTENT = /^cachedContents\/[A-Za-z0-9_.-]{1,128}$/;

function thinkingConfig(value: unknown, param: string): GeminiThinkingConfig {
  if (!isRecord(value)) throw invalidValue(param, 'expected an object with thinking_budget, thinking_level or include_thoughts');
  const config: GeminiThinkingConfig = {};
  const { thinking_budget: budget, thinking_level: level, include_thoughts: include } = value;
  if (budget !== undefined && budget !== null) {
    // -1 is Gemini's "dynamic" budget.
    if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < -1) throw invalidValue(`${param}.thinking_budget`, 'expected a whole number of tokens, 0 (off) or -1 (dynamic)');
    config.thinkingBudget = budget;
  }
  if (level !== undefined && level !== null) {
    if (typeof level !== 'string' || !LEVELS.has(level)) throw invalidValue(`${param}.thinking_level`, 'expected minimal, low, medium or high');
    if (config.thinkingBudget !== undefined) throw invalidValue(`${param}.thinking_level`, 'Gemini takes a thinking_budget or a thinking_level, not both');
    config.thinkingLevel = level as GeminiThinkingLevel;
  }
  if (include !== undefined && include !== null) {
    if (typeof include !== 'boolean') throw invalidValue(`${param}.include_thoughts`, 'expected true or false');
    config.includeThoughts = include;
  }
  return config;
}

/** The request's Google extension, checked; undefined when it has none. */
export function googleExtension(request: ChatCompletionRequest): GoogleExtension | undefined {
  const { extra_body: extra } = request;
  const ignored: string[] = [];
  if (extra !== undefined && extra !== null) {
    if (!isRecord(extra)) ignored.push('extra_body');
    else for (const key of Object.keys(extra)) if (key !== 'google') ignored.push(`extra_body.${key.slice(0, 64)}`);
  }
  const nested = isRecord(extra) ? extra.google : undefined;
  const [value, param] = nested !== undefined && nested !== null ? [nested, 'extra_body.google'] : [request.google, 'google'];
  if (value === undefined || value === null) return ignored.length === 0 ? undefined : { ignored };
  if (!isRecord(value)) throw invalidValue(param, 'expected an object (Google\'s OpenAI-compatible settings: thinking_config, cached_content)');
  const extension: GoogleExtension = { ignored };
  for (const [key, setting] of Object.entries(value)) {
    if (setting === undefined || setting === null) continue;
    if (key === 'thinking_config') extension.thinkingConfig = thinkingConfig(setting, `${param}.thinking_config`);
    else if (key === 'cached_content') {
      if (typeof setting !== 'string' || !CACHED_CONTENT.test(setting)) throw invalidValue(`${param}.cached_content`, "expected a context cache's name, cachedContents/…");
      extension.cachedContent = setting;
    } else extension.ignored.push(`${param}.${key.slice(0, 64)}`);
  }
  return extension;
}
