// Builds an AnswerFormat (src/http/chat-pipeline.ts) from a chunk converter: the chat SSE frames the
// executor or the cache produce are read back one chunk at a time and rewritten in another
// endpoint's wire format. Only endpoints other than /v1/chat/completions pay for this.
import { parseChunkFrame } from '../cache/convert-answer.js';
import { upstreamStreamError, type GatewayError } from '../errors/gateway-error.js';
import type { ChatCompletionChunk } from '../openai/types.js';
import { frameText } from '../streaming/sse-passthrough.js';
import type { AnswerFormat } from './chat-pipeline.js';

/** Stateful, one per request: chunk in, the endpoint's frames out. */
export interface ChunkConverter {
  push(chunk: ChatCompletionChunk): string;
  /** At `[DONE]`: the closing frames. */
  end(): string;
}

const DONE = 'data: [DONE]';

/** Converts every frame of `text` (one or several `data:` events); throws on a frame that is not a chunk. */
function convertFrames(text: string, converter: ChunkConverter): string {
  let out = '';
  for (const piece of text.split('\n\n')) {
    if (piece.length === 0) continue;
    if (piece === DONE) {
      out += converter.end();
      continue;
    }
    // Comments (keep-alives) carry nothing to convert.
    if (piece.startsWith(':')) continue;
    const chunk = parseChunkFrame(piece);
    if (chunk === undefined) throw upstreamStreamError('proxy', 'a chunk that could not be converted');
    out += converter.push(chunk);
  }
  return out;
}

export interface FormatParts {
  json(body: string | Buffer): string;
  converter(): ChunkConverter;
  streamError(error: GatewayError): string;
}

export function chunkFormat(parts: FormatParts): AnswerFormat {
  return {
    json: parts.json,
    streamError: parts.streamError,
    streamBody: (body) => convertFrames(body, parts.converter()),
    stream(first, frames) {
      const converter = parts.converter();
      const head = convertFrames(frameText(first), converter);
      async function* rest(): AsyncGenerator<string> {
        try {
          for await (const frame of frames) {
            const out = convertFrames(frameText(frame), converter);
            if (out.length > 0) yield out;
          }
        } finally {
          // The client left, or the stream failed: stop the upstream read too.
          await frames.return(undefined);
        }
      }
      return { first: head, frames: rest() };
    },
  };
}
