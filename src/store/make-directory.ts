// Creates the directories the proxy writes beside its database (the SQLite file, the master key's
// hash, the usage spool), one level at a time, so a path no directory can be made under fails at once.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Walks from the top again when a parent is removed while its child is made (another process cleaning up); then gives up. */
const ATTEMPTS = 3;

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function isDirectory(path: string): boolean | undefined {
  try {
    return statSync(path).isDirectory();
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

function refusal(path: string, error: unknown): Error {
  // ENOENT twice with the parent present: /proc answers so, and no retry will change it.
  const reason = errorCode(error) === 'ENOENT' ? `${dirname(path)} exists but refuses new directories (a virtual file system such as /proc?)` : error instanceof Error ? error.message : String(error);
  return new Error(`cannot create the directory ${path}: ${reason}`, { cause: error });
}

/** A level whose parent went away between the walk and its mkdir. */
interface Vanished {
  path: string;
  error: unknown;
}

/**
 * Makes one level. ENOENT means either that the parent is gone (a race: reported back, to walk
 * again) or, with the parent there, a file system that refuses (/proc): that is asked twice, so
 * a parent removed and made again in between is not taken for /proc.
 */
function makeLevel(path: string): Vanished | undefined {
  for (let tries = 1; ; tries++) {
    try {
      mkdirSync(path);
      return undefined;
    } catch (error) {
      // Another process (a worker, the CLI) made it in the meantime.
      if (errorCode(error) === 'EEXIST' && isDirectory(path) === true) return undefined;
      if (errorCode(error) !== 'ENOENT') throw refusal(path, error);
      if (isDirectory(dirname(path)) !== true) return { path, error };
      if (tries >= 2) throw refusal(path, error);
    }
  }
}

/** One walk: finds the deepest existing level, makes each missing one below it. */
function makeLevels(target: string): Vanished | undefined {
  const missing: string[] = [];
  let current = target;
  let found = isDirectory(current);
  while (found === undefined && dirname(current) !== current) {
    missing.push(current);
    current = dirname(current);
    found = isDirectory(current);
  }
  if (found === false) throw new Error(`cannot create the directory ${target}: ${current} is not a directory`);
  for (const path of missing.reverse()) {
    const vanished = makeLevel(path);
    if (vanished !== undefined) return vanished;
  }
  return undefined;
}

/**
 * `mkdir -p dir`. Not `mkdirSync(dir, { recursive: true })`: on Linux that never returns for a path
 * under /proc (`/proc/self/x/y`), since mkdir there answers ENOENT although the parent exists and
 * Node's loop goes back to make the parent, again and again. Here each missing level is made once,
 * and a parent removed meanwhile starts the walk again at most ATTEMPTS times.
 */
export function makeDirectory(dir: string): void {
  const target = resolve(dir);
  for (let attempt = 1; ; attempt++) {
    const vanished = makeLevels(target);
    if (vanished === undefined) return;
    if (attempt >= ATTEMPTS) {
      throw new Error(`cannot create the directory ${vanished.path}: ${dirname(vanished.path)} was removed while it was being made, ${ATTEMPTS} times (another process is deleting it)`, {
        cause: vanished.error,
      });
    }
  }
}
