// Grounding with Google Search, Gemini's web search: OpenAI's `web_search_options` turns it on (the
// `googleSearch` tool), and the answer's `groundingMetadata` comes back as OpenAI's `url_citation`
// annotations and a search count for billing. Pure.
// @see https://ai.google.dev/gemini-api/docs/google-search
import type { UrlCitation } from '../../openai/types.js';
import { isRecord, type GeminiGroundingMetadata } from './gemini-wire.js';
// A count past this is a provider's bad figure, not searches to bill; budget holds take it as the most.
import { MAX_BILLED_GEMINI_QUERIES as MAX_SEARCHES } from '../../catalog/call-cost.js';

/**
 * The searches a grounded answer ran: Gemini lists its queries (`webSearchQueries`). An answer
 * grounded without a query list counts one, so a grounded prompt is never free.
 */
export function groundingSearches(metadata: GeminiGroundingMetadata | undefined): number {
  if (!isRecord(metadata)) return 0;
  const queries = groundingQueries(metadata).length;
  if (queries > 0) return Math.min(queries, MAX_SEARCHES);
  return Array.isArray(metadata.groundingChunks) && metadata.groundingChunks.length > 0 ? 1 : 0;
}

/** The queries Gemini searched for, as it lists them (strings only). */
export function groundingQueries(metadata: GeminiGroundingMetadata | undefined): string[] {
  if (!isRecord(metadata) || !Array.isArray(metadata.webSearchQueries)) return [];
  return metadata.webSearchQueries.filter((query): query is string => typeof query === 'string').slice(0, MAX_SEARCHES);
}

/**
 * Each supported span of `text` with the pages it cites. Gemini gives a span as byte offsets into
 * one part and as its text; the text is found in the answer (from where the last span ended, then
 * from the start), which holds however the parts were joined or streamed. A span not found is left
 * out rather than placed wrong.
 */
export function groundingAnnotations(metadata: GeminiGroundingMetadata | undefined, text: string): UrlCitation[] {
  if (!isRecord(metadata) || !Array.isArray(metadata.groundingSupports) || !Array.isArray(metadata.groundingChunks)) return [];
  const chunks = metadata.groundingChunks;
  const annotations: UrlCitation[] = [];
  let cursor = 0;
  for (const support of metadata.groundingSupports) {
    if (!isRecord(support) || !isRecord(support.segment) || !Array.isArray(support.groundingChunkIndices)) continue;
    const span = support.segment.text;
    if (typeof span !== 'string' || span.length === 0) continue;
    let start = text.indexOf(span, cursor);
    if (start < 0) start = text.indexOf(span);
    if (start < 0) continue;
    const end = start + span.length;
    cursor = end;
    for (const position of support.groundingChunkIndices) {
      const web = typeof position === 'number' ? chunks[position]?.web : undefined;
      if (!isRecord(web) || typeof web.uri !== 'string') continue;
      annotations.push({ type: 'url_citation', url_citation: { start_index: start, end_index: end, url: web.uri, title: typeof web.title === 'string' ? web.title : '' } });
    }
  }
  return annotations;
}
