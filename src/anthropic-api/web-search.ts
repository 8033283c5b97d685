// Claude's web search server tool on /v1/messages for a model that searches another way (Gemini's
// Grounding with Google Search): the tool becomes the chat form's `web_search_options`, earlier
// turns' search blocks become text, and the chat answer's `url_citation` annotations come back as
// Anthropic returns a search (server_tool_use, web_search_tool_result, cited text blocks). Pure.
// @see https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool
import { invalidValue } from '../errors/gateway-error.js';
import type { UrlCitation } from '../openai/types.js';
import { unsupportedContent } from '../providers/chat-request-fields.js';
import type {
  AnthropicContentBlock,
  AnthropicServerToolUseBlock,
  AnthropicStreamEvent,
  AnthropicTextBlock,
  AnthropicWebSearchCitation,
  AnthropicWebSearchResult,
} from '../providers/anthropic/anthropic-wire.js';
import { isRecord } from '../json/guards.js';

/** Every dated version of the tool: `web_search_20250305`, `web_search_20260209`, … */
const WEB_SEARCH_TOOL = /^web_search_\d{8}$/;

export function isWebSearchTool(tool: unknown): boolean {
  return isRecord(tool) && typeof tool.type === 'string' && WEB_SEARCH_TOOL.test(tool.type);
}

/** Fields of the tool that change nothing elsewhere, dropped without a word. */
const QUIET = new Set(['type', 'name', 'cache_control']);

/**
 * The web search tool at `tools[index]`, checked, for a model that decides itself how much to
 * search and from where: `max_uses`, `user_location` and other options are dropped with a warning.
 * Domain lists are refused: searching everywhere when the client limited the sources would answer
 * from pages it excluded.
 */
export function checkWebSearchTool(tool: Record<string, unknown>, index: number, warnings: string[]): void {
  if (tool.name !== 'web_search') throw invalidValue(`tools[${index}].name`, "the web search tool is named 'web_search'");
  for (const field of ['allowed_domains', 'blocked_domains']) {
    const domains = tool[field];
    if (Array.isArray(domains) && domains.length > 0) {
      throw unsupportedContent(`tools[${index}].${field}`, 'a web search limited to domains is only available with Anthropic models (this model searches the whole web)');
    }
  }
  for (const [field, value] of Object.entries(tool)) {
    if (QUIET.has(field) || value === undefined || value === null || field === 'allowed_domains' || field === 'blocked_domains') continue;
    warnings.push(`tools[${index}].${field.slice(0, 64)}: the model decides how to search, ignored`);
  }
}

function searchQuery(input: unknown): string {
  return isRecord(input) && typeof input.query === 'string' ? input.query : '';
}

/**
 * An earlier turn's web search block as text of that assistant turn, so the model still knows what
 * was searched and found (the pages' sealed text is Anthropic's alone); undefined for any other block.
 */
export function searchHistoryText(block: unknown): string | undefined {
  if (!isRecord(block)) return undefined;
  if (block.type === 'server_tool_use' && block.name === 'web_search') return `[Web search: ${JSON.stringify(searchQuery(block.input))}]\n`;
  if (block.type !== 'web_search_tool_result') return undefined;
  const content = block.content;
  if (isRecord(content)) return `[Web search failed: ${typeof content.error_code === 'string' ? content.error_code : 'unknown error'}]\n\n`;
  if (!Array.isArray(content)) return undefined;
  const lines = content.filter(isRecord).map((result) => `- ${typeof result.title === 'string' ? result.title : ''} <${typeof result.url === 'string' ? result.url : ''}>`);
  return `[Web search results:\n${lines.join('\n')}]\n\n`;
}

/** The pages cited, once each, in the order first cited. */
function sources(annotations: readonly UrlCitation[]): AnthropicWebSearchResult[] {
  const seen = new Map<string, AnthropicWebSearchResult>();
  for (const { url_citation: cited } of annotations) {
    if (!seen.has(cited.url)) seen.set(cited.url, { type: 'web_search_result', url: cited.url, title: cited.title, encrypted_content: '', page_age: null });
  }
  return [...seen.values()];
}

/**
 * The text as blocks: each cited span its own block with its citations, the text between spans
 * plain blocks. A span that overlaps the one before it is cut to start where that one ended.
 */
