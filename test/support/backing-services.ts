// PostgreSQL and Redis for the tests that need them, on 127.0.0.1 only: each run gets its own
// schema and key prefix, removed afterwards. Absent services skip those tests with a message,
// except under CI=true, where an absent service is a failure.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

export const POSTGRES_URL = process.env.LLM_PROXY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.LLM_PROXY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function runId(): string {
  return `${process.pid}_${randomBytes(4).toString('hex')}`;
}

function unavailable(what: string, error: unknown): string {
  const message = `${what} is not reachable (${error instanceof Error ? error.message : String(error)})`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI=true requires it`);
  return `${message}: skipped`;
}

export interface PostgresSchema {
  /** A DATABASE_URL whose connections use the schema. */
  url: string;
  schema: string;
  drop(): Promise<void>;
}

/** A fresh schema, or the reason PostgreSQL tests are skipped. */
export async function createPostgresSchema(): Promise<PostgresSchema | string> {
  const schema = `llmp_test_${runId()}`;
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 1_500 });
  try {
    await client.connect();
    await client.query(`create schema "${schema}"`);
  } catch (error) {
    await client.end().catch(() => undefined);
    return unavailable(`PostgreSQL at ${POSTGRES_URL}`, error);
  }
  await client.end();
  const separator = POSTGRES_URL.includes('?') ? '&' : '?';
  return {
    url: `${POSTGRES_URL}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    schema,
    async drop() {
      const admin = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 1_500 });
      await admin.connect();
      try {
        await admin.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await admin.end();
      }
    },
  };
}

export interface RedisPrefix {
  url: string;
  prefix: string;
  client: Redis;
  /** Deletes every key under the prefix and disconnects. */
  drop(): Promise<void>;
}

/** A fresh key prefix on a reachable Redis, or the reason Redis tests are skipped. */
export async function createRedisPrefix(): Promise<RedisPrefix | string> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    return unavailable(`Redis at ${REDIS_URL}`, error);
  }
  const prefix = `llmp-test:${runId()}:`;
  return {
    url: REDIS_URL,
    prefix,
    client,
    async drop() {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        if (keys.length > 0) await client.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      client.disconnect();
    },
  };
}
