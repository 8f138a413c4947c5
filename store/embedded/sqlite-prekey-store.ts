/**
 * PreKeyStore on the embedded SQLite database (tables `prekey_signed`,
 * `prekey_one_time`, migration 3).
 *
 * Atomicity of a take: one `DELETE … WHERE rowid = (SELECT … LIMIT 1)
 * RETURNING …` per kind, both inside one IMMEDIATE transaction (the write
 * lock is taken before the first read; inside the write queue's group the
 * take is a SAVEPOINT, all or nothing). better-sqlite3 runs it synchronously,
 * so nothing in this process interleaves, and another process waits on the
 * lock: two takes can never return the same one-time key. Writes go through
 * the group-commit queue (write-queue.ts): takes and uploads of one
 * event-loop turn share one commit and one fsync, and a take's promise
 * resolves only once its delete is durable, so a key handed out is never
 * handed out again after a crash.
 * (PostgreSQL will use `DELETE … WHERE ctid = (SELECT … FOR UPDATE SKIP LOCKED
 * LIMIT 1) RETURNING …` for the same effect.)
 */
import type Database from 'better-sqlite3';
import {
  DEFAULT_PREKEY_RETENTION, checkPreKeyUploadSet,
  type PreKeyCounts, type PreKeyRetention, type PreKeyStore, type PreKeyUploadSet, type SignedKeyHistory,
  type StoredPreKey, type StoredSignedPreKey, type TakenBundleKeys,
} from '../prekeys.ts';
import type { DeviceAddress } from '../types.ts';
import { checkDeviceAddress, checkTimestamp } from '../validate.ts';
import { translateSqliteError } from './sqlite-errors.ts';
import { SqliteWriteQueue } from './write-queue.ts';

type Kind = 'ec' | 'kyber';

interface KeyRow {
  key_id: number;
  public_key: Buffer;
  signature: Buffer | null;
}

function toSigned(r: KeyRow): StoredSignedPreKey {
  return { id: r.key_id, publicKey: r.public_key, signature: r.signature ?? new Uint8Array(0) };
}

export class SqlitePreKeyStore implements PreKeyStore {
  private readonly db: Database.Database;
  private readonly retention: PreKeyRetention;
  private readonly writes: SqliteWriteQueue;
  private readonly stmt: {
    retire: Database.Statement<[number, string, number, Kind, number]>;
    upsertSigned: Database.Statement<[string, number, Kind, number, Uint8Array, Uint8Array]>;
    upsertOneTime: Database.Statement<[string, number, Kind, number, Uint8Array, Uint8Array | null]>;
    takeOneTime: Database.Statement<[string, number, Kind], KeyRow>;
    current: Database.Statement<[string, number, Kind], KeyRow>;
    history: Database.Statement<[string, number, Kind, number], KeyRow & { replaced_at: number | null }>;
    counts: Database.Statement<[string, number], { kind: Kind; n: number }>;
    deleteSigned: Database.Statement<[string, number]>;
    deleteOneTime: Database.Statement<[string, number]>;
    purge: Database.Statement<[number]>;
  };

  constructor(db: Database.Database, retention: Partial<PreKeyRetention> = {}) {
    this.db = db;
    this.retention = { ...DEFAULT_PREKEY_RETENTION, ...retention };
    this.writes = new SqliteWriteQueue(db, (err) => translateSqliteError(err, db, 'prekeys'));
    this.stmt = {
      // the current key of that kind becomes "previous", unless it is the very id being uploaded again
      retire: db.prepare(
        `UPDATE prekey_signed SET replaced_at = ?
         WHERE user_id = ? AND device_id = ? AND kind = ? AND replaced_at IS NULL AND key_id <> ?`,
      ),
      upsertSigned: db.prepare(
        `INSERT INTO prekey_signed (user_id, device_id, kind, key_id, public_key, signature, replaced_at)
         VALUES (?, ?, ?, ?, ?, ?, NULL)
         ON CONFLICT (user_id, device_id, kind, key_id)
         DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature, replaced_at = NULL`,
      ),
      upsertOneTime: db.prepare(
        `INSERT INTO prekey_one_time (user_id, device_id, kind, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, device_id, kind, key_id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature`,
      ),
      takeOneTime: db.prepare(
        `DELETE FROM prekey_one_time WHERE rowid = (
           SELECT rowid FROM prekey_one_time WHERE user_id = ? AND device_id = ? AND kind = ? ORDER BY key_id LIMIT 1
         ) RETURNING key_id, public_key, signature`,
      ),
      current: db.prepare(
        'SELECT key_id, public_key, signature FROM prekey_signed WHERE user_id = ? AND device_id = ? AND kind = ? AND replaced_at IS NULL',
      ),
      history: db.prepare(
        `SELECT key_id, public_key, signature, replaced_at FROM prekey_signed
         WHERE user_id = ? AND device_id = ? AND kind = ? AND (replaced_at IS NULL OR replaced_at > ?)
         ORDER BY replaced_at IS NOT NULL, replaced_at DESC`,
      ),
      counts: db.prepare('SELECT kind, COUNT(*) AS n FROM prekey_one_time WHERE user_id = ? AND device_id = ? GROUP BY kind'),
      deleteSigned: db.prepare('DELETE FROM prekey_signed WHERE user_id = ? AND device_id = ?'),
      deleteOneTime: db.prepare('DELETE FROM prekey_one_time WHERE user_id = ? AND device_id = ?'),
      purge: db.prepare('DELETE FROM prekey_signed WHERE replaced_at IS NOT NULL AND replaced_at <= ?'),
    };
  }

