// The one SSE encoder: chunks → `data:` lines, `[DONE]` last. Only this file frames bytes for clients.
import type { ErrorBody } from '../openai/types.js';

export const SSE_DONE = 'data: [DONE]\n\n';
export const SSE_KEEPALIVE = ': keepalive\n\n';

/** Frames a value as one event. JSON.stringify escapes CR/LF, so content can never end the event early. */
export function encodeSseJson(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}

/**
 * Frames an already-serialised JSON payload (the pass-through path). A payload that spans
 * lines (legal in SSE, rare in practice) keeps one `data:` field per line.
 */
export function encodeSseData(data: string): string {
  if (data.indexOf('\n') < 0 && data.indexOf('\r') < 0) return `data: ${data}\n\n`;
  return `data: ${data.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`;
}

export function encodeSseError(body: ErrorBody): string {
  return `data: ${JSON.stringify(body)}\n\n`;
}
