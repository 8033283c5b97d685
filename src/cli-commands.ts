// The `llm-proxy` command (its entry is cli.ts): `start` runs the server (server-main.ts); `keys create|list|revoke` manage
// virtual keys, and `usage rebuild-rollup` the daily usage sums, in the same store the server uses, configured the same way (env and LLM_PROXY_CONFIG).
// Each command's code is imported when it runs: `--help` needs none of it, and `start`, which
// relaunches itself with the node flags of `npm start`, would otherwise load the store twice.
import { fail } from './cli-fail.js';
import { isGatewayError } from './errors/gateway-error.js';
import { missingStartFlags, relaunchWithFlags, stopWithParent } from './server/node-flags.js';
import { releaseReloadSignals } from './server/reload-signal.js';
import { releaseStopSignals } from './server/stop-signals.js';

/** The keys commands' lines, in the general help and in `keys --help`. */
const KEYS_USAGE = `  llm-proxy keys create [options]   make a virtual key; its secret is printed once
      --name NAME                   a label for people
      --models a,b,c                models the key may use, split at commas (default: all)
      --model NAME                  one model the key may use; repeatable, and a name may hold a comma
      --rpm N / --tpm N             requests / tokens per minute (default: LLM_PROXY_RPM / LLM_PROXY_TPM; 0 = none)
      --budget USD                  most the key may spend
      --period daily|weekly|monthly when the budget starts again (default: never)
      --expires ISO-8601            when the key stops working (UTC; a date alone is that day's start)
  llm-proxy keys list [--json]      every key: id, name, prefix, limits, spend, state (never a secret)
  llm-proxy keys revoke ID          revoke a key (running servers refuse it within a second)
`;

const HELP = `llm-proxy: one OpenAI-compatible endpoint in front of many LLM providers.

Usage:
  llm-proxy [start]                 run the server (PORT, HOST, provider keys from the environment)
      --workers N|auto              N processes on one port (default: LLM_PROXY_WORKERS, else 1;
                                    auto = one per core); SIGHUP reloads the config, SIGTERM drains
${KEYS_USAGE}  llm-proxy check-config [--json]   validate the configuration and print it, secrets masked (exit 1 if invalid)
  llm-proxy models [--search Q] [--provider P] [--capability C] [--all] [--json]
                                    list or search the model catalog offline
  llm-proxy usage rebuild-rollup [--since DATE]
                                    sum the usage records into the daily sums the reports read again
                                    (after instances of a version before 0004_usage_daily wrote records)
  llm-proxy COMMAND --help          help for one command
  llm-proxy --help                  this text

The keys and usage commands use the server's store: LLM_PROXY_DB (SQLite, default ./data/llm-proxy.db) or
DATABASE_URL (PostgreSQL), and REDIS_URL, if set, to announce revocations at once.
`;

const START_HELP = `llm-proxy [start] [--workers N|auto]

Runs the server on HOST:PORT (default 127.0.0.1:8000) with the configuration of the environment and
LLM_PROXY_CONFIG (a YAML file). Providers are configured by their keys (OPENAI_API_KEY, ...); with no
key configured at all, the first start makes a master key and prints it once.

  --workers N|auto   N processes on one port (default: LLM_PROXY_WORKERS, else 1; auto = one per core)

Signals (to this process, not to npm): SIGHUP reloads the configuration; SIGTERM or SIGINT drains
(after server.shutdown_delay_s of serving on, default 0, in-flight requests and streams get
server.shutdown_timeout_s, default 30) and exits 0; a second one a second later ends it at once.
`;

const KEYS_HELP = `llm-proxy keys create|list|revoke

${KEYS_USAGE}
They use the server's store: LLM_PROXY_DB (SQLite, default ./data/llm-proxy.db) or DATABASE_URL
(PostgreSQL), and REDIS_URL, if set, to announce revocations at once.
`;

const CHECK_CONFIG_HELP = `llm-proxy check-config [--json]

Loads the configuration exactly as the server would (defaults, LLM_PROXY_CONFIG, environment),
validates it, and prints the result with every secret masked. Exits 1 with the reason when it is
not valid; warns (exit 0) when condense.model or a fallback names no routable model, or a listener on
a non-loopback address has short client keys. --json prints JSON instead of YAML.
`;

const MODELS_HELP = `llm-proxy models [--search Q] [--provider P] [--capability C] [--all] [--json]

Lists the models the configured providers serve, from the built-in catalog and the config (offline:
no provider is called). With no provider configured, or with --all, lists the whole catalog.
  --search Q       case-insensitive match on id and name
  --provider P     only this provider
  --capability C   only models with this capability (vision, function_calling, json_mode, ...);
                   repeated or comma-separated (a,b), a model needs every one, as in /api/models/search
  --json           {"models": [...], "count": N}
`;

const USAGE_HELP = `llm-proxy usage rebuild-rollup [--since DATE]

Sums the usage records into the daily sums (usage_daily) that /admin/usage, /api/usage and the
dashboard read for whole days, replacing what is there, one UTC day at a time, each in a transaction
of its own: a running server's usage writes wait for one day's work at most. Run it once every
instance runs this version, after a rollout in which an instance of an earlier version (before the
daily sums) wrote records: those records are missing from the sums until then.

  --since DATE   from this UTC day on (ISO 8601; a date-time counts from its day's start);
                 default: the first day with records

It uses the server's store: LLM_PROXY_DB (SQLite, default ./data/llm-proxy.db) or DATABASE_URL (PostgreSQL).
`;

/** `llm-proxy COMMAND --help`: each command's own text; the general one for anything else. */
const COMMAND_HELP: Readonly<Record<string, string>> = {
  start: START_HELP,
  keys: KEYS_HELP,
  'check-config': CHECK_CONFIG_HELP,
  models: MODELS_HELP,
  usage: USAGE_HELP,
};

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // Only the server takes SIGHUP as a reload, or a stop as a drain: cli.ts holds them until the command is known.
  if ((command !== undefined && command !== 'start') || rest.includes('--help') || rest.includes('-h')) {
    releaseReloadSignals();
    releaseStopSignals();
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write((command !== undefined && Object.hasOwn(COMMAND_HELP, command) ? COMMAND_HELP[command] : undefined) ?? HELP);
    return;
  }
  if (command === undefined || command === 'start') {
    // The GC flags of `npm start` can only be given when node starts: run again with them if missing.
    const missing = missingStartFlags(process.execArgv);
    if (missing.length > 0) {
      // The server runs in the child, which holds its own; this process passes the signals on (exiting 0 here would orphan it).
      releaseStopSignals();
      await relaunchWithFlags(missing);
    }
    stopWithParent();
    // server-main.ts starts the server when it is loaded (SIGHUP is held already, by cli.ts).
    await import('./server-main.js');
    return;
  }
  if (command === 'check-config') {
    (await import('./cli-operations.js')).checkConfigCommand(rest);
    return;
  }
  if (command === 'models') {
    (await import('./cli-operations.js')).modelsCommand(rest);
    return;
  }
  if (command === 'usage') {
    await (await import('./cli-usage.js')).usageCommand(rest);
    return;
  }
  if (command === 'keys') {
    await (await import('./cli-keys.js')).keysCommand(rest);
    return;
  }
  fail(`unknown command ${JSON.stringify(command)}; see llm-proxy --help`);
}

run(process.argv.slice(2)).catch((error: unknown) => {
  if (isGatewayError(error)) fail(error.message);
  fail(error instanceof Error ? error.message : String(error));
});
