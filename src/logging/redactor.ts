// The one redactor: every log line, every upstream error text we pass on, and anything else that
// leaves the process goes through it. It knows each configured secret exactly and the common key
// shapes by pattern, at every log level.
import { isIPv4, isIPv6 } from 'node:net';

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

/**
 * A run of characters an address can be made of, holding a `.` or `:`: the candidates removeHosts
 * classifies whole, so `llama3:8b` or `tokens[0:2]` is judged as one word, never cut into a match.
 * Linear: a run is entered only at its start (the lookbehind), and its one `[.:]` backtracks within it.
 */
const ADDRESS_RUN = /(?<![\w.:[\]%-])[\w.:[\]%-]*[.:][\w.:[\]%-]*/g;
/** A port: 1 to 5 digits (checked against 65,535 apart). */
const WITH_PORT = /^(.+):(\d{1,5})$/;
/** `[v6]` or `[v6]:port`, a zone id allowed. */
const BRACKETED = /^\[([0-9a-f:.]+)(?:%[\w.-]+)?\](?::(\d{1,5}))?$/i;
/**
 * A DNS name of two labels or more whose last is letters only, as TLDs and internal suffixes
 * (`local`, `internal`, `corp`) are: `gpt-4o`, `llama3` or a Bedrock `…-v1` never ends one.
 */
const DOTTED_NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63})$/i;
/** Last labels that name a file, not a host: `server.go:45` is a source line. */
const FILE_EXTENSIONS = new Set(['c', 'cc', 'cjs', 'cpp', 'cs', 'css', 'go', 'h', 'hpp', 'html', 'java', 'js', 'json', 'jsx', 'kt', 'log', 'lua', 'md', 'mjs', 'php', 'py', 'rb', 'rs', 'scala', 'sh', 'swift', 'toml', 'ts', 'tsx', 'txt', 'yaml', 'yml']);

function isPort(digits: string | undefined): boolean {
  return digits === undefined || (Number(digits) >= 1 && Number(digits) <= 65_535);
}

/** 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, 100.64/10, 0/8: addresses that name something inside. */
function isPrivateIpv4(address: string): boolean {
  const [a, b] = address.split('.').map(Number) as [number, number];
  return a === 0 || a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
}

/**
 * Suffixes under which a bare name (no port, no scheme) is taken for a host: a short list, not any
 * TLD, since without a port a name is told from other dotted words by its ending alone. Two kinds,
 * both naming someone's own host: names that resolve only inside a network (RFC 6761/6762/8375,
 * ICANN's `internal`, Kubernetes' `svc`, the usual corporate ones), and cloud names whose first
 * label is the customer's resource (Azure OpenAI `<resource>.openai.azure.com`, AWS, Cloud Run,
 * Modal, Hugging Face endpoints). Model names (`gpt-4o-mini`, `claude-3.5-sonnet`, `llama3.1`),
 * versions (`2024-08-01`) and file names (`config.yaml`) end otherwise, and public API names
 * (`api.openai.com`) stay. The price: a Java package written alone (`io.grpc.internal`) goes too.
 */
const PRIVATE_SUFFIXES = new Set([
  'internal', 'local', 'localdomain', 'localhost', 'lan', 'home.arpa', 'corp', 'intranet', 'intra', 'private', 'svc',
  'openai.azure.com', 'cognitiveservices.azure.com', 'services.ai.azure.com', 'inference.ai.azure.com', 'azure-api.net',
  'azurewebsites.net', 'azurecontainerapps.io', 'cloudapp.azure.com', 'amazonaws.com', 'run.app', 'modal.run',
  'endpoints.huggingface.cloud', 'proxy.runpod.net',
]);

/** A dotted name with at least one label before one of PRIVATE_SUFFIXES. */
function isPrivateName(name: string): boolean {
  // 253: the longest DNS name, so a hostile run of labels is never scanned.
  if (name.length > 253 || !DOTTED_NAME.test(name)) return false;
  const lower = name.toLowerCase();
  for (let dot = lower.indexOf('.'); dot !== -1; dot = lower.indexOf('.', dot + 1)) {
    if (PRIVATE_SUFFIXES.has(lower.slice(dot + 1))) return true;
  }
  return false;
}

/** Whether a whole word is a network address that names a host: see removeHosts. */
function isHostAddress(word: string, knownHosts: ReadonlySet<string>): boolean {
  const bracketed = BRACKETED.exec(word);
  if (bracketed !== null) return isIPv6(bracketed[1] as string) && isPort(bracketed[2]);
  // IPv6 as Node and Go print it, port or not (`::1:8080`, `fd00::1`); a digit keeps `a::b` out, and
  // a time (`10:30:45`) is no IPv6 address.
  if (/\d/.test(word) && isIPv6(word)) return true;
  const ported = WITH_PORT.exec(word);
  if (ported === null) {
    // A name of one label (`ollama`, `vllm` as a Compose service) is as often an ordinary word (the
    // provider's own name) and stays without its port; `ollama.` ending a sentence is such a word.
    if (word.includes('.') && knownHosts.has(word.toLowerCase())) return true;
    return isIPv4(word) ? isPrivateIpv4(word) : isPrivateName(word);
  }
  const host = ported[1] as string;
  if (!isPort(ported[2])) return false;
  if (isIPv4(host) || host.toLowerCase() === 'localhost' || knownHosts.has(host.toLowerCase())) return true;
  const name = DOTTED_NAME.exec(host);
  return name !== null && !FILE_EXTENSIONS.has((name[1] as string).toLowerCase());
}

