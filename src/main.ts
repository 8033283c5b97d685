// Entry point of the server: `node dist/src/main.js [--workers N]`, and what `llm-proxy start`
// loads. It only holds SIGHUP before loading the server (server-main.ts): node loads every module
// an import names before running any, and a reload signal in that time ended the process.
import { holdReloadSignals } from './server/reload-signal.js';

holdReloadSignals();
await import('./server-main.js');
