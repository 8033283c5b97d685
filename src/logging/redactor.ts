// The one redactor: every log line, every upstream error text we pass on, and anything else that
// leaves the process goes through it. It knows each configured secret exactly and the common key
// shapes by pattern, at every log level.

const PATTERNS = [
  // OpenAI-style, Anthropic (sk-ant-), our virtual keys (sk-gw_...), and most hosted providers.
  String.raw`\bsk-[A-Za-z0-9_\-]{6,}`,
  // Google API keys.
  String.raw`\bAIza[0-9A-Za-z_\-]{20,}`,
  // Groq, xAI, and similar prefixes.
  String.raw`\b(?:gsk|xai|fw)_[A-Za-z0-9]{16,}`,
  // Authorization-style carriers: keep the label, hide the value. Each lookbehind is tried only
  // where a value can start (the leading lookahead): tried at every position, its `\s+` scanned
  // back over the whole of a whitespace run, and 40,000 spaces in an error message took 7 s.
  String.raw`(?=[^\s",'}])(?<=\bBearer\s+)[^\s",'}]+`,
  String.raw`(?=[^\s",'}&])(?<=\b(?:x-api-key|api-key|x-goog-api-key|authorization)["']?\s*[:=]\s*["']?)(?!Bearer\b)[^\s",'}&]+`,
  String.raw`(?<=[?&](?:key|api_key|apikey|token|access_token)=)[^&\s"']+`,
];

/**
 * An absolute http(s) or ws(s) URL, ended before trailing punctuation so the sentence around it
 * survives. Linear: a match starts only at a scheme and runs to whitespace or a quote.
 */
const URL_PATTERN = /\b(?:https?|wss?):\/\/[^\s"'<>`]*[^\s"'<>`.,;:!?)\]}]/gi;

/** Replaces every URL in `text` with `[url]`. */
export function removeUrls(text: string): string {
  return text.replace(URL_PATTERN, '[url]');
}

function escape(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Redactor {
  private pattern: RegExp;
  private readonly secrets: Set<string>;

  /** `secrets` are the exact values to hide: provider keys, client keys, the master key. */
  constructor(secrets: Iterable<string>) {
    this.secrets = new Set([...secrets].filter((secret) => secret.length >= 4));
    this.pattern = Redactor.compile(this.secrets);
  }

  private static compile(secrets: ReadonlySet<string>): RegExp {
    // Longest first, so a secret that contains another is hidden whole.
    const exact = [...secrets].sort((a, b) => b.length - a.length).map(escape);
    return new RegExp([...exact, ...PATTERNS].join('|'), 'g');
  }

  /**
   * Adds secrets (a config reload's new keys). Old ones stay hidden: requests on the previous
   * config may still be running, and a log line must never show a key that was once in use.
   */
  extend(secrets: Iterable<string>): void {
    const before = this.secrets.size;
    for (const secret of secrets) if (secret.length >= 4) this.secrets.add(secret);
    if (this.secrets.size !== before) this.pattern = Redactor.compile(this.secrets);
  }

  redact(text: string): string {
    this.pattern.lastIndex = 0;
    return text.replace(this.pattern, '[redacted]');
  }

  /**
   * Text an upstream wrote (an error body's message, an error event) on its way into an error a
   * client sees: its URLs go, since they name our upstream hosts, deployments and query strings
   * (RELIABILITY 4d#8), and then secrets, as everywhere. Every such intake calls this one method.
   */
  redactProviderText(text: string): string {
    return this.redact(removeUrls(text));
  }
}

/** A short, safe handle for a key in logs: never more than 4 characters of it. */
export function maskKey(key: string): string {
  return key.length <= 8 ? '****' : `****${key.slice(-4)}`;
}
