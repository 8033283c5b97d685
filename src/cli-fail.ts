// How the CLI's commands and main.ts stop on a user's mistake: the reason on stderr, exit 1.

export function fail(message: string): never {
  process.stderr.write(`llm-proxy: ${message}\n`);
  process.exit(1);
}

/** What this check reads of parseArgs' `tokens` (its option tokens; other kinds are skipped). */
interface ArgumentToken {
  kind: string;
  name?: string;
  value?: string | undefined;
}

/**
 * Refuses an option that takes a value given more than once (`--rpm 5 --rpm 6`): parseArgs keeps
 * the last one without a word, so a pasted line or a typo would silently undo the first.
 * Flags without a value (`--json`) say the same thing twice and pass, as do the options declared
 * `multiple` in `options` (parseArgs' own), which gather every value.
 */
export function refuseRepeatedOptions(tokens: readonly ArgumentToken[] | undefined, help: string, options: Readonly<Record<string, { type: string; multiple?: boolean }>> = {}): void {
  const seen = new Map<string, string>();
  for (const token of tokens ?? []) {
    if (token.kind !== 'option' || token.name === undefined || token.value === undefined) continue;
    if (Object.hasOwn(options, token.name) && options[token.name]?.multiple === true) continue;
    const earlier = seen.get(token.name);
    if (earlier !== undefined) fail(`--${token.name} is given twice (${JSON.stringify(earlier)}, then ${JSON.stringify(token.value)}): give it once; see ${help}`);
    seen.set(token.name, token.value);
  }
}
