// How the CLI's commands and main.ts stop on a user's mistake: the reason on stderr, exit 1.

export function fail(message: string): never {
  process.stderr.write(`llm-proxy: ${message}\n`);
  process.exit(1);
}
