/**
 * OpenAI-format `cache_control` markers (LiteLLM's convention: on a content part, a message, a tool,
 * or at the top) → Anthropic prompt-cache breakpoints. Pure. The request conversion reads each marker
 * where it meets it (a property read per part; a request without markers goes no further), and once
 * the body is built, `checkBreakpoints` applies Anthropic's two rules in its order (tools, system,
 * messages, then the top-level one on the last block): at most 4 breakpoints, and every 1-hour one
 * before any 5-minute one. Both are refused here with the client's own param path rather than left to
 * an upstream 400; dropping extra breakpoints would change what the client is billed, silently.
 * @see https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
 * @see https://docs.litellm.ai/docs/completion/prompt_caching
 */
import { invalidRequest, invalidValue } from '../../errors/gateway-error.js';
import type { AnthropicCacheControl, AnthropicMessagesRequest } from './anthropic-wire.js';
import { isRecord } from './anthropic-wire.js';

/** Anthropic answers 400 past this many breakpoints in one request (the top-level one included). */
export const MAX_CACHE_BREAKPOINTS = 4;

const SHAPE = `expected {"type": "ephemeral"}, with an optional "ttl" of "5m" or "1h"`;

/** The markers one conversion has read, each with the client's param path for error messages. */
export class CacheBreakpoints {
  /** Created on the first marker: a request without any allocates nothing more. */
  private sources: Map<AnthropicCacheControl, string> | undefined;

  /**
   * The breakpoint `holder` (a part, message, tool or the request, at `at` in it; '' for the request)
   * carries, undefined when none; a malformed one is a 400 naming it. Without a marker this is one
   * property read: the param path is only built for a marker.
   */
  of(holder: { cache_control?: unknown }, at: string): AnthropicCacheControl | undefined {
    const value = holder.cache_control;
    if (value === undefined || value === null) return undefined;
    return this.read(value, at === '' ? 'cache_control' : `${at}.cache_control`);
  }

  private read(value: unknown, param: string): AnthropicCacheControl {
    if (!isRecord(value)) throw invalidValue(param, SHAPE);
    if (value.type !== 'ephemeral') throw invalidValue(`${param}.type`, `anthropic caches only "ephemeral" breakpoints; ${SHAPE}`);
    const ttl = value.ttl;
    if (ttl !== undefined && ttl !== null && ttl !== '5m' && ttl !== '1h') throw invalidValue(`${param}.ttl`, `expected "5m" or "1h"`);
    // A fresh object: only the fields Anthropic takes go on, and it keys the param path.
    const marker: AnthropicCacheControl = ttl === '5m' || ttl === '1h' ? { type: 'ephemeral', ttl } : { type: 'ephemeral' };
    (this.sources ??= new Map()).set(marker, param);
    return marker;
  }

  /** Anthropic's limits on the built body; a no-op when the request had no marker. */
  check(body: AnthropicMessagesRequest): void {
    const sources = this.sources;
    if (sources === undefined) return;
    const order: AnthropicCacheControl[] = [];
    const add = (marker: AnthropicCacheControl | undefined) => {
      if (marker !== undefined) order.push(marker);
    };
    for (const tool of body.tools ?? []) add(tool.cache_control);
    if (Array.isArray(body.system)) for (const block of body.system) add(block.cache_control);
    for (const message of body.messages) {
      if (typeof message.content === 'string') continue;
      for (const block of message.content) if ('cache_control' in block) add(block.cache_control);
    }
    add(body.cache_control);

    const paramOf = (marker: AnthropicCacheControl) => sources.get(marker) ?? 'cache_control';
    if (order.length > MAX_CACHE_BREAKPOINTS) {
      const fifth = paramOf(order[MAX_CACHE_BREAKPOINTS] as AnthropicCacheControl);
      throw invalidRequest(
        `Too many cache_control breakpoints: anthropic takes at most ${MAX_CACHE_BREAKPOINTS} per request (on tools, system, messages and at the top together), found ${order.length}; '${fifth}' is the ${MAX_CACHE_BREAKPOINTS + 1}th in anthropic's order (tools, system, messages).`,
        'invalid_value',
        fifth,
      );
    }
    let firstShort: string | undefined;
    for (const marker of order) {
      if (marker.ttl !== '1h') firstShort ??= paramOf(marker);
      else if (firstShort !== undefined) {
        throw invalidValue(paramOf(marker), `a 1-hour breakpoint must come before every 5-minute one in anthropic's order (tools, system, messages, then the top-level one), and '${firstShort}' comes first`);
      }
    }
  }
}
