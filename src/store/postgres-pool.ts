// The PostgreSQL connections Kysely draws: node-pg's pool, guarded on the two sides of a statement
// that outlives the store's timeout. Each new connection has the server stop such a statement
// (statement_timeout), and one whose answer the client gave up on is closed on release, not pooled.
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';
import { isQueryReadTimeout } from './transient-errors.js';

/**
 * A checked-out connection as Kysely sees it. After node-pg's read timeout (query_timeout) the
 * statement may still run in the server, in the caller's transaction: returned to the pool, the
 * connection made the next caller's statements wait behind it and time out in turn.
 */
class GuardedClient implements PostgresPoolClient {
  private readTimeout: Error | undefined;

  constructor(private readonly client: pg.PoolClient) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(input: string | PostgresCursor<R>, parameters: ReadonlyArray<unknown> = []): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // The dialect is given no cursor class, so Kysely refuses streaming before it gets here.
    if (typeof input !== 'string') throw new Error('streamed queries are not used by the store');
    return this.client.query(input, [...parameters]).then(
      (result) => result as PostgresQueryResult<R>,
      (error: unknown) => {
        if (isQueryReadTimeout(error)) this.readTimeout = error;
        throw error;
      },
    );
  }

  /** `destroy`: Kysely's own verdict (a ROLLBACK that failed). */
  release(destroy?: boolean): void {
    this.client.release(this.readTimeout ?? destroy === true);
  }
}

/**
 * `pool` for Kysely's PostgresDialect. `statementTimeoutMs` is set on each new connection by a
 * statement rather than as a startup parameter, which PgBouncer refuses ("unsupported startup parameter").
 */
export function guardedPool(pool: pg.Pool, statementTimeoutMs: number): PostgresPool {
  // node-pg reuses its client objects, so each is prepared once (Kysely keys its own state on them too).
  const guarded = new WeakMap<pg.PoolClient, GuardedClient>();
  return {
    async connect() {
      const client = await pool.connect();
      const known = guarded.get(client);
      if (known !== undefined) return known;
      const fresh = new GuardedClient(client);
      try {
        await fresh.query("select set_config('statement_timeout', $1, false)", [String(Math.floor(statementTimeoutMs))]);
      } catch (error) {
        fresh.release(true);
        throw error;
      }
      guarded.set(client, fresh);
      return fresh;
    },
    end: () => pool.end(),
  };
}
