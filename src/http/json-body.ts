// Request bodies: strict UTF-8 JSON, bounded nesting, and no client-chosen upstream overrides.
// JSON.parse runs once; the object it makes drives auth, billing and forwarding alike (so a
// duplicate key cannot mean one thing to us and another upstream).
import { isUtf8 } from 'node:buffer';
import { invalidJson, invalidRequest } from '../errors/gateway-error.js';

export const MAX_JSON_DEPTH = 64;

/**
 * Keys that would let a client choose where a request goes or with what credentials
 * (litellm PR #26996, Portkey custom_host). Refused at any depth.
 */
const FORBIDDEN_KEYS = new Set([
  'api_base',
  'base_url',
  'api_key',
  'api_version',
  'organization',
  'extra_headers',
  'custom_host',
  'azure_endpoint',
  'azure_ad_token',
  'aws_access_key_id',
  'aws_secret_access_key',
  'vertex_credentials',
]);

/** `*_url` keys are refused too, except the content-part fields that carry data for the model. */
const ALLOWED_URL_KEYS = new Set(['image_url', 'audio_url', 'video_url', 'file_url', 'document_url']);

/** JSON-schema subtrees hold the client's own property names, which may be anything. */
const SCHEMA_KEYS = new Set(['parameters', 'schema', 'input_schema', 'properties']);

function forbidden(key: string): boolean {
  return FORBIDDEN_KEYS.has(key) || (key.endsWith('_url') && !ALLOWED_URL_KEYS.has(key));
}

/** Parses a request body. Throws 400 `invalid_json` for bad UTF-8, bad JSON or a non-object. */
export function parseJsonBody(raw: Buffer): Record<string, unknown> {
  if (!isUtf8(raw)) throw invalidJson('The request body is not valid UTF-8.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalidJson();
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidJson('The request body must be a JSON object.');
  }
  return parsed as Record<string, unknown>;
}

/**
 * One walk over the body: refuses nesting deeper than MAX_JSON_DEPTH and override keys at any
 * depth (outside JSON-schema subtrees). Iterative, so a 10k-deep array cannot blow the stack.
 */
export function guardBody(body: Record<string, unknown>): void {
  const stack: Array<{ value: unknown; depth: number; path: string; schema: boolean }> = [{ value: body, depth: 1, path: '', schema: false }];
  while (stack.length > 0) {
    const { value, depth, path, schema } = stack.pop() as { value: unknown; depth: number; path: string; schema: boolean };
    if (depth > MAX_JSON_DEPTH) {
      throw invalidRequest(`The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`, 'nesting_too_deep');
    }
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const item = value[index];
        if (item !== null && typeof item === 'object') stack.push({ value: item, depth: depth + 1, path: `${path}[${index}]`, schema });
      }
      continue;
    }
    for (const key of Object.keys(value as object)) {
      const item = (value as Record<string, unknown>)[key];
      const itemPath = path.length === 0 ? key : `${path}.${key}`;
      if (!schema && forbidden(key)) {
        throw invalidRequest(
          `The field '${itemPath}' is not allowed: the proxy chooses upstream endpoints and credentials, clients cannot.`,
          'forbidden_param',
          itemPath,
        );
      }
      if (item !== null && typeof item === 'object') {
        stack.push({ value: item, depth: depth + 1, path: itemPath, schema: schema || SCHEMA_KEYS.has(key) });
      }
    }
  }
}
