// Embedding vectors in the two encodings OpenAI answers with: a JSON array of floats, or base64 of
// the little-endian float32 bytes (what `encoding_format: "base64"` returns and the `openai` SDK
// decodes by default). Providers answer in either; the client always gets the one it asked for.
import type { EmbeddingObject, EncodingFormat } from './embeddings-request.js';

/**
 * Floats → base64 of little-endian float32, exactly as OpenAI encodes them; undefined when a value is
 * not a number (a pass-through host's vector is unchecked: `null` was written as 0, `"x"` as NaN).
 */
export function encodeBase64Embedding(values: readonly unknown[]): string | undefined {
  const bytes = Buffer.allocUnsafe(values.length * 4);
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (typeof value !== 'number') return undefined;
    bytes.writeFloatLE(value, index * 4);
  }
  return bytes.toString('base64');
}

/** base64 text without its `=` padding (some hosts leave it off). */
function unpadded(text: string): string {
  return text.endsWith('==') ? text.slice(0, -2) : text.endsWith('=') ? text.slice(0, -1) : text;
}

/**
 * base64 of little-endian float32 → floats; undefined when the text is not whole float32 values, or
 * not base64 at all (`"not base64!"` decoded to a vector of whatever bytes its letters made).
 */
export function decodeBase64Embedding(text: string): number[] | undefined {
  const bytes = Buffer.from(text, 'base64');
  // Buffer.from skips what is not base64: the text must be what its bytes encode to.
  if (bytes.length % 4 !== 0 || unpadded(bytes.toString('base64')) !== unpadded(text)) return undefined;
  const values = new Array<number>(bytes.length / 4);
  for (let index = 0; index < values.length; index++) values[index] = bytes.readFloatLE(index * 4);
  return values;
}

/**
 * Puts every embedding in the encoding the client asked for, in place. Returns true when something
 * changed (the upstream's bytes can no longer be forwarded as they are), or undefined when an
 * embedding is neither form.
 */
export function conformEncoding(data: EmbeddingObject[], format: EncodingFormat): boolean | undefined {
  let changed = false;
  for (const item of data) {
    const embedding = item.embedding;
    if (format === 'base64') {
      if (typeof embedding === 'string') continue;
      if (!Array.isArray(embedding)) return undefined;
      const encoded = encodeBase64Embedding(embedding);
      if (encoded === undefined) return undefined;
      item.embedding = encoded;
    } else {
      if (Array.isArray(embedding)) continue;
      if (typeof embedding !== 'string') return undefined;
      const values = decodeBase64Embedding(embedding);
      if (values === undefined) return undefined;
      item.embedding = values;
    }
    changed = true;
  }
  return changed;
}