function citedText(text: string, annotations: readonly UrlCitation[]): AnthropicContentBlock[] {
  const spans = new Map<string, { start: number; end: number; citations: AnthropicWebSearchCitation[] }>();
  for (const { url_citation: cited } of annotations) {
    const { start_index: start, end_index: end } = cited;
    if (!(start >= 0 && end > start && end <= text.length)) continue;
    const key = `${start}:${end}`;
    const span = spans.get(key) ?? { start, end, citations: [] };
    if (!span.citations.some((citation) => citation.url === cited.url)) {
      span.citations.push({ type: 'web_search_result_location', url: cited.url, title: cited.title.length > 0 ? cited.title : null, cited_text: text.slice(start, end), encrypted_index: '' });
    }
    spans.set(key, span);
  }
  const blocks: AnthropicContentBlock[] = [];
  let cursor = 0;
  for (const span of [...spans.values()].sort((a, b) => a.start - b.start || a.end - b.end)) {
    const start = Math.max(span.start, cursor);
    if (start >= span.end) continue;
    if (start > cursor) blocks.push({ type: 'text', text: text.slice(cursor, start) });
    const cited = text.slice(start, span.end);
    blocks.push({ type: 'text', text: cited, citations: span.citations.map((citation) => ({ ...citation, cited_text: cited })) });
    cursor = span.end;
  }
  if (cursor < text.length) blocks.push({ type: 'text', text: text.slice(cursor) });
  return blocks;
}

/**
 * A searched answer as Anthropic's blocks: the search (`server_tool_use`, its input the queries the
 * model ran, joined with "; " as the provider gives one list of sources for all of them), its pages
 * (`web_search_tool_result`: those the answer cites), then the text with its citations. Undefined
 * when the answer carries no sign of a search.
 */
export function webSearchBlocks(text: string, annotations: readonly UrlCitation[], queries: readonly string[], id: string): AnthropicContentBlock[] | undefined {
  if (annotations.length === 0 && queries.length === 0) return undefined;
  const toolUseId = `srvtoolu_${id}`;
  return [
    { type: 'server_tool_use', id: toolUseId, name: 'web_search', input: { query: queries.join('; ') }, caller: { type: 'direct' } },
    { type: 'web_search_tool_result', tool_use_id: toolUseId, content: sources(annotations), caller: { type: 'direct' } },
    ...citedText(text, annotations),
  ];
}

/** The url_citation annotations of a chat message or delta (a pass-through host's are unchecked). */
export function urlCitationsOf(value: unknown): UrlCitation[] {
  const annotations = isRecord(value) ? value.annotations : undefined;
  if (!Array.isArray(annotations)) return [];
  return annotations.filter((annotation): annotation is UrlCitation => {
    const cited: unknown = isRecord(annotation) && annotation.type === 'url_citation' ? annotation.url_citation : undefined;
    return isRecord(cited) && typeof cited.url === 'string' && typeof cited.start_index === 'number' && typeof cited.end_index === 'number' && typeof cited.title === 'string';
  });
}

/** The queries a chat message or delta says its search ran (`web_search_queries`). */
export function searchQueriesOf(value: unknown): string[] {
  const queries = isRecord(value) ? value.web_search_queries : undefined;
  return Array.isArray(queries) ? queries.filter((query): query is string => typeof query === 'string') : [];
}

/**
 * Whole blocks as the stream events Claude sends for them, from block `first` on: a search's input
 * as a JSON delta from an empty one, a text's citations as `citations_delta` before its text.
 */
export function blockEvents(blocks: readonly AnthropicContentBlock[], first: number): AnthropicStreamEvent[] {
  const events: AnthropicStreamEvent[] = [];
  blocks.forEach((block, position) => {
    const index = first + position;
    if (block.type === 'server_tool_use') {
      const { input, ...start } = block as AnthropicServerToolUseBlock;
      events.push({ type: 'content_block_start', index, content_block: { ...start, input: {} } });
      events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(input) } });
    } else if (block.type === 'text') {
      const { text, citations } = block as AnthropicTextBlock;
      events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      for (const citation of citations ?? []) events.push({ type: 'content_block_delta', index, delta: { type: 'citations_delta', citation } });
      events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
    } else events.push({ type: 'content_block_start', index, content_block: block });
    events.push({ type: 'content_block_stop', index });
  });
  return events;
}
