// `llm-proxy usage rebuild-rollup [--since DATE]`: sums the usage records into the daily sums the
// reports read (usage_daily) again, in the store the server uses, configured the same way. Loaded
// by cli-commands.ts only for this command.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { fail, refuseRepeatedOptions } from './cli-fail.js';
import { loadConfigOrFail } from './config/config-loader.js';
import { parseIsoDate } from './http/routes/admin-keys.js';
import { SqlStore, storeOptions } from './store/sql-store.js';

function sinceOf(value: string): number {
  try {
    return parseIsoDate(value, 'since');
  } catch {
    fail(`--since takes an ISO 8601 date such as 2026-03-01 (a UTC day) or a date-time, not ${JSON.stringify(value)}`);
  }
}

export async function usageCommand(argv: string[]): Promise<void> {
  const { values, positionals, tokens } = parseArgs({ args: argv, allowPositionals: true, options: { since: { type: 'string' } }, tokens: true });
  refuseRepeatedOptions(tokens, 'llm-proxy usage --help');
  const [action] = positionals;
  if (action !== 'rebuild-rollup' || positionals.length > 1) fail(`unknown usage command ${JSON.stringify(positionals.join(' '))}; see llm-proxy usage --help`);
  const since = values.since === undefined ? undefined : sinceOf(values.since);

  const config = loadConfigOrFail(fail);
  const logger = pino({ level: 'warn', base: { service: 'llm-proxy-cli' } }, pino.destination(2));
  const store = new SqlStore(storeOptions(config.storage), logger);
  try {
    const done = await store.usage.rebuildDaily(since === undefined ? {} : { since });
    const days = done.firstDay === null ? 'no day to rebuild' : `${done.days} day${done.days === 1 ? '' : 's'} (${done.firstDay} to ${done.lastDay}), ${done.rows} row${done.rows === 1 ? '' : 's'}`;
    process.stdout.write(`usage_daily rebuilt from the records: ${days}\n`);
  } finally {
    await store.close();
  }
}
