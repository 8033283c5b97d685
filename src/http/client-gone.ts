// Work done for a client stops when the client leaves: its response closes before it finished.
// One shared 'close' listener per response reads what to abort from the response itself, instead
// of a closure and a once-wrapper per request for each route, policy and call that watches it.
import type { ServerResponse } from 'node:http';

export interface Abortable {
  abort(): void;
}

const WATCHERS = Symbol('llm-proxy.clientGone');

type Watched = ServerResponse & { [WATCHERS]?: Abortable | Abortable[] };

function onClose(this: Watched): void {
  const watchers = this[WATCHERS];
  this[WATCHERS] = undefined;
  if (watchers === undefined || this.writableFinished) return;
  if (Array.isArray(watchers)) for (const watcher of watchers) watcher.abort();
  else watchers.abort();
}

/** Calls `target.abort()` if `res` closes before its answer was finished (the client left). */
export function abortWhenClientLeaves(res: ServerResponse, target: Abortable): void {
  const watched = res as Watched;
  const current = watched[WATCHERS];
  if (current === undefined) {
    // A response that already closed never emits again: abort now if it closed unfinished.
    if (res.closed) {
      if (!res.writableFinished) target.abort();
      return;
    }
    watched[WATCHERS] = target;
    res.on('close', onClose);
  } else if (Array.isArray(current)) {
    current.push(target);
  } else {
    watched[WATCHERS] = [current, target];
  }
}
