// The key change bus's database poll (no Redis) between two instances sharing one database, on
// SQLite (two handles on one file) and PostgreSQL: a change reaches the other instance's cache on
// its next poll whatever the clock of the instance that wrote it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { pino } from 'pino';
import { isGatewayError } from '../../src/errors/gateway-error.js';
import { KeyChangeBus } from '../../src/keys/key-change-bus.js';
import { VirtualKeyService } from '../../src/keys/virtual-keys.js';
import type { DatabaseOptions } from '../../src/store/database.js';
import { SqlStore } from '../../src/store/sql-store.js';
import { createPostgresSchema, type PostgresSchema } from '../support/backing-services.js';

const logger = pino({ level: 'silent' });
const postgres = await createPostgresSchema();
const MINUTE_MS = 60_000;

interface Backend {
  name: string;
  skip: string | false;
  options(): DatabaseOptions;
  /**
   * Sets a key's `updated_at` as an instance whose clock is off writes it (one of an earlier
   * version, which takes the change time from its own clock): straight to the database.
   */
  writeChangeTime(id: string, updatedAt: number): Promise<void>;
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

function sqliteBackend(): Backend {
  let dir = '';
  const file = () => join(dir, 'keys.db');
  return {
    name: 'SQLite',
    skip: false,
    options: () => ({ dbPath: file() }),
    async writeChangeTime(id, updatedAt) {
      const db = new BetterSqlite3(file());
      try {
        db.prepare('update virtual_keys set updated_at = ? where id = ?').run(updatedAt, id);
      } finally {
        db.close();
      }
    },
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'llm-proxy-poll-'));
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  const schema = typeof postgres === 'string' ? undefined : (postgres as PostgresSchema);
  const url = schema?.url ?? '';
  return {
    name: 'PostgreSQL',
    skip: typeof postgres === 'string' ? postgres : false,
    options: () => ({ dbPath: 'unused.db', databaseUrl: url }),
    async writeChangeTime(id, updatedAt) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query('update virtual_keys set updated_at = $1 where id = $2', [updatedAt, id]);
      } finally {
        await client.end();
      }
    },
    async setup() {},
    async teardown() {
      await schema?.drop();
    },
  };
}

async function refusalCode(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
  } catch (error) {
    if (isGatewayError(error)) return error.code;
    throw error;
  }
  return null;
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`key change poll on ${backend.name}`, { skip: backend.skip }, () => {
    /** The instance where the admin acts. */
    let writer: SqlStore;
    /** The other instance: its cache learns of changes through its poll alone (no Redis). */
    let reader: SqlStore;
    let writerKeys: VirtualKeyService;
    let readerKeys: VirtualKeyService;
    let bus: KeyChangeBus;

    before(async () => {
      await backend.setup();
      writer = new SqlStore(backend.options(), logger);
      await writer.ready();
      reader = new SqlStore(backend.options(), logger);
      await reader.ready();
      writerKeys = new VirtualKeyService(writer.keys, logger);
      readerKeys = new VirtualKeyService(reader.keys, logger);
      // Polled by hand (pollNow), so each step is one poll.
      bus = new KeyChangeBus(readerKeys, reader.keys, logger, { redis: undefined, channel: 'unused', pollMs: 3_600_000 });
      await bus.pollNow();
    });
    after(async () => {
      await bus.close();
      await reader.close();
      await writer.close();
      await backend.teardown();
    });

    test('a change written by a clock minutes ahead does not hide the changes written after it', async () => {
      const skewed = await writerKeys.create({ name: 'edited-by-a-fast-clock' });
      const revoked = await writerKeys.create({ name: 'revoked' });
      assert.notEqual(await readerKeys.authenticate(revoked.key), undefined);
      await bus.pollNow();

      // An instance whose clock runs 5 minutes ahead edits one key...
      await backend.writeChangeTime(skewed.record.id, Date.now() + 5 * MINUTE_MS);
      await bus.pollNow();
      // ...then the admin revokes another one on an instance with a right clock.
      await writerKeys.revoke(revoked.record.id);
      await bus.pollNow();

      assert.equal(await refusalCode(readerKeys.authenticate(revoked.key)), 'key_revoked', 'the revocation reached the other instance on its next poll');
    });

    test('a change made by an instance whose clock runs a minute behind reaches the others on their next poll', async () => {
      // A key made 10 minutes ago, revoked by an instance whose clock is a minute slow.
      const { key, record } = await writerKeys.create({ name: 'revoked-by-a-slow-clock' }, Date.now() - 10 * MINUTE_MS);
      assert.notEqual(await readerKeys.authenticate(key), undefined);
      await bus.pollNow();
      await writerKeys.revoke(record.id, Date.now() - MINUTE_MS);
      await bus.pollNow();

      assert.equal(await refusalCode(readerKeys.authenticate(key)), 'key_revoked');
    });

    test('a key changed once by a fast clock is dropped from the cache once, not on every poll', async () => {
      const { key, record } = await writerKeys.create({ name: 'future-dated' });
      await backend.writeChangeTime(record.id, Date.now() + 5 * MINUTE_MS);
      await bus.pollNow();
      assert.notEqual(await readerKeys.authenticate(key), undefined);
      let reads = 0;
      const original = reader.keys.findById.bind(reader.keys);
      reader.keys.findById = (id: string) => {
        reads++;
        return original(id);
      };
      try {
        await bus.pollNow();
        await bus.pollNow();
        assert.notEqual(await readerKeys.authenticate(key), undefined);
        assert.equal(reads, 0, 'the cached copy stayed');
      } finally {
        reader.keys.findById = original;
      }
    });
  });
}
