// First start with no key configured: the proxy never runs open. It makes a master key, keeps only
// its SHA-256 next to the database, and shows the key once on stderr. Later starts reuse the hash.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { dbPathError } from '../store/database.js';
import { makeDirectory } from '../store/make-directory.js';
import { digestKey } from './static-keys.js';

export interface BootstrappedMasterKey {
  digest: Buffer;
  file: string;
  /** Set only on the start that generated it: the one time the key is shown. */
  generated?: string;
}

export function masterKeyFile(dbPath: string): string {
  return join(dirname(resolve(dbPath)), 'master-key.sha256');
}

export function bootstrapMasterKey(dbPath: string): BootstrappedMasterKey {
  const file = masterKeyFile(dbPath);
  if (existsSync(file)) {
    const hex = readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${file} does not hold a SHA-256 digest; delete it to generate a new master key.`);
    return { digest: Buffer.from(hex, 'hex'), file };
  }
  const key = `sk-llmp-master-${randomBytes(32).toString('base64url')}`;
  const digest = digestKey(key);
  try {
    makeDirectory(dirname(file));
    writeFileSync(file, `${digest.toString('hex')}\n`, { mode: 0o600 });
  } catch (error) {
    throw dbPathError(`cannot write the generated master key's hash to ${file}, beside the SQLite database`, error);
  }
  return { digest, file, generated: key };
}
