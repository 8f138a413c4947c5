/**
 * PreKeyStore on PostgreSQL (tables `prekey_signed`, `prekey_one_time`,
 * migration 2), over a `pg.Pool`.
 *
 * Atomic take: in one transaction, per kind,
 *   DELETE … WHERE (pk) = (SELECT pk … ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING …
 * Concurrent takes lock different rows (SKIP LOCKED) instead of queueing on
 * the same one, and a row handed out is deleted in the same transaction:
 * two takes never return the same key, and a take either removes both keys
 * it returns or, rolled back, neither ("no half-consumed pre-key"). A take
 * whose COMMIT landed but whose reply was lost with the connection is not
 * retried blindly here: the keys are gone, a retry takes the next ones.
 */
import type pg from 'pg';
import {
  DEFAULT_PREKEY_RETENTION, checkPreKeyUploadSet,
  type PreKeyCounts, type PreKeyRetention, type PreKeyStore, type PreKeyUploadSet, type SignedKeyHistory,
  type StoredPreKey, type StoredSignedPreKey, type TakenBundleKeys,
} from '../prekeys.ts';
import type { DeviceAddress } from '../types.ts';
import { checkDeviceAddress, checkTimestamp } from '../validate.ts';
import { quoteSchema } from './migrations.ts';
import { runOnPool, transaction } from './pool-runner.ts';

type Kind = 'ec' | 'kyber';

interface KeyRow {
  key_id: string;
  public_key: Buffer;
  signature: Buffer | null;
}

function toSigned(r: KeyRow): StoredSignedPreKey {
  return { id: Number(r.key_id), publicKey: r.public_key, signature: r.signature ?? new Uint8Array(0) };
}

export class PostgresPreKeyStore implements PreKeyStore {
  private readonly sql: Record<'retire' | 'upsertSigned' | 'upsertOneTime' | 'take' | 'current' | 'history' | 'counts' | 'deleteSigned' | 'deleteOneTime' | 'purge', string>;
  private readonly retention: PreKeyRetention;
  private closed = false;

  constructor(private readonly pool: pg.Pool, schema = 'parley', retention: Partial<PreKeyRetention> = {}) {
    const s = quoteSchema(schema);
    this.retention = { ...DEFAULT_PREKEY_RETENTION, ...retention };
    this.sql = {
      retire: `UPDATE ${s}.prekey_signed SET replaced_at = $1
               WHERE user_id = $2 AND device_id = $3 AND kind = $4 AND replaced_at IS NULL AND key_id <> $5`,
      upsertSigned: `INSERT INTO ${s}.prekey_signed (user_id, device_id, kind, key_id, public_key, signature, replaced_at)
                     VALUES ($1, $2, $3, $4, $5, $6, NULL)
                     ON CONFLICT (user_id, device_id, kind, key_id)
                     DO UPDATE SET public_key = EXCLUDED.public_key, signature = EXCLUDED.signature, replaced_at = NULL`,
      upsertOneTime: `INSERT INTO ${s}.prekey_one_time (user_id, device_id, kind, key_id, public_key, signature)
                      SELECT $1, $2, $3, k.id, k.pk, k.sig FROM unnest($4::bigint[], $5::bytea[], $6::bytea[]) AS k(id, pk, sig)
                      ON CONFLICT (user_id, device_id, kind, key_id) DO UPDATE SET public_key = EXCLUDED.public_key, signature = EXCLUDED.signature`,
      take: `DELETE FROM ${s}.prekey_one_time WHERE (user_id, device_id, kind, key_id) = (
               SELECT user_id, device_id, kind, key_id FROM ${s}.prekey_one_time
               WHERE user_id = $1 AND device_id = $2 AND kind = $3 ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED
             ) RETURNING key_id, public_key, signature`,
      current: `SELECT key_id, public_key, signature FROM ${s}.prekey_signed
                WHERE user_id = $1 AND device_id = $2 AND kind = $3 AND replaced_at IS NULL`,
      history: `SELECT key_id, public_key, signature, replaced_at FROM ${s}.prekey_signed
                WHERE user_id = $1 AND device_id = $2 AND kind = $3 AND (replaced_at IS NULL OR replaced_at > $4)
                ORDER BY replaced_at IS NOT NULL, replaced_at DESC`,
      counts: `SELECT kind, COUNT(*)::int AS n FROM ${s}.prekey_one_time WHERE user_id = $1 AND device_id = $2 GROUP BY kind`,
      deleteSigned: `DELETE FROM ${s}.prekey_signed WHERE user_id = $1 AND device_id = $2`,
      deleteOneTime: `DELETE FROM ${s}.prekey_one_time WHERE user_id = $1 AND device_id = $2`,
      purge: `DELETE FROM ${s}.prekey_signed WHERE replaced_at IS NOT NULL AND replaced_at <= $1`,
    };
  }

  /** Marks the store closed: later calls reject PARLEY_ERR_STORE_UNAVAILABLE. */
  markClosed(): void {
    this.closed = true;
  }