const NO_HOSTS: ReadonlySet<string> = new Set();
/** The longest run removeHosts looks at: a bracketed IPv6 address with a zone and a port, or a DNS name with a port, fit well within it. */
const MAX_ADDRESS_CHARS = 300;

/**
 * Replaces with `[host]` each address written without a scheme that names an upstream: any IPv4
 * address with a port, a private one without; IPv6 (bracketed or not, port or not); `localhost` or a
 * dotted name with a port; a bare name under PRIVATE_SUFFIXES; and any of `knownHosts` (lower-case
 * names or addresses: the configured providers' hosts), a dotted one with or without a port. Model
 * names (`llama3:8b`, `gpt-4o:latest`), times, ratios, versions and `file.py:12` stay. Punctuation
 * that ends a sentence stays outside the replacement.
 */
export function removeHosts(text: string, knownHosts: ReadonlySet<string> = NO_HOSTS): string {
  return text.replace(ADDRESS_RUN, (run) => {
    // No address is this long (a DNS name is at most 253 characters), and every check below would
    // cost time in proportion to a run an upstream may make megabytes long.
    if (run.length > MAX_ADDRESS_CHARS) return run;
    let end = run.length;
    while (end > 0 && (run[end - 1] === '.' || run[end - 1] === ':')) end--;
    const word = run.slice(0, end);
    return word.length > 0 && isHostAddress(word, knownHosts) ? `[host]${run.slice(word.length)}` : run;
  });
}

/** A URL's host as removeHosts compares it: lower case, IPv6 without brackets, no final dot. */
function knownHostForm(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

function escape(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class Redactor {
  private pattern: RegExp;
  private readonly secrets: Set<string>;
  private readonly hosts = new Set<string>();

  /**
   * `secrets` are the exact values to hide: provider keys, client keys, the master key. `hosts` are
   * the configured providers' base URL hosts, removed from provider text even without a port.
   */
  constructor(secrets: Iterable<string>, hosts: Iterable<string> = []) {
    this.secrets = new Set([...secrets].filter((secret) => secret.length >= 4));
    this.pattern = Redactor.compile(this.secrets);
    for (const host of hosts) this.hosts.add(knownHostForm(host));
  }

  private static compile(secrets: ReadonlySet<string>): RegExp {
    // Longest first, so a secret that contains another is hidden whole.
    const exact = [...secrets].sort((a, b) => b.length - a.length).map(escape);
    return new RegExp([...exact, ...PATTERNS].join('|'), 'g');
  }

  /**
   * Adds secrets and hosts (a config reload's new keys and base URLs). Old ones stay hidden: requests
   * on the previous config may still be running, and a log line must never show a key that was once in use.
   */
  extend(secrets: Iterable<string>, hosts: Iterable<string> = []): void {
    const before = this.secrets.size;
    for (const secret of secrets) if (secret.length >= 4) this.secrets.add(secret);
    if (this.secrets.size !== before) this.pattern = Redactor.compile(this.secrets);
    for (const host of hosts) this.hosts.add(knownHostForm(host));
  }

  redact(text: string): string {
    this.pattern.lastIndex = 0;
    return text.replace(this.pattern, '[redacted]');
  }

  /**
   * Text an upstream wrote (an error body's message, an error event) on its way into an error a
   * client sees: its URLs and bare host addresses go, since they name our upstream hosts,
   * deployments and query strings (RELIABILITY 4d#8), the configured hosts by name too, and then
   * secrets, as everywhere. Every such intake calls this one method.
   */
  redactProviderText(text: string): string {
    return this.redact(removeHosts(removeUrls(text), this.hosts));
  }
}

/** A short, safe handle for a key in logs: never more than 4 characters of it. */
export function maskKey(key: string): string {
  return key.length <= 8 ? '****' : `****${key.slice(-4)}`;
}

/** Query parameters whose values are secrets: `key`, `api_key`, `access_token`, `sig`, `password`, … */
const SECRET_PARAMETER = /key|token|secret|passw|pwd|sig|auth|credential|session/i;

function maskParameters(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals === -1) return pair;
      let name = pair.slice(0, equals);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // A malformed escape: judge the name as written.
      }
      return SECRET_PARAMETER.test(name) ? `${pair.slice(0, equals)}=****` : pair;
    })
    .join('&');
}

/**
 * A URL as it may be shown (check-config, messages): the password, or a user name standing alone
 * (often a token), and the values of secret-looking query parameters become `****`. Anything else,
 * and a string that is not a URL, is returned as it was.
 */
export function maskUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  const search = url.search === '' ? '' : `?${maskParameters(url.search.slice(1))}`;
  if (url.password === '' && url.username === '' && search === url.search) return value;
  if (url.password !== '') url.password = '****';
  else if (url.username !== '') url.username = '****';
  url.search = search;
  return url.toString();
}
