/**
 * `openPostgresStores`: the PostgreSQL adapters on one `pg.Pool`; schema
 * migrations run on open (see ./migrations.ts).
 *
 * The pool outlives dropped connections by itself: an idle client whose
 * connection dies is removed from the pool (node-postgres emits the error on
 * the pool; we pass it to `onBackgroundError`, since an unhandled 'error'
 * event would kill the process), and the next checkout opens a new one. A
 * statement caught on a dead connection is retried by the store (see
 * PostgresAccountStore).
 */
import pg from 'pg';
import type { AccountStore } from '../types.ts';
import { DEFAULT_POSTGRES_SCHEMA, migrateSchema, quoteSchema } from './migrations.ts';
import { translatePgError } from './pg-errors.ts';
import { PostgresAccountStore } from './postgres-account-store.ts';
import { PostgresPreKeyStore } from './postgres-prekey-store.ts';
import type { PreKeyRetention, PreKeyStore } from '../prekeys.ts';

export interface PostgresStoreOptions {
  /** Connection URL, e.g. `postgres://parley@db:5432/parley` (PARLEY_PG_URL). */
  readonly url: string;
  /** Schema holding every table; created by the migration. @default 'parley' */
  readonly schema?: string;
  /** Most connections in the pool. @default 10 */
  readonly poolSize?: number;
  /** How long a checkout waits for a connection before PARLEY_ERR_STORE_UNAVAILABLE. @default 5000 */
  readonly connectTimeoutMs?: number;
  /** `application_name` of the connections (shows in pg_stat_activity). @default 'parley' */
  readonly applicationName?: string;
  /** Errors of idle connections (already discarded by the pool). @default ignore: the next call reconnects */
  readonly onBackgroundError?: (err: Error) => void;
  /** Clock for created-at times. @default Date.now */
  readonly now?: () => number;
  /** @default DEFAULT_PREKEY_RETENTION (30 days of grace for replaced signed keys) */
  readonly prekeyRetention?: Partial<PreKeyRetention>;
}

export const DEFAULT_POSTGRES_STORE_OPTIONS = {
  schema: DEFAULT_POSTGRES_SCHEMA,
  poolSize: 10,
  connectTimeoutMs: 5000,
  applicationName: 'parley',
} as const satisfies Partial<PostgresStoreOptions>;

export interface PostgresStores {
  readonly accounts: AccountStore;
  readonly prekeys: PreKeyStore;
  /** The pool, for health checks and tests. */
  readonly pool: pg.Pool;
  readonly schema: string;
  /** Ends the pool; idempotent. Later calls on the stores reject PARLEY_ERR_STORE_UNAVAILABLE. */
  close(): Promise<void>;
}

export async function openPostgresStores(options: PostgresStoreOptions): Promise<PostgresStores> {
  const d = DEFAULT_POSTGRES_STORE_OPTIONS;
  const schema = options.schema ?? d.schema;
  quoteSchema(schema);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? d.poolSize,
    connectionTimeoutMillis: options.connectTimeoutMs ?? d.connectTimeoutMs,
    application_name: options.applicationName ?? d.applicationName,
  });
  const onBackgroundError = options.onBackgroundError ?? (() => {});
  pool.on('error', onBackgroundError);
  try {
    const client = await pool.connect();
    try {
      await migrateSchema(client, schema);
      client.release();
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw translatePgError(err, 'open');
  }
  const accounts = new PostgresAccountStore(pool, schema, options.now);
  const prekeys = new PostgresPreKeyStore(pool, schema, options.prekeyRetention);
  let ended: Promise<void> | undefined;
  return {
    accounts,
    prekeys,
    pool,
    schema,
    close() {
      accounts.markClosed();
      prekeys.markClosed();
      ended ??= pool.end();
      return ended;
    },
  };
}
