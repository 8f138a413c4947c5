/**
 * Schema migrations of the embedded SQLite database, run on open.
 *
 * History lives in `schema_migrations(version, name, applied_at)`. Each
 * migration runs in its own transaction together with its history row, so a
 * crash mid-migration leaves the previous version intact. Migrations are
 * append-only: never edit a published one, add the next version.
 * A database whose history names a version this code does not know was written
 * by newer code: opening it fails with PARLEY_ERR_STORE_SCHEMA instead of
 * guessing.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../errors.ts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const EMBEDDED_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'accounts and devices',
    sql: `
      CREATE TABLE users (
        user_id        TEXT    PRIMARY KEY,
        created_at     INTEGER NOT NULL,
        last_seen      INTEGER,
        -- device ids are never reused: removing device 3 and adding one gives 4
        next_device_id INTEGER NOT NULL DEFAULT 1
      ) WITHOUT ROWID;

      CREATE TABLE devices (
        user_id         TEXT    NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        device_id       INTEGER NOT NULL,
        identity_key    BLOB    NOT NULL UNIQUE,
        registration_id INTEGER NOT NULL,
        name            TEXT    NOT NULL,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (user_id, device_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'inbox and de-duplication keys',
    sql: `
      -- AUTOINCREMENT, not a plain rowid: a plain rowid hands out max+1 again
      -- after the newest rows are acked (deleted), so a new entry could get the
      -- id a client already holds as its cursor and be skipped. A rowid table
      -- (not WITHOUT ROWID) because payloads reach 64 KiB and more.
      CREATE TABLE inbox_entries (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient_user    TEXT    NOT NULL,
        recipient_device  INTEGER NOT NULL,
        sender_user       TEXT    NOT NULL,
        sender_device     INTEGER NOT NULL,
        client_message_id TEXT    NOT NULL,
        kind              TEXT    NOT NULL CHECK (kind IN ('message', 'receipt', 'server')),
        server_ts         INTEGER NOT NULL,
        payload           BLOB    NOT NULL
      );
      CREATE INDEX inbox_entries_by_device ON inbox_entries (recipient_user, recipient_device, id);
      CREATE INDEX inbox_entries_by_time ON inbox_entries (server_ts);

      -- result: JSON [[userId, deviceId, id], ...] in the original batch order
      CREATE TABLE inbox_dedup (
        sender_user       TEXT    NOT NULL,
        sender_device     INTEGER NOT NULL,
        client_message_id TEXT    NOT NULL,
        server_ts         INTEGER NOT NULL,
        result            TEXT    NOT NULL,
        PRIMARY KEY (sender_user, sender_device, client_message_id)
      ) WITHOUT ROWID;
      CREATE INDEX inbox_dedup_by_time ON inbox_dedup (server_ts);
    `,
  },
  {
    version: 3,
    name: 'signal pre-keys',
    sql: `
      -- Signed EC pre-keys (kind 'ec') and Kyber last-resort keys (kind 'kyber').
      -- replaced_at NULL marks the current key (at most one per device and kind);
      -- replaced ones stay for the grace period. Rowid tables: Kyber keys are 1,569 bytes.
      CREATE TABLE prekey_signed (
        user_id     TEXT    NOT NULL,
        device_id   INTEGER NOT NULL,
        kind        TEXT    NOT NULL CHECK (kind IN ('ec', 'kyber')),
        key_id      INTEGER NOT NULL,
        public_key  BLOB    NOT NULL,
        signature   BLOB    NOT NULL,
        replaced_at INTEGER
      );
      CREATE UNIQUE INDEX prekey_signed_by_id ON prekey_signed (user_id, device_id, kind, key_id);
      CREATE UNIQUE INDEX prekey_signed_current ON prekey_signed (user_id, device_id, kind) WHERE replaced_at IS NULL;
      CREATE INDEX prekey_signed_by_replaced ON prekey_signed (replaced_at) WHERE replaced_at IS NOT NULL;

      -- One-time keys, deleted when handed out: EC (signature NULL) and Kyber (signed).
      CREATE TABLE prekey_one_time (
        user_id    TEXT    NOT NULL,
        device_id  INTEGER NOT NULL,
        kind       TEXT    NOT NULL CHECK (kind IN ('ec', 'kyber')),
        key_id     INTEGER NOT NULL,
        public_key BLOB    NOT NULL,
        signature  BLOB
      );
      CREATE UNIQUE INDEX prekey_one_time_by_id ON prekey_one_time (user_id, device_id, kind, key_id);
    `,
  },
];

/**
 * Brings `db` to the newest version of `migrations`. Returns the versions applied now.
 * @throws StoreError PARLEY_ERR_STORE_SCHEMA on an unknown (newer) version or a failing migration.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[], now: number): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
  );
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...applied].filter((v) => !known.has(v));
  if (unknown.length > 0) {
    throw new StoreError('PARLEY_ERR_STORE_SCHEMA', `database has schema versions unknown to this code: ${unknown.join(', ')}`, {
      details: { unknown, known: [...known] },
    });
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const done: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        record.run(m.version, m.name, now);
      }).immediate();
    } catch (cause) {
      throw new StoreError('PARLEY_ERR_STORE_SCHEMA', `migration ${m.version} (${m.name}) failed`, { cause, details: { version: m.version } });
    }
    done.push(m.version);
  }
  return done;
}
