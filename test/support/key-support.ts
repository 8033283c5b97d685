// HTTP helpers for the virtual-key suites: JSON calls with a key, the admin API, chat requests.
import assert from 'node:assert/strict';
import { MASTER_KEY } from './gateway-harness.js';

export interface JsonResponse {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

export async function callJson(base: string, method: string, path: string, key: string | undefined, body?: unknown): Promise<JsonResponse> {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON: the test looks at `text`.
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

export interface CreatedKey {
  id: string;
  key: string;
  body: Record<string, unknown>;
}

export async function createKey(base: string, settings: Record<string, unknown> = {}): Promise<CreatedKey> {
  const response = await callJson(base, 'POST', '/admin/keys', MASTER_KEY, settings);
  assert.equal(response.status, 201, response.text);
  return { id: String(response.body.id), key: String(response.body.key), body: response.body };
}

/**
 * The key's `spend` once it reaches `expected` (within `tolerance`), or as it stands after 5 s: usage
 * records land after the answer, so a budget is charged a little later.
 */
export async function settledSpend(base: string, id: string, expected: number, tolerance: number): Promise<number> {
  let spend = 0;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    spend = Number((await callJson(base, 'GET', `/admin/keys/${id}`, MASTER_KEY)).body.spend);
    if (Math.abs(spend - expected) < tolerance) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return spend;
}

export function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }], ...extra };
}

export function chat(base: string, key: string, extra: Record<string, unknown> = {}): Promise<JsonResponse> {
  return callJson(base, 'POST', '/v1/chat/completions', key, chatBody(extra));
}

export function errorCode(response: JsonResponse): unknown {
  return (response.body.error as { code?: unknown } | undefined)?.code;
}

export function errorMessage(response: JsonResponse): string {
  return String((response.body.error as { message?: unknown } | undefined)?.message ?? '');
}

/** The hold a budget refusal names ("could cost up to $0.38"), in either error shape. */
export function heldIn(response: JsonResponse): string {
  return /could cost up to (\$[0-9.]+)/.exec(errorMessage(response))?.[1] ?? `no hold in ${response.text.slice(0, 300)}`;
}
