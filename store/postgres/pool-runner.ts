/**
 * How every PostgreSQL store runs a statement: on a pooled client; a lost
 * connection destroys that client and, for idempotent work, retries on
 * another (after a server restart every idle client in the pool may be dead,
 * hence up to pool max + 1 attempts); other errors release the client
 * healthy and are translated to StoreError where the caller can act.
 */
import type pg from 'pg';
import { StoreError } from '../errors.ts';
import { isConnectionLost, translatePgError } from './pg-errors.ts';

/**
 * Runs `body` on a pooled client.
 * @param isClosed the owning store was closed: reject PARLEY_ERR_STORE_UNAVAILABLE
 * @param idempotent whether `body` may run again after its connection was lost mid-way
 */
export async function runOnPool<T>(
  pool: pg.Pool, isClosed: () => boolean, operation: string, idempotent: boolean, body: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const attempts = idempotent ? (pool.options.max ?? 10) + 1 : 1;
  for (let attempt = 1; ; attempt++) {
    if (isClosed()) throw new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: the store is closed`, { details: { operation } });
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw translatePgError(err, operation);
    }
    try {
      const out = await body(client);
      client.release();
      return out;
    } catch (err) {
      const lost = isConnectionLost(err);
      client.release(lost ? (err as Error) : undefined);
      if (lost && attempt < attempts) continue;
      throw translatePgError(err, operation);
    }
  }
}

/** BEGIN … COMMIT around `body`; ROLLBACK on any failure (a dead connection rolls back by itself). */
export async function transaction<T>(client: pg.PoolClient, body: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await body();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    if (!isConnectionLost(err)) await client.query('ROLLBACK');
    throw err;
  }
}
