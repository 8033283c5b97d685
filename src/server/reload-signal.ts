// SIGHUP (reload the config) from a server process's first moment. Node ends a process on a
// SIGHUP nobody listens for, and a server takes seconds to get to its real handler: node loads
// every module an entry imports before it runs any of them (1-1.5 s here), then a primary or a
// single process runs its migrations. So the entry points hold the signal at once (this module
// imports nothing, and they import the rest after it), and the handler, once there, takes the
// reloads held meanwhile. Nothing here may import: it must load in no time.

let held = 0;
let handler: (() => void) | undefined;
const listener = (): void => {
  if (handler === undefined) held++;
  else handler();
};

/** From now on a SIGHUP is kept for onReloadSignal() rather than ending the process. */
export function holdReloadSignals(): void {
  if (!process.listeners('SIGHUP').includes(listener)) process.on('SIGHUP', listener);
}

/**
 * A SIGHUP calls `reload` from now on. Returns how many came while held: the caller applies one
 * reload for them (each may have come after the config was read; a reload of an unchanged config
 * costs little), or ignores them where the process never reloads on its own signal (a worker).
 */
export function onReloadSignal(reload: () => void): number {
  holdReloadSignals();
  handler = reload;
  const count = held;
  held = 0;
  return count;
}

/** Not a server after all (another CLI command): SIGHUP ends the process again, and one held ends it now. */
export function releaseReloadSignals(): void {
  process.off('SIGHUP', listener);
  if (held > 0) process.kill(process.pid, 'SIGHUP');
}