  async upload(device: DeviceAddress, keys: PreKeyUploadSet, now: number): Promise<void> {
    checkDeviceAddress('device', device);
    checkPreKeyUploadSet(keys);
    checkTimestamp('now', now);
    const { userId, deviceId } = device;
    // a transaction function: a SAVEPOINT inside the queue's group, so the upload is all or nothing
    await this.writes.enqueue(() => this.db.transaction(() => {
      const s = this.stmt;
      const replace = (kind: Kind, k: StoredSignedPreKey) => {
        s.retire.run(now, userId, deviceId, kind, k.id);
        s.upsertSigned.run(userId, deviceId, kind, k.id, k.publicKey, k.signature);
      };
      if (keys.signedPreKey !== null) replace('ec', keys.signedPreKey);
      if (keys.kyberLastResort !== null) replace('kyber', keys.kyberLastResort);
      for (const k of keys.oneTimePreKeys) s.upsertOneTime.run(userId, deviceId, 'ec', k.id, k.publicKey, null);
      for (const k of keys.oneTimeKyberPreKeys) s.upsertOneTime.run(userId, deviceId, 'kyber', k.id, k.publicKey, k.signature);
    })());
  }

  async takeBundleKeys(device: DeviceAddress): Promise<TakenBundleKeys | undefined> {
    checkDeviceAddress('device', device);
    const { userId, deviceId } = device;
    return this.writes.enqueue(() => this.db.transaction((): TakenBundleKeys | undefined => {
      const s = this.stmt;
      const signed = s.current.get(userId, deviceId, 'ec');
      const lastResort = s.current.get(userId, deviceId, 'kyber');
      if (signed === undefined || lastResort === undefined) return undefined;
      const ec = s.takeOneTime.get(userId, deviceId, 'ec');
      const kyber = s.takeOneTime.get(userId, deviceId, 'kyber');
      const remaining = this.countsNow(userId, deviceId);
      const oneTimePreKey: StoredPreKey | null = ec === undefined ? null : { id: ec.key_id, publicKey: ec.public_key };
      return {
        signedPreKey: toSigned(signed),
        oneTimePreKey,
        kyberPreKey: toSigned(kyber ?? lastResort),
        kyberLastResort: kyber === undefined,
        remaining,
      };
    })());
  }

  async counts(device: DeviceAddress): Promise<PreKeyCounts> {
    checkDeviceAddress('device', device);
    try {
      return this.countsNow(device.userId, device.deviceId);
    } catch (err) {
      throw translateSqliteError(err, this.db, 'prekeys.counts');
    }
  }

  async signedPreKeys(device: DeviceAddress, now: number): Promise<SignedKeyHistory> {
    return this.history(device, 'ec', now);
  }

  async lastResortKeys(device: DeviceAddress, now: number): Promise<SignedKeyHistory> {
    return this.history(device, 'kyber', now);
  }

  async removeDevice(device: DeviceAddress): Promise<void> {
    checkDeviceAddress('device', device);
    await this.writes.enqueue(() => this.db.transaction(() => {
      this.stmt.deleteSigned.run(device.userId, device.deviceId);
      this.stmt.deleteOneTime.run(device.userId, device.deviceId);
    })());
  }

  async purgeExpired(now: number): Promise<number> {
    checkTimestamp('now', now);
    return this.writes.enqueue(() => this.stmt.purge.run(now - this.retention.graceMs).changes);
  }

  private countsNow(userId: string, deviceId: number): PreKeyCounts {
    let ec = 0;
    let kyber = 0;
    for (const r of this.stmt.counts.all(userId, deviceId)) {
      if (r.kind === 'ec') ec = r.n;
      else kyber = r.n;
    }
    return { ec, kyber };
  }

  private history(device: DeviceAddress, kind: Kind, now: number): SignedKeyHistory {
    checkDeviceAddress('device', device);
    checkTimestamp('now', now);
    let rows: (KeyRow & { replaced_at: number | null })[];
    try {
      rows = this.stmt.history.all(device.userId, device.deviceId, kind, now - this.retention.graceMs);
    } catch (err) {
      throw translateSqliteError(err, this.db, 'prekeys.history');
    }
    const current = rows.find((r) => r.replaced_at === null);
    return {
      current: current === undefined ? undefined : toSigned(current),
      previous: rows.filter((r) => r.replaced_at !== null).map(toSigned),
    };
  }
}
