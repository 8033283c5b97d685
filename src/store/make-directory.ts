// Creates the directories the proxy writes beside its database (the SQLite file, the master key's
// hash, the usage spool), one level at a time, so a path no directory can be made under fails at once.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

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
  // ENOENT with the parent present: /proc answers so, and no retry will change it.
  const reason = errorCode(error) === 'ENOENT' ? `${dirname(path)} exists but refuses new directories (a virtual file system such as /proc?)` : error instanceof Error ? error.message : String(error);
  return new Error(`cannot create the directory ${path}: ${reason}`, { cause: error });
}

/**
 * `mkdir -p dir`. Not `mkdirSync(dir, { recursive: true })`: on Linux that never returns for a path
 * under /proc (`/proc/self/x/y`), since mkdir there answers ENOENT although the parent exists and
 * Node's loop goes back to make the parent, again and again. Here each missing level is made once.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let current = resolve(dir);
  let found = isDirectory(current);
  while (found === undefined && dirname(current) !== current) {
    missing.push(current);
    current = dirname(current);
    found = isDirectory(current);
  }
  if (found === false) throw new Error(`cannot create the directory ${resolve(dir)}: ${current} is not a directory`);
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path);
    } catch (error) {
      // Another process (a worker, the CLI) made it in the meantime.
      if (errorCode(error) === 'EEXIST' && isDirectory(path) === true) continue;
      throw refusal(path, error);
    }
  }
}