  async upload(device: DeviceAddress, keys: PreKeyUploadSet, now: number): Promise<void> {
    checkDeviceAddress('device', device);
    checkPreKeyUploadSet(keys);
    checkTimestamp('now', now);
    const { userId, deviceId } = device;
    // Idempotent as a whole (upserts, retire of "any other current id"): safe to retry on a lost connection.
    await runOnPool(this.pool, () => this.closed, 'prekeys.upload', true, (c) => transaction(c, async () => {
      const replace = async (kind: Kind, k: StoredSignedPreKey) => {
        await c.query(this.sql.retire, [now, userId, deviceId, kind, k.id]);
        await c.query(this.sql.upsertSigned, [userId, deviceId, kind, k.id, k.publicKey, k.signature]);
      };
      if (keys.signedPreKey !== null) await replace('ec', keys.signedPreKey);
      if (keys.kyberLastResort !== null) await replace('kyber', keys.kyberLastResort);
      const oneTime = async (kind: Kind, list: readonly StoredPreKey[]) => {
        if (list.length === 0) return;
        await c.query(this.sql.upsertOneTime, [userId, deviceId, kind,
          list.map((k) => k.id), list.map((k) => Buffer.from(k.publicKey)),
          list.map((k) => ('signature' in k ? Buffer.from((k as StoredSignedPreKey).signature) : null))]);
      };
      await oneTime('ec', keys.oneTimePreKeys);
      await oneTime('kyber', keys.oneTimeKyberPreKeys);
    }));
  }

  async takeBundleKeys(device: DeviceAddress): Promise<TakenBundleKeys | undefined> {
    checkDeviceAddress('device', device);
    const { userId, deviceId } = device;
    // Not retried after a lost connection: the take may have committed (see the header).
    return runOnPool(this.pool, () => this.closed, 'prekeys.take', false, (c) => transaction(c, async () => {
      const signed = (await c.query<KeyRow>(this.sql.current, [userId, deviceId, 'ec'])).rows[0];
      const lastResort = (await c.query<KeyRow>(this.sql.current, [userId, deviceId, 'kyber'])).rows[0];
      if (signed === undefined || lastResort === undefined) return undefined;
      const ec = (await c.query<KeyRow>(this.sql.take, [userId, deviceId, 'ec'])).rows[0];
      const kyber = (await c.query<KeyRow>(this.sql.take, [userId, deviceId, 'kyber'])).rows[0];
      const remaining = await this.countsOn(c, userId, deviceId);
      return {
        signedPreKey: toSigned(signed),
        oneTimePreKey: ec === undefined ? null : { id: Number(ec.key_id), publicKey: ec.public_key },
        kyberPreKey: toSigned(kyber ?? lastResort),
        kyberLastResort: kyber === undefined,
        remaining,
      };
    }));
  }

  async counts(device: DeviceAddress): Promise<PreKeyCounts> {
    checkDeviceAddress('device', device);
    return runOnPool(this.pool, () => this.closed, 'prekeys.counts', true, (c) => this.countsOn(c, device.userId, device.deviceId));
  }

  signedPreKeys(device: DeviceAddress, now: number): Promise<SignedKeyHistory> {
    return this.history(device, 'ec', now);
  }

  lastResortKeys(device: DeviceAddress, now: number): Promise<SignedKeyHistory> {
    return this.history(device, 'kyber', now);
  }

  async removeDevice(device: DeviceAddress): Promise<void> {
    checkDeviceAddress('device', device);
    await runOnPool(this.pool, () => this.closed, 'prekeys.removeDevice', true, (c) => transaction(c, async () => {
      await c.query(this.sql.deleteSigned, [device.userId, device.deviceId]);
      await c.query(this.sql.deleteOneTime, [device.userId, device.deviceId]);
    }));
  }

  async purgeExpired(now: number): Promise<number> {
    checkTimestamp('now', now);
    const res = await runOnPool(this.pool, () => this.closed, 'prekeys.purgeExpired', true, (c) => c.query(this.sql.purge, [now - this.retention.graceMs]));
    return res.rowCount ?? 0;
  }

  private async countsOn(c: pg.PoolClient, userId: string, deviceId: number): Promise<PreKeyCounts> {
    let ec = 0;
    let kyber = 0;
    for (const r of (await c.query<{ kind: Kind; n: number }>(this.sql.counts, [userId, deviceId])).rows) {
      if (r.kind === 'ec') ec = r.n;
      else kyber = r.n;
    }
    return { ec, kyber };
  }

  private async history(device: DeviceAddress, kind: Kind, now: number): Promise<SignedKeyHistory> {
    checkDeviceAddress('device', device);
    checkTimestamp('now', now);
    const rows = (await runOnPool(this.pool, () => this.closed, 'prekeys.history', true, (c) =>
      c.query<KeyRow & { replaced_at: string | null }>(this.sql.history, [device.userId, device.deviceId, kind, now - this.retention.graceMs]))).rows;
    const current = rows.find((r) => r.replaced_at === null);
    return {
      current: current === undefined ? undefined : toSigned(current),
      previous: rows.filter((r) => r.replaced_at !== null).map(toSigned),
    };
  }
}

