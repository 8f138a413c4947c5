/**
 * AccountStore on the embedded SQLite database (tables `users`, `devices`,
 * migration 1). Statements are prepared once in the constructor.
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import type { Account, AccountStore, AddDeviceResult, Device, DeviceAddress, NewDevice, UserId } from '../types.ts';
import { checkDeviceAddress, checkNewDevice, checkTimestamp, checkUserId } from '../validate.ts';
import { translateSqliteError } from './sqlite-errors.ts';

interface DeviceRow {
  user_id: string;
  device_id: number;
  identity_key: Buffer;
  registration_id: number;
  name: string;
  created_at: number;
}

function toDevice(r: DeviceRow): Device {
  return {
    userId: r.user_id,
    deviceId: r.device_id,
    identityKey: r.identity_key,
    registrationId: r.registration_id,
    name: r.name,
    createdAt: r.created_at,
  };
}

export class SqliteAccountStore implements AccountStore {
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly stmt: {
    insertUser: Database.Statement<[string, number]>;
    getUser: Database.Statement<[string], { user_id: string; created_at: number; last_seen: number | null; next_device_id: number }>;
    bumpDeviceId: Database.Statement<[string]>;
    insertDevice: Database.Statement<[string, number, Uint8Array, number, string, number]>;
    deviceByKey: Database.Statement<[Uint8Array], DeviceRow>;
    getDevice: Database.Statement<[string, number], DeviceRow>;
    listDevices: Database.Statement<[string], DeviceRow>;
    deleteDevice: Database.Statement<[string, number]>;
    setLastSeen: Database.Statement<[number, string]>;
  };
  private readonly addDeviceTx: (userId: UserId, device: NewDevice) => AddDeviceResult;

  constructor(db: Database.Database, now: () => number = Date.now) {
    this.db = db;
    this.now = now;
    this.stmt = {
      insertUser: db.prepare('INSERT INTO users (user_id, created_at) VALUES (?, ?)'),
      getUser: db.prepare('SELECT user_id, created_at, last_seen, next_device_id FROM users WHERE user_id = ?'),
      bumpDeviceId: db.prepare('UPDATE users SET next_device_id = next_device_id + 1 WHERE user_id = ?'),
      insertDevice: db.prepare(
        'INSERT INTO devices (user_id, device_id, identity_key, registration_id, name, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      deviceByKey: db.prepare('SELECT * FROM devices WHERE identity_key = ?'),
      getDevice: db.prepare('SELECT * FROM devices WHERE user_id = ? AND device_id = ?'),
      listDevices: db.prepare('SELECT * FROM devices WHERE user_id = ? ORDER BY device_id'),
      deleteDevice: db.prepare('DELETE FROM devices WHERE user_id = ? AND device_id = ?'),
      // MAX keeps last seen monotonic when two nodes report disconnects out of order
      setLastSeen: db.prepare('UPDATE users SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE user_id = ?'),
    };
    this.addDeviceTx = db.transaction((userId: UserId, device: NewDevice): AddDeviceResult => {
      const user = this.stmt.getUser.get(userId);
      if (!user) throw new StoreError('PARLEY_ERR_STORE_NOT_FOUND', 'no such user', { details: { userId } });
      const holder = this.stmt.deviceByKey.get(device.identityKey);
      if (holder) {
        if (holder.user_id === userId && holder.registration_id === device.registrationId) {
          return { device: toDevice(holder), created: false };
        }
        // details stay server-side: the gateway must not tell a client who holds the key
        throw new StoreError('PARLEY_ERR_STORE_CONFLICT', 'identity key already registered to another device', {
          details: { userId, holder: { userId: holder.user_id, deviceId: holder.device_id } },
        });
      }
      const deviceId = user.next_device_id;
      const createdAt = this.now();
      this.stmt.bumpDeviceId.run(userId);
      this.stmt.insertDevice.run(userId, deviceId, device.identityKey, device.registrationId, device.name, createdAt);
      return {
        device: {
          userId,
          deviceId,
          identityKey: Uint8Array.from(device.identityKey),
          registrationId: device.registrationId,
          name: device.name,
          createdAt,
        },
        created: true,
      };
    }).immediate as (userId: UserId, device: NewDevice) => AddDeviceResult;
  }

  async createAccount(): Promise<Account> {
    const account: Account = { userId: randomUUID(), createdAt: this.now() };
    try {
      this.stmt.insertUser.run(account.userId, account.createdAt);
    } catch (err) {
      throw translateSqliteError(err, this.db, 'createAccount');
    }
    return account;
  }

  async getAccount(userId: UserId): Promise<Account | undefined> {
    checkUserId('userId', userId);
    try {
      const row = this.stmt.getUser.get(userId);
      return row ? { userId: row.user_id, createdAt: row.created_at } : undefined;
    } catch (err) {
      throw translateSqliteError(err, this.db, 'getAccount');
    }
  }

  async addDevice(userId: UserId, device: NewDevice): Promise<AddDeviceResult> {
    checkUserId('userId', userId);
    checkNewDevice(device);
    try {
      return this.addDeviceTx(userId, device);
    } catch (err) {
      throw translateSqliteError(err, this.db, 'addDevice');
    }
  }

  async getDevice(address: DeviceAddress): Promise<Device | undefined> {
    checkDeviceAddress('address', address);
    try {
      const row = this.stmt.getDevice.get(address.userId, address.deviceId);
      return row ? toDevice(row) : undefined;
    } catch (err) {
      throw translateSqliteError(err, this.db, 'getDevice');
    }
  }

  async listDevices(userId: UserId): Promise<Device[]> {
    checkUserId('userId', userId);
    try {
      return this.stmt.listDevices.all(userId).map(toDevice);
    } catch (err) {
      throw translateSqliteError(err, this.db, 'listDevices');
    }
  }

  async removeDevice(address: DeviceAddress): Promise<boolean> {
    checkDeviceAddress('address', address);
    try {
      return this.stmt.deleteDevice.run(address.userId, address.deviceId).changes > 0;
    } catch (err) {
      throw translateSqliteError(err, this.db, 'removeDevice');
    }
  }

  async setLastSeen(userId: UserId, at: number): Promise<void> {
    checkUserId('userId', userId);
    checkTimestamp('at', at);
    let changes: number;
    try {
      changes = this.stmt.setLastSeen.run(at, userId).changes;
    } catch (err) {
      throw translateSqliteError(err, this.db, 'setLastSeen');
    }
    if (changes === 0) throw new StoreError('PARLEY_ERR_STORE_NOT_FOUND', 'no such user', { details: { userId } });
  }

  async getLastSeen(userId: UserId): Promise<number | undefined> {
    checkUserId('userId', userId);
    try {
      return this.stmt.getUser.get(userId)?.last_seen ?? undefined;
    } catch (err) {
      throw translateSqliteError(err, this.db, 'getLastSeen');
    }
  }
}
