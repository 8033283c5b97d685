// The dashboard's only way to the server: same-origin fetches that carry the session cookie (set
// HttpOnly by POST /ui/session, so scripts never see it) and the CSRF token, kept in this module's
// memory only. The master key itself is sent once, at sign-in, and dropped.

const CSRF_HEADER = 'x-llm-proxy-csrf';
let csrfToken: string | null = null;
let onSignedOut: () => void = () => undefined;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

interface SessionAnswer {
  csrf_token: string;
  expires_at: string;
}

export function whenSignedOut(callback: () => void): void {
  onSignedOut = callback;
}

function headers(json: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  if (csrfToken !== null) out[CSRF_HEADER] = csrfToken;
  if (json) out['content-type'] = 'application/json';
  return out;
}

async function errorOf(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  let code: string | null = null;
  try {
    const body = (await response.json()) as { error?: { message?: unknown; code?: unknown } };
    if (typeof body.error?.message === 'string') message = body.error.message;
    if (typeof body.error?.code === 'string') code = body.error.code;
  } catch {
    // Not JSON: the status line says enough.
  }
  return new ApiError(response.status, message, code);
}

/** A raw response (streams, CSV); errors are thrown as ApiError, a lost session signs the page out. */
export async function request(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<Response> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers: headers(init.body !== undefined),
    credentials: 'same-origin',
    cache: 'no-store',
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && csrfToken !== null) {
      csrfToken = null;
      onSignedOut();
    }
    throw error;
  }
  return response;
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const response = await request(path, init);
  return (await response.json()) as T;
}

/** A query string from the given values, leaving out empty ones. */
export function query(values: Record<string, string | number | boolean | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === '') continue;
    params.set(name, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

export async function signIn(masterKey: string): Promise<void> {
  const response = await fetch('/ui/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify({ master_key: masterKey }),
  });
  if (!response.ok) throw await errorOf(response);
  csrfToken = ((await response.json()) as SessionAnswer).csrf_token;
}

/** After a reload: the cookie may still name a session; its CSRF token is read back from the server. */
export async function resumeSession(): Promise<boolean> {
  const response = await fetch('/ui/session', { credentials: 'same-origin', cache: 'no-store' });
  if (!response.ok) return false;
  csrfToken = ((await response.json()) as SessionAnswer).csrf_token;
  return true;
}

export async function signOut(): Promise<void> {
  try {
    await fetch('/ui/session', { method: 'DELETE', headers: headers(false), credentials: 'same-origin' });
  } finally {
    csrfToken = null;
  }
}
