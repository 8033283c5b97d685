// Builds an AnswerFormat (src/http/chat-pipeline.ts) from a chunk converter: the chat SSE frames the
// executor or the cache produce are read back one chunk at a time and rewritten in another
// endpoint's wire format. Only endpoints other than /v1/chat/completions pay for this.
import { parseChunkFrame } from '../cache/convert-answer.js';
import { isGatewayError, StreamConversionError, upstreamStreamError, type GatewayError } from '../errors/gateway-error.js';
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

/**
 * Converts every frame of `text` (one or several `data:` events); throws on a frame that is not a
 * chunk, naming `source` (the provider that sent it, or the cache) as the one whose stream failed.
 */
function convertFrames(text: string, converter: ChunkConverter, source: string): string {
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
    if (chunk === undefined) throw notConverted(source);
    try {
      out += converter.push(chunk);
    } catch (error) {
      // The converter's own reason, or a chunk of the right outline with fields of the wrong type (a null delta or tool call).
      throw error instanceof StreamConversionError ? upstreamStreamError(source, error.message) : notConverted(source);
    }
  }
  return out;
}

function notConverted(source: string): GatewayError {
  return upstreamStreamError(source, 'a chunk that could not be converted');
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
    streamBody: (body) => convertFrames(body, parts.converter(), 'cache'),
    stream(first, frames, provider) {
      const converter = parts.converter();
      // The head is converted after the status line has gone (the route has hijacked the reply): a
      // failure here must reach the client as the stream's error event, not escape the route and
      // leave the client waiting with no usage record.
      let head = '';
      let headFailure: GatewayError | undefined;
      try {
        head = convertFrames(frameText(first), converter, provider);
      } catch (error) {
        headFailure = isGatewayError(error) ? error : notConverted(provider);
      }
      async function* rest(): AsyncGenerator<string> {
        try {
          if (headFailure !== undefined) throw headFailure;
          for await (const frame of frames) {
            const out = convertFrames(frameText(frame), converter, provider);
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
