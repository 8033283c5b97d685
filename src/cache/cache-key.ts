// Response-cache keys: HMAC-SHA-256 under a server-side secret, over the caller's scope and the
// canonical JSON of everything that changes the answer. The scope is a required argument, so no
// caller can build a key that two tenants share by accident (RELIABILITY.md §4d rule 12).
import { createHmac } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/**
 * Request fields that never change the answer: how it is delivered (`stream`, `stream_options`,
 * which the cache serves either way) and the caller's own labels (`user`, and `safety_identifier`
 * and `prompt_cache_key`, which OpenAI split it into). `model` is replaced by what it resolved to:
 * the model group and the deployments (`provider/upstream-model`) that may serve it.
 */
const IGNORED_FIELDS = new Set(['model', 'stream', 'stream_options', 'user', 'safety_identifier', 'prompt_cache_key', 'metadata']);

export interface CacheKeyTarget {
  /**
   * Set for endpoints whose answers are not chat completions (`embeddings`): part of the key, so an
   * entry of one endpoint can never answer another. Chat keys leave it out.
   */
  endpoint?: string;
  /** The model group the requested name resolved to (after aliases). */
  model: string;
  /** `provider/upstream-model` of every deployment that may answer, in the group's order. */
  deployments: readonly string[];
  /**
   * The fallback groups the calling key may use, in order (absent: none). A fallback's answer is
   * kept under the group asked for, so under a shared namespace (or after a key's allowlist
   * shrinks) a key that may not use that fallback was served what it gave another key.
   */
  fallbacks?: readonly string[];
  /**
   * Set when the call goes out in the endpoint's own wire format (Anthropic to Anthropic): what the
   * provider gets beyond the chat form the key is otherwise built from (fields and headers the chat
   * form has no place for, such as top_k or a beta), so they change the key too.
   */
  native?: unknown;
}

/**
 * Objects whose key order is part of the request: a JSON schema's `properties` (response_format,
 * tools, functions), which the model fills in that order, so `reasoning` before `answer` is another
 * answer than after it. Sorted, two such requests shared an entry.
 * @see https://platform.openai.com/docs/guides/structured-outputs
 */
const ORDERED_OBJECTS: ReadonlySet<string> = new Set(['properties']);

/** Any request body the cache keys: chat completions, embeddings. */
export interface CacheableRequest {
  model: string;
  n?: number | null;
  [field: string]: unknown;
}

/** Who may read an entry: the calling key, or a namespace the operator shares on purpose. */
export function cacheScope(keyId: string, namespace: string | undefined): string {
  return namespace === undefined ? `key:${keyId}` : `ns:${namespace}`;
}

/** The canonical text the key is computed over (exported for tests). */
export function canonicalCacheInput(scope: string, target: CacheKeyTarget, request: CacheableRequest): string {
  const fields: Record<string, unknown> = {};
  for (const name of Object.keys(request)) if (!IGNORED_FIELDS.has(name)) fields[name] = request[name];
  const input: Record<string, unknown> = { scope, model: target.model, deployments: target.deployments, request: fields };
  if (target.endpoint !== undefined) input.endpoint = target.endpoint;
  if (target.fallbacks !== undefined && target.fallbacks.length > 0) input.fallbacks = target.fallbacks;
  if (target.native !== undefined) input.native = target.native;
  return canonicalJson(input, undefined, ORDERED_OBJECTS);
}

/** The cache key (43 characters, base64url). Throws when the scope is empty. */
export function buildCacheKey(secret: Buffer, scope: string, target: CacheKeyTarget, request: CacheableRequest): string {
  if (scope.length === 0) throw new Error('a cache key needs the caller scope');
  return createHmac('sha256', secret).update(canonicalCacheInput(scope, target, request)).digest('base64url');
}
