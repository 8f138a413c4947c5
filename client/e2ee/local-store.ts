/**
 * The device's local key and session database: one SQLite file per device
 * (better-sqlite3@12), so a restarted client keeps its identity, its pre-key
 * private halves and its Signal sessions. Everything libsignal persists is
 * stored as libsignal's own serialized records; this file only files them.
 *
 * Tables:
 * - `meta(key, value)`: identity key pair, registration id, user/device id,
 *   key id counters, current signed/last-resort ids.
 * - `identities(user_id, device_id, public_key, verified, pending_key)`: peers' identity keys.
 * - `sessions(user_id, device_id, record)`: libsignal SessionRecords.
 * - `prekeys`, `signed_prekeys`, `kyber_prekeys(…, last_resort)`, `kyber_used`.
 * - `sender_keys(user_id, device_id, distribution_id, record)`.
 * - `pending(sender, device, message_id, content)`: decrypted, not yet acked by the app
 *   (a redelivery after a crash finds its plaintext here, since libsignal refuses to
 *   decrypt the same ciphertext twice).
 *
 * Durability: WAL with synchronous=FULL — losing a session update would make
 * the next message from that peer undecryptable.
 */
import Database from 'better-sqlite3';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS identities (
    user_id TEXT NOT NULL, device_id INTEGER NOT NULL, public_key BLOB NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0, pending_key BLOB, first_seen INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id)
  );
  CREATE TABLE IF NOT EXISTS sessions (
    user_id TEXT NOT NULL, device_id INTEGER NOT NULL, record BLOB NOT NULL,
    PRIMARY KEY (user_id, device_id)
  );
  CREATE TABLE IF NOT EXISTS prekeys (id INTEGER PRIMARY KEY, record BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS signed_prekeys (id INTEGER PRIMARY KEY, record BLOB NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS kyber_prekeys (
    id INTEGER PRIMARY KEY, record BLOB NOT NULL, last_resort INTEGER NOT NULL, created_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS kyber_used (
    kyber_id INTEGER NOT NULL, signed_id INTEGER NOT NULL, base_key BLOB NOT NULL,
    PRIMARY KEY (kyber_id, signed_id, base_key)
  );
  CREATE TABLE IF NOT EXISTS sender_keys (
    user_id TEXT NOT NULL, device_id INTEGER NOT NULL, distribution_id TEXT NOT NULL, record BLOB NOT NULL,
    PRIMARY KEY (user_id, device_id, distribution_id)
  );
  CREATE TABLE IF NOT EXISTS pending (
    sender TEXT NOT NULL, device_id INTEGER NOT NULL, message_id TEXT NOT NULL, content BLOB NOT NULL,
    PRIMARY KEY (sender, device_id, message_id)
  );
`;

/** A peer's identity as stored. */
export interface StoredIdentity {
  readonly userId: string;
  readonly deviceId: number;
  readonly publicKey: Uint8Array<ArrayBuffer>;
  readonly verified: boolean;
  /** A changed key waiting for `trustIdentity` (only when the old one was verified). */
  readonly pendingKey: Uint8Array<ArrayBuffer> | null;
}

interface IdentityRow { user_id: string; device_id: number; public_key: Buffer; verified: number; pending_key: Buffer | null }

const copy = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

function toIdentity(r: IdentityRow): StoredIdentity {
  return {
    userId: r.user_id, deviceId: r.device_id, publicKey: copy(r.public_key), verified: r.verified === 1,
    pendingKey: r.pending_key === null ? null : copy(r.pending_key),
  };
}

/** The local database of one device. All calls are synchronous (better-sqlite3); callers wrap them in Promises. */
export class LocalStore {
  readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // meta -------------------------------------------------------------------

  getMeta(key: string): Uint8Array<ArrayBuffer> | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: Buffer } | undefined;
    return row === undefined ? undefined : copy(row.value);
  }

  setMeta(key: string, value: Uint8Array): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  getNumber(key: string): number | undefined {
    const v = this.getMeta(key);
    return v === undefined ? undefined : Number(new TextDecoder().decode(v));
  }

  setNumber(key: string, value: number): void {
    this.setMeta(key, new TextEncoder().encode(String(value)));
  }

  getText(key: string): string | undefined {
    const v = this.getMeta(key);
    return v === undefined ? undefined : new TextDecoder().decode(v);
  }

  setText(key: string, value: string): void {
    this.setMeta(key, new TextEncoder().encode(value));
  }

  /** Next id of a counter (1.. then wraps within 1..2^24-1, as Signal's key ids do). */
  nextId(counter: string): number {
    return this.db.transaction(() => {
      const id = this.getNumber(counter) ?? 1 + Math.floor(Math.random() * 0xffff);
      this.setNumber(counter, id >= 0xffffff ? 1 : id + 1);
      return id;
    }).immediate();
  }

  // identities -------------------------------------------------------------

  identity(userId: string, deviceId: number): StoredIdentity | undefined {
    const row = this.db.prepare('SELECT * FROM identities WHERE user_id = ? AND device_id = ?').get(userId, deviceId) as IdentityRow | undefined;
    return row === undefined ? undefined : toIdentity(row);
  }

  identitiesOf(userId: string): StoredIdentity[] {
    return (this.db.prepare('SELECT * FROM identities WHERE user_id = ? ORDER BY device_id').all(userId) as IdentityRow[]).map(toIdentity);
  }

  /** Stores `publicKey` as the trusted key of the device (verification and any pending key reset). */
  putIdentity(userId: string, deviceId: number, publicKey: Uint8Array, now: number): void {
    this.db.prepare(
      `INSERT INTO identities (user_id, device_id, public_key, verified, pending_key, first_seen) VALUES (?, ?, ?, 0, NULL, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE SET public_key = excluded.public_key, verified = 0, pending_key = NULL`,
    ).run(userId, deviceId, publicKey, now);
  }

  setPendingIdentity(userId: string, deviceId: number, key: Uint8Array | null): void {
    this.db.prepare('UPDATE identities SET pending_key = ? WHERE user_id = ? AND device_id = ?').run(key, userId, deviceId);
  }

  setVerified(userId: string, verified: boolean): void {
    this.db.prepare('UPDATE identities SET verified = ? WHERE user_id = ?').run(verified ? 1 : 0, userId);
  }

  removeIdentity(userId: string, deviceId: number): void {
    this.db.prepare('DELETE FROM identities WHERE user_id = ? AND device_id = ?').run(userId, deviceId);
  }

  // sessions ---------------------------------------------------------------

  session(userId: string, deviceId: number): Uint8Array<ArrayBuffer> | undefined {
    const row = this.db.prepare('SELECT record FROM sessions WHERE user_id = ? AND device_id = ?').get(userId, deviceId) as { record: Buffer } | undefined;
    return row === undefined ? undefined : copy(row.record);
  }

  putSession(userId: string, deviceId: number, record: Uint8Array): void {
    this.db.prepare(
      'INSERT INTO sessions (user_id, device_id, record) VALUES (?, ?, ?) ON CONFLICT (user_id, device_id) DO UPDATE SET record = excluded.record',
    ).run(userId, deviceId, record);
  }

  sessionDevices(userId: string): number[] {
    return (this.db.prepare('SELECT device_id FROM sessions WHERE user_id = ? ORDER BY device_id').all(userId) as { device_id: number }[]).map((r) => r.device_id);
  }

  removeSession(userId: string, deviceId: number): void {
    this.db.prepare('DELETE FROM sessions WHERE user_id = ? AND device_id = ?').run(userId, deviceId);
  }

  // pre-keys ---------------------------------------------------------------

  preKey(table: 'prekeys' | 'signed_prekeys' | 'kyber_prekeys', id: number): Uint8Array<ArrayBuffer> | undefined {
    const row = this.db.prepare(`SELECT record FROM ${table} WHERE id = ?`).get(id) as { record: Buffer } | undefined;
    return row === undefined ? undefined : copy(row.record);
  }

  putPreKey(id: number, record: Uint8Array): void {
    this.db.prepare('INSERT OR REPLACE INTO prekeys (id, record) VALUES (?, ?)').run(id, record);
  }

  putSignedPreKey(id: number, record: Uint8Array, now: number): void {
    this.db.prepare('INSERT OR REPLACE INTO signed_prekeys (id, record, created_at) VALUES (?, ?, ?)').run(id, record, now);
  }

  putKyberPreKey(id: number, record: Uint8Array, lastResort: boolean, now: number): void {
    this.db.prepare('INSERT OR REPLACE INTO kyber_prekeys (id, record, last_resort, created_at) VALUES (?, ?, ?, ?)').run(id, record, lastResort ? 1 : 0, now);
  }

  removePreKey(table: 'prekeys' | 'signed_prekeys' | 'kyber_prekeys', id: number): void {
    this.db.prepare(`DELETE FROM ${table} WHERE id = ?`).run(id);
  }

  isLastResortKyber(id: number): boolean {
    const row = this.db.prepare('SELECT last_resort FROM kyber_prekeys WHERE id = ?').get(id) as { last_resort: number } | undefined;
    return row?.last_resort === 1;
  }

  /** Records a use of a last-resort Kyber key; false when this exact (key, signed key, base key) was used before (a replay). */
  recordKyberUse(kyberId: number, signedId: number, baseKey: Uint8Array): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO kyber_used (kyber_id, signed_id, base_key) VALUES (?, ?, ?)').run(kyberId, signedId, baseKey).changes === 1;
  }

  /** Deletes signed / last-resort keys (other than `keep`) created before `before`; returns how many. */
  purgeOldSigned(before: number, keepSigned: number, keepKyber: number): number {
    const a = this.db.prepare('DELETE FROM signed_prekeys WHERE created_at < ? AND id <> ?').run(before, keepSigned).changes;
    const b = this.db.prepare('DELETE FROM kyber_prekeys WHERE last_resort = 1 AND created_at < ? AND id <> ?').run(before, keepKyber).changes;
    return a + b;
  }

  count(table: 'prekeys' | 'signed_prekeys' | 'kyber_prekeys'): number {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  }

  // sender keys ------------------------------------------------------------

  senderKey(userId: string, deviceId: number, distributionId: string): Uint8Array<ArrayBuffer> | undefined {
    const row = this.db.prepare('SELECT record FROM sender_keys WHERE user_id = ? AND device_id = ? AND distribution_id = ?')
      .get(userId, deviceId, distributionId) as { record: Buffer } | undefined;
    return row === undefined ? undefined : copy(row.record);
  }

  putSenderKey(userId: string, deviceId: number, distributionId: string, record: Uint8Array): void {
    this.db.prepare('INSERT OR REPLACE INTO sender_keys (user_id, device_id, distribution_id, record) VALUES (?, ?, ?, ?)')
      .run(userId, deviceId, distributionId, record);
  }

  // pending plaintexts -----------------------------------------------------

  pending(sender: string, deviceId: number, messageId: string): Uint8Array<ArrayBuffer> | undefined {
    const row = this.db.prepare('SELECT content FROM pending WHERE sender = ? AND device_id = ? AND message_id = ?').get(sender, deviceId, messageId) as { content: Buffer } | undefined;
    return row === undefined ? undefined : copy(row.content);
  }

  putPending(sender: string, deviceId: number, messageId: string, content: Uint8Array): void {
    this.db.prepare('INSERT OR REPLACE INTO pending (sender, device_id, message_id, content) VALUES (?, ?, ?, ?)').run(sender, deviceId, messageId, content);
  }

  removePending(sender: string, deviceId: number, messageId: string): void {
    this.db.prepare('DELETE FROM pending WHERE sender = ? AND device_id = ? AND message_id = ?').run(sender, deviceId, messageId);
  }
}
