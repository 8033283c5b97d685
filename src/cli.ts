#!/usr/bin/env node
// The `llm-proxy` command's entry. It only holds SIGHUP before loading the commands
// (cli-commands.ts), as main.ts does: `llm-proxy start` and the workers it forks run from here, and
// node loads every module an import names before running any. Other commands let the signal go.
import { holdReloadSignals } from './server/reload-signal.js';

holdReloadSignals();
await import('./cli-commands.js');
