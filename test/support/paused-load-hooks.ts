// The loader hooks of paused-load.ts (registered there, run on node's loader thread).
import { appendFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

interface LoadContext {
  format?: string | null | undefined;
}
type NextLoad = (url: string, context: LoadContext) => Promise<unknown>;

let pauses = false;

export function initialize(data: { pauses: boolean }): void {
  pauses = data.pauses;
}

export async function load(url: string, context: LoadContext, nextLoad: NextLoad): Promise<unknown> {
  const file = process.env.PAUSED_LOAD_FILE;
  if (pauses && file !== undefined && url.endsWith('/src/server-main.js') && existsSync(file)) {
    // One line per process that waits here (a test counts the workers that reached it).
    appendFileSync(`${file}.reached`, `${process.pid}\n`);
    while (existsSync(file)) await sleep(20);
  }
  return nextLoad(url, context);
}
