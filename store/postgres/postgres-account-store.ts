/**
 * AccountStore on PostgreSQL (tables `users`, `devices` of the store's schema,
 * migration 1), over a `pg.Pool`.
 *
 * - Device ids: `users.next_device_id` is bumped inside the addDevice
 *   transaction under `SELECT … FOR UPDATE` of the user row, so concurrent
 *   registrations of one user get 1, 2, 3 … and an id is never handed out
 *   twice, even after removeDevice. A conflict rolls the bump back.
 * - Identity keys: a UNIQUE index across all devices. The user-row lock
 *   serialises retries of the same user; two users racing for one key meet
 *   at the index (23505) and the loser gets PARLEY_ERR_STORE_CONFLICT.
 * - Last seen: `GREATEST(last_seen, $1)` keeps it monotonic whatever order
 *   nodes report disconnects in.
 *
 * Dropped connections: a statement that fails because its connection died
 * (server restart, pg_terminate_backend, reset socket) is retried on another
 * connection, up to `pool max + 1` times, since after a restart every idle
 * client in the pool may be dead; the dead client is destroyed, not returned
 * to the pool. Every statement here is safe to repeat: reads; GREATEST;
 * `createAccount` inserts a client-generated id with ON CONFLICT DO NOTHING;
 * a repeated `addDevice` whose first COMMIT did land finds its own key and
 * returns `created: false` (the contract's retry rule). The one visible
 * difference: `removeDevice` repeated after a COMMIT that landed returns false.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { StoreError } from '../errors.ts';
import type { Account, AccountStore, AddDeviceResult, Device, DeviceAddress, NewDevice, UserId } from '../types.ts';
import { checkDeviceAddress, checkNewDevice, checkTimestamp, checkUserId } from '../validate.ts';
import { quoteSchema } from './migrations.ts';
import { runOnPool, transaction } from './pool-runner.ts';
import { isUniqueViolation } from './pg-errors.ts';

interface DeviceRow {
  user_id: string;
  device_id: number;
  identity_key: Buffer;
  registration_id: number;
  name: string;
  created_at: string;
}

function toDevice(r: DeviceRow): Device {
  return {
    userId: r.user_id,
    deviceId: r.device_id,
    identityKey: r.identity_key,
    registrationId: r.registration_id,
    name: r.name,
    createdAt: Number(r.created_at),
  };
}

const DEVICE_COLUMNS = 'user_id, device_id, identity_key, registration_id, name, created_at';

export class PostgresAccountStore implements AccountStore {
  private readonly sql: {
    insertUser: string;
    getUser: string;
    lockUser: string;
    bumpDeviceId: string;
    insertDevice: string;
    deviceByKey: string;
    getDevice: string;
    listDevices: string;
    deleteDevice: string;
    setLastSeen: string;
    getLastSeen: string;
  };
  private closed = false;

  /**
   * @param pool   an open pool; the store does not end it (see openPostgresStores)
   * @param schema the migrated schema holding the tables @default 'parley'
   * @param now    clock for created-at times @default Date.now
   */
  constructor(
    private readonly pool: pg.Pool,
    schema = 'parley',
    private readonly now: () => number = Date.now,
  ) {
    const s = quoteSchema(schema);
    this.sql = {
      insertUser: `INSERT INTO ${s}.users (user_id, created_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`,
      getUser: `SELECT user_id, created_at FROM ${s}.users WHERE user_id = $1`,
      lockUser: `SELECT next_device_id FROM ${s}.users WHERE user_id = $1 FOR UPDATE`,
      bumpDeviceId: `UPDATE ${s}.users SET next_device_id = next_device_id + 1 WHERE user_id = $1 RETURNING next_device_id - 1 AS device_id`,
      insertDevice: `INSERT INTO ${s}.devices (${DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`,
      deviceByKey: `SELECT ${DEVICE_COLUMNS} FROM ${s}.devices WHERE identity_key = $1`,
      getDevice: `SELECT ${DEVICE_COLUMNS} FROM ${s}.devices WHERE user_id = $1 AND device_id = $2`,
      listDevices: `SELECT ${DEVICE_COLUMNS} FROM ${s}.devices WHERE user_id = $1 ORDER BY device_id`,
      deleteDevice: `DELETE FROM ${s}.devices WHERE user_id = $1 AND device_id = $2`,
      setLastSeen: `UPDATE ${s}.users SET last_seen = GREATEST(COALESCE(last_seen, 0), $2) WHERE user_id = $1`,
      getLastSeen: `SELECT last_seen FROM ${s}.users WHERE user_id = $1`,
    };
  }

  /** Marks the store closed: later calls reject PARLEY_ERR_STORE_UNAVAILABLE. */
  markClosed(): void {
    this.closed = true;
  }

  async createAccount(): Promise<Account> {
    const account: Account = { userId: randomUUID(), createdAt: this.now() };
    await runOnPool(this.pool, () => this.closed, 'createAccount', true, (c) => c.query(this.sql.insertUser, [account.userId, account.createdAt]));
    return account;
  }

  async getAccount(userId: UserId): Promise<Account | undefined> {
    checkUserId('userId', userId);
    const res = await runOnPool(this.pool, () => this.closed, 'getAccount', true, (c) => c.query<{ user_id: string; created_at: string }>(this.sql.getUser, [userId]));
    const row = res.rows[0];
    return row ? { userId: row.user_id, createdAt: Number(row.created_at) } : undefined;
  }

  async addDevice(userId: UserId, device: NewDevice): Promise<AddDeviceResult> {
    checkUserId('userId', userId);
    checkNewDevice(device);
    return runOnPool(this.pool, () => this.closed, 'addDevice', true, (c) =>
      transaction(c, async () => {
        const user = await c.query(this.sql.lockUser, [userId]);
        if (user.rowCount === 0) throw new StoreError('PARLEY_ERR_STORE_NOT_FOUND', 'no such user', { details: { userId } });
        const holder = (await c.query<DeviceRow>(this.sql.deviceByKey, [device.identityKey])).rows[0];
        if (holder) {
          if (holder.user_id === userId && holder.registration_id === device.registrationId) {
            return { device: toDevice(holder), created: false };
          }
          throw keyConflict(userId, holder);
        }
        const deviceId = (await c.query<{ device_id: number }>(this.sql.bumpDeviceId, [userId])).rows[0]!.device_id;
        const createdAt = this.now();
        try {
          await c.query(this.sql.insertDevice, [userId, deviceId, device.identityKey, device.registrationId, device.name, createdAt]);
        } catch (err) {
          // another user registered the key between our check and insert
          if (isUniqueViolation(err, 'devices_identity_key_unique')) throw keyConflict(userId, undefined);
          throw err;
        }
        return {
          device: { userId, deviceId, identityKey: Uint8Array.from(device.identityKey), registrationId: device.registrationId, name: device.name, createdAt },
          created: true,
        };
      }),
    );
  }

  async getDevice(address: DeviceAddress): Promise<Device | undefined> {
    checkDeviceAddress('address', address);
    const res = await runOnPool(this.pool, () => this.closed, 'getDevice', true, (c) => c.query<DeviceRow>(this.sql.getDevice, [address.userId, address.deviceId]));
    return res.rows[0] ? toDevice(res.rows[0]) : undefined;
  }

  async listDevices(userId: UserId): Promise<Device[]> {
    checkUserId('userId', userId);
    const res = await runOnPool(this.pool, () => this.closed, 'listDevices', true, (c) => c.query<DeviceRow>(this.sql.listDevices, [userId]));
    return res.rows.map(toDevice);
  }

  async removeDevice(address: DeviceAddress): Promise<boolean> {
    checkDeviceAddress('address', address);
    const res = await runOnPool(this.pool, () => this.closed, 'removeDevice', true, (c) => c.query(this.sql.deleteDevice, [address.userId, address.deviceId]));
    return (res.rowCount ?? 0) > 0;
  }

  async setLastSeen(userId: UserId, at: number): Promise<void> {
    checkUserId('userId', userId);
    checkTimestamp('at', at);
    const res = await runOnPool(this.pool, () => this.closed, 'setLastSeen', true, (c) => c.query(this.sql.setLastSeen, [userId, at]));
    if (res.rowCount === 0) throw new StoreError('PARLEY_ERR_STORE_NOT_FOUND', 'no such user', { details: { userId } });
  }

  async getLastSeen(userId: UserId): Promise<number | undefined> {
    checkUserId('userId', userId);
    const res = await runOnPool(this.pool, () => this.closed, 'getLastSeen', true, (c) => c.query<{ last_seen: string | null }>(this.sql.getLastSeen, [userId]));
    const v = res.rows[0]?.last_seen;
    return v === undefined || v === null ? undefined : Number(v);
  }
}


function keyConflict(userId: string, holder: DeviceRow | undefined): StoreError {
  // details stay server-side: the gateway must not tell a client who holds the key
  return new StoreError('PARLEY_ERR_STORE_CONFLICT', 'identity key already registered to another device', {
    details: { userId, ...(holder ? { holder: { userId: holder.user_id, deviceId: holder.device_id } } : {}) },
  });
}
