// Fetches an image a client gave by URL, for a provider that takes images only inline (Gemini's
// API fetches no web URLs): the proxy downloads it and sends it as base64, as LiteLLM does. A
// client-chosen URL is an SSRF door (RELIABILITY §4d#10), so only https to a named public host is
// fetched: no IP literals, no userinfo, every resolved address public (the guarded lookup, which
// also pins it against DNS rebinding), no redirects (undici's request follows none), a size cap
// and a time limit. Errors name the request field, never the URL or what the host answered beyond
// its status.
import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { IMAGE_NOT_FETCHED, invalidRequest, type GatewayError } from '../errors/gateway-error.js';

export interface ImageFetchOptions {
  /** The connections: an Agent whose lookup is the SSRF guard's (tests pass their own). */
  dispatcher: Dispatcher;
  /** Largest image taken (Gemini takes 20 MB of inline data per request). */
  maxBytes: number;
  /** For the whole download: connect, headers and body. */
  timeoutMs: number;
}

export interface FetchedImage {
  mediaType: string;
  /** Base64. */
  data: string;
}

/**
 * The bytes a call's downloads hold: one call's images together stay within maxBytes (Gemini's
 * inline limit is per request), so a request listing many large images cannot fill the memory.
 */
export interface ImageRoom {
  used: number;
}

/** Fetches the image at `url`; `param` names the field for errors; `room` is shared by the call's downloads. */
export type ImageFetcher = (url: string, param: string, signal?: AbortSignal, room?: ImageRoom) => Promise<FetchedImage>;

/** Image types every provider that takes inline images reads (Gemini: PNG, JPEG, WEBP, HEIC, HEIF; GIF for Claude). */
const IMAGE_TYPES = /^image\/(png|jpeg|jpg|webp|heic|heif|gif)$/;

function failed(param: string, reason: string): GatewayError {
  return invalidRequest(`Could not fetch the image at '${param}': ${reason}. Send it as a base64 data URL instead.`, IMAGE_NOT_FETCHED, param);
}

/** Why a URL is not fetched, or undefined when it may be. */
export function refusedImageUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it is not a URL';
  }
  if (parsed.protocol !== 'https:') return 'only https image URLs are fetched';
  if (parsed.username !== '' || parsed.password !== '') return 'a URL with credentials is not fetched';
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  // An address connects without a lookup, so the guard would never see it; the WHATWG parser has
  // already turned decimal, octal and hex IPv4 forms into dotted ones.
  if (isIP(host) !== 0) return 'a URL whose host is an IP address is not fetched';
  return undefined;
}

export function createImageFetcher(options: ImageFetchOptions): ImageFetcher {
  const tooLarge = (param: string, size: number) =>
    failed(param, size > options.maxBytes ? `the image is larger than ${options.maxBytes} bytes` : `the request's images together are larger than ${options.maxBytes} bytes`);
  return async (url, param, signal, room = { used: 0 }) => {
    const refused = refusedImageUrl(url);
    if (refused !== undefined) throw failed(param, refused);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(url, { method: 'GET', dispatcher: options.dispatcher, signal: combined, headers: { accept: 'image/*', 'user-agent': 'llm-proxy' } });
    } catch {
      throw failed(param, timeout.aborted ? `no answer within ${options.timeoutMs / 1000} s` : 'the host could not be reached (or is not a public address)');
    }
    const { statusCode, headers, body } = answer;
    let size = 0;
    try {
      if (statusCode >= 300 && statusCode < 400) throw failed(param, 'the host answered with a redirect, which is not followed');
      if (statusCode !== 200) throw failed(param, `the host answered ${statusCode}`);
      const type = String(headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!IMAGE_TYPES.test(type)) throw failed(param, `the host sent ${type === '' ? 'no content type' : type.slice(0, 64)}, not a PNG, JPEG, WEBP, HEIC, HEIF or GIF image`);
      const declared = Number(headers['content-length']);
      if (Number.isFinite(declared) && room.used + declared > options.maxBytes) throw tooLarge(param, declared);
      const chunks: Buffer[] = [];
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        room.used += chunk.length;
        if (room.used > options.maxBytes) throw tooLarge(param, size);
        chunks.push(chunk);
      }
      if (size === 0) throw failed(param, 'the host sent an empty body');
      return { mediaType: type === 'image/jpg' ? 'image/jpeg' : type, data: Buffer.concat(chunks, size).toString('base64') };
    } catch (error) {
      // A download that failed holds nothing: its bytes are the others' room again.
      room.used -= size;
      if ((error as { status?: unknown }).status === 400) throw error;
      throw failed(param, timeout.aborted ? `no answer within ${options.timeoutMs / 1000} s` : 'the download broke off');
    } finally {
      // A refused or broken body is not read to its end.
      if (!body.destroyed) body.destroy();
    }
  };
}
