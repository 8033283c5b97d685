// Entry point of the server: `node dist/src/main.js [--workers N]`, and what `llm-proxy start`
// loads. It only holds SIGHUP and the stop signals before loading the server (server-main.ts): node
// loads every module an import names before running any, and such a signal in that time ended the
// process (a reload), or ended it with 143 instead of 0 (a stop).
import { holdReloadSignals } from './server/reload-signal.js';
import { holdStopSignals } from './server/stop-signals.js';

holdReloadSignals();
holdStopSignals();
await import('./server-main.js');
