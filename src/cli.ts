#!/usr/bin/env node
// The `llm-proxy` command's entry. It only holds SIGHUP and the stop signals before loading the
// commands (cli-commands.ts), as main.ts does: `llm-proxy start` and the workers it forks run from
// here, and node loads every module an import names before running any. Other commands let them go.
import { holdReloadSignals } from './server/reload-signal.js';
import { holdStopSignals } from './server/stop-signals.js';

holdReloadSignals();
holdStopSignals();
await import('./cli-commands.js');
