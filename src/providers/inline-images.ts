// A chat request's web image URLs (`image_url` parts with an http(s) URL) turned into base64 data
// URLs, for a provider that does not fetch them itself (ChatCodec.inlinesImageUrl). The fetch is given;
// each URL is fetched once per call (a second deployment reuses it, or its failure), and the request is
// copied only along the messages that change.
import type { ChatCompletionRequest, ChatMessage } from '../openai/types.js';
import { isRecord } from '../json/guards.js';
import type { FetchedImage, ImageFetcher, ImageRoom } from '../upstream/image-fetch.js';

const WEB_URL = /^https?:\/\//i;

/** Which web URLs the provider needs inline (Gemini: all but its own Files API URIs). */
export type InlinedUrl = (url: string) => boolean;

function webImageUrl(part: unknown, inlined: InlinedUrl): string | undefined {
  if (!isRecord(part) || part.type !== 'image_url' || !isRecord(part.image_url)) return undefined;
  const { url } = part.image_url;
  return typeof url === 'string' && WEB_URL.test(url) && inlined(url) ? url : undefined;
}

function hasWebImage(message: unknown, inlined: InlinedUrl): boolean {
  return isRecord(message) && Array.isArray(message.content) && message.content.some((part) => webImageUrl(part, inlined) !== undefined);
}

/** Whether any message has a web image URL to download (the common case, none, is one pass over the parts). */
export function hasWebImages(request: ChatCompletionRequest, inlined: InlinedUrl): boolean {
  return Array.isArray(request.messages) && request.messages.some((message) => hasWebImage(message, inlined));
}

/** Fetches per call: one download per URL, shared by every attempt, within one room for their bytes. */
export interface CallImages {
  readonly byUrl: Map<string, Promise<FetchedImage>>;
  readonly room: ImageRoom;
}

export function callImages(): CallImages {
  return { byUrl: new Map(), room: { used: 0 } };
}

export async function inlineWebImages(request: ChatCompletionRequest, inlined: InlinedUrl, fetch: ImageFetcher, fetched: CallImages, signal?: AbortSignal): Promise<ChatCompletionRequest> {
  const pending: Array<Promise<void>> = [];
  const messages = request.messages.map((message, index): ChatMessage => {
    if (!hasWebImage(message, inlined) || !Array.isArray(message.content)) return message;
    const content = message.content.map((part, position) => {
      const url = webImageUrl(part, inlined);
      if (url === undefined) return part;
      const param = `messages[${index}].content[${position}].image_url.url`;
      let download = fetched.byUrl.get(url);
      if (download === undefined) {
        download = fetch(url, param, signal, fetched.room);
        // A failed one is kept too: the call goes on only to deployments that fetch URLs themselves,
        // and another inline-only one fails at once instead of waiting for the same host again.
        fetched.byUrl.set(url, download);
      }
      const image = { ...(part as { image_url: Record<string, unknown> }).image_url };
      const copy = { ...(part as Record<string, unknown>), image_url: image };
      pending.push(download.then(({ mediaType, data }) => void (image.url = `data:${mediaType};base64,${data}`)));
      return copy;
    });
    return { ...message, content } as ChatMessage;
  });
  await Promise.all(pending);
  return { ...request, messages };
}
