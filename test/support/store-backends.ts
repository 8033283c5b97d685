// The store on each engine for the tests that run alike on SQLite and PostgreSQL: a fresh SQLite
// file or PostgreSQL schema per call, the store over it, and a connection of the test's own to the
// same database (to read or write past the store, as another version would).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openDatabase, type Database } from '../../src/store/database.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { createPostgresSchema } from './backing-services.js';

export interface StoreBackend {
  name: string;
  /** Why the engine's tests are skipped (PostgreSQL not reachable), or false. */
  skip: string | false;
  open(): { store: SqlStore; database: Database };
  teardown(): Promise<void>;
}

export async function storeBackends(prefix: string): Promise<StoreBackend[]> {
  const logger = pino({ level: 'silent' });
  const postgres = await createPostgresSchema();
  const dir = mkdtempSync(join(tmpdir(), `llm-proxy-${prefix}-`));
  return [
    {
      name: 'SQLite',
      skip: false,
      open: () => ({ store: new SqlStore({ dbPath: join(dir, 'usage.db') }, logger), database: openDatabase({ dbPath: join(dir, 'usage.db') }) }),
      teardown: async () => rmSync(dir, { recursive: true, force: true }),
    },
    typeof postgres === 'string'
      ? { name: 'PostgreSQL', skip: postgres, open: () => unreachable(postgres), teardown: async () => undefined }
      : {
          name: 'PostgreSQL',
          skip: false,
          open: () => ({
            store: new SqlStore({ dbPath: 'unused.db', databaseUrl: postgres.url }, logger),
            database: openDatabase({ dbPath: 'unused.db', databaseUrl: postgres.url }),
          }),
          teardown: () => postgres.drop(),
        },
  ];
}

/** A skipped engine's open, never called. */
function unreachable(reason: string): never {
  throw new Error(reason);
}
