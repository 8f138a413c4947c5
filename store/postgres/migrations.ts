/**
 * Schema migrations of the PostgreSQL stores, run on open and by
 * `migratePostgres` (the `parley migrate` subcommand).
 *
 * Everything lives in one schema (default `parley`), so several deployments or
 * test runs can share a database. History: `<schema>.schema_migrations(version,
 * name, applied_at)`. Each migration runs in its own transaction together with
 * its history row (PostgreSQL DDL is transactional), so a crash mid-migration
 * leaves the previous version intact. Nodes starting at once serialise on a
 * transaction-scoped advisory lock keyed by the schema name, so exactly one
 * applies each version and the others see it done. Migrations are append-only:
 * never edit a published one, add the next version. A history naming a version
 * this code does not know was written by newer code: PARLEY_ERR_STORE_SCHEMA.
 */
import pg from 'pg';
import { StoreError, invalidInput } from '../errors.ts';
import { translatePgError } from './pg-errors.ts';

export interface PgMigration {
  readonly version: number;
  readonly name: string;
  /** SQL with `{schema}` standing for the quoted schema name. */
  readonly sql: string;
}

export const POSTGRES_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'accounts and devices',
    sql: `
      CREATE TABLE {schema}.users (
        user_id        uuid    PRIMARY KEY,
        created_at     bigint  NOT NULL,
        last_seen      bigint,
        -- device ids are never reused: removing device 3 and adding one gives 4
        next_device_id integer NOT NULL DEFAULT 1
      );
      CREATE TABLE {schema}.devices (
        user_id         uuid    NOT NULL REFERENCES {schema}.users (user_id) ON DELETE CASCADE,
        device_id       integer NOT NULL,
        -- an identity key belongs to at most one device in the whole system
        identity_key    bytea   NOT NULL CONSTRAINT devices_identity_key_unique UNIQUE,
        registration_id integer NOT NULL,
        name            text    NOT NULL,
        created_at      bigint  NOT NULL,
        PRIMARY KEY (user_id, device_id)
      );
    `,
  },
  {
    version: 2,
    name: 'signal pre-keys',
    sql: `
      -- Signed EC pre-keys (kind 'ec') and Kyber last-resort keys (kind 'kyber');
      -- replaced_at NULL marks the current one (at most one per device and kind),
      -- replaced ones stay for the grace period.
      CREATE TABLE {schema}.prekey_signed (
        user_id     uuid    NOT NULL,
        device_id   integer NOT NULL,
        kind        text    NOT NULL CHECK (kind IN ('ec', 'kyber')),
        key_id      bigint  NOT NULL,
        public_key  bytea   NOT NULL,
        signature   bytea   NOT NULL,
        replaced_at bigint,
        PRIMARY KEY (user_id, device_id, kind, key_id)
      );
      CREATE UNIQUE INDEX prekey_signed_current ON {schema}.prekey_signed (user_id, device_id, kind) WHERE replaced_at IS NULL;
      CREATE INDEX prekey_signed_replaced ON {schema}.prekey_signed (replaced_at) WHERE replaced_at IS NOT NULL;
      -- One-time keys, deleted when handed out: EC (signature NULL) and Kyber (signed).
      CREATE TABLE {schema}.prekey_one_time (
        user_id    uuid    NOT NULL,
        device_id  integer NOT NULL,
        kind       text    NOT NULL CHECK (kind IN ('ec', 'kyber')),
        key_id     bigint  NOT NULL,
        public_key bytea   NOT NULL,
        signature  bytea,
        PRIMARY KEY (user_id, device_id, kind, key_id)
      );
    `,
  },
];

/** The default schema of the PostgreSQL stores. */
export const DEFAULT_POSTGRES_SCHEMA = 'parley';

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a schema name (lower-case identifier, so it never needs escaping) and returns it quoted. */
export function quoteSchema(schema: string): string {
  if (typeof schema !== 'string' || !SCHEMA_RE.test(schema)) throw invalidInput('schema', 'not a lower-case SQL identifier');
  return `"${schema}"`;
}

/**
 * Brings `schema` to the newest version on an open client. Returns the versions applied now.
 * @throws StoreError PARLEY_ERR_STORE_SCHEMA on an unknown (newer) version or a failing migration.
 */
export async function migrateSchema(
  client: pg.ClientBase,
  schema: string = DEFAULT_POSTGRES_SCHEMA,
  migrations: readonly PgMigration[] = POSTGRES_MIGRATIONS,
  now: number = Date.now(),
): Promise<number[]> {
  const q = quoteSchema(schema);
  const done: number[] = [];
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  const known = new Set(sorted.map((m) => m.version));
  // One transaction per step; the advisory lock is re-taken in each, so two nodes
  // interleave safely and each step re-reads the history under the lock.
  for (let i = 0; i <= sorted.length; i++) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`parley.migrate.${schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (
        version    integer PRIMARY KEY,
        name       text    NOT NULL,
        applied_at bigint  NOT NULL
      )`);
      const applied = new Set((await client.query<{ version: number }>(`SELECT version FROM ${q}.schema_migrations`)).rows.map((r) => r.version));
      const unknown = [...applied].filter((v) => !known.has(v));
      if (unknown.length > 0) {
        throw new StoreError('PARLEY_ERR_STORE_SCHEMA', `schema ${schema} has versions unknown to this code: ${unknown.join(', ')}`, {
          details: { schema, unknown, known: [...known] },
        });
      }
      const next = sorted.find((m) => !applied.has(m.version));
      if (next === undefined) {
        await client.query('COMMIT');
        return done;
      }
      try {
        await client.query(next.sql.replaceAll('{schema}', q));
        await client.query(`INSERT INTO ${q}.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [next.version, next.name, now]);
      } catch (cause) {
        const t = translatePgError(cause, 'migrate');
        if (t instanceof StoreError) throw t;
        throw new StoreError('PARLEY_ERR_STORE_SCHEMA', `migration ${next.version} (${next.name}) failed`, { cause, details: { schema, version: next.version } });
      }
      await client.query('COMMIT');
      done.push(next.version);
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        /* the connection is gone; the transaction died with it */
      });
      throw translatePgError(err, 'migrate');
    }
  }
  return done;
}

/**
 * `parley migrate`: connects to `url`, brings `schema` to the newest version,
 * disconnects. Returns the versions applied by this call (empty when up to date).
 */
export async function migratePostgres(url: string, options: { schema?: string } = {}): Promise<number[]> {
  const schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
  quoteSchema(schema);
  const client = new pg.Client({ connectionString: url, application_name: 'parley-migrate' });
  try {
    await client.connect();
  } catch (err) {
    throw translatePgError(err, 'migrate.connect');
  }
  // an idle client's socket error would otherwise be an unhandled 'error' event
  client.on('error', () => {});
  try {
    return await migrateSchema(client, schema);
  } finally {
    await client.end().catch(() => {});
  }
}
