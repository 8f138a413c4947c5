/**
 * The AccountStore contract, run unchanged against every adapter (SQLite now,
 * PostgreSQL later). Each test opens a fresh store through `open` and closes it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AccountStore, NewDevice } from '../../../store/types.ts';
import { assertBytes, bytes, device, newUserId, rejectsWith } from './helpers.ts';

export interface OpenedAccounts {
  readonly accounts: AccountStore;
  close(): Promise<void>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let keySeq = 0;
/** A device registration with an identity key unique in this process. */
function newDevice(name = 'phone', registrationId = 4242): NewDevice {
  keySeq++;
  const identityKey = new Uint8Array(33);
  identityKey[0] = 0x05;
  new DataView(identityKey.buffer).setUint32(1, keySeq);
  identityKey.set(bytes(...Array.from({ length: 28 }, (_, i) => (i * 37 + process.pid) & 255)), 5);
  return { identityKey, registrationId, name };
}

export function accountContract(name: string, open: () => Promise<OpenedAccounts>): void {
  async function withAccounts(body: (accounts: AccountStore) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await body(opened.accounts);
    } finally {
      await opened.close();
    }
  }

  test(`${name} - createAccount returns distinct server-generated UUIDs`, () =>
    withAccounts(async (accounts) => {
      const a = await accounts.createAccount();
      const b = await accounts.createAccount();
      assert.match(a.userId, UUID_RE);
      assert.notEqual(a.userId, b.userId);
      assert.deepEqual(await accounts.getAccount(a.userId), a);
      assert.equal(await accounts.getAccount(newUserId()), undefined);
    }));

  test(`${name} - device ids are allocated 1..N per user`, () =>
    withAccounts(async (accounts) => {
      const a = await accounts.createAccount();
      const b = await accounts.createAccount();
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await accounts.addDevice(a.userId, newDevice())).device.deviceId);
      assert.deepEqual(ids, [1, 2, 3]);
      assert.equal((await accounts.addDevice(b.userId, newDevice())).device.deviceId, 1, 'each user counts from 1');
    }));

  test(`${name} - concurrent addDevice calls get distinct ids`, () =>
    withAccounts(async (accounts) => {
      const a = await accounts.createAccount();
      const results = await Promise.all(Array.from({ length: 8 }, () => accounts.addDevice(a.userId, newDevice())));
      assert.deepEqual(results.map((r) => r.device.deviceId).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.ok(results.every((r) => r.created));
    }));

  test(`${name} - getDevice and listDevices return what was registered`, () =>
    withAccounts(async (accounts) => {
      const a = await accounts.createAccount();
      const reg = newDevice('laptop', 16380);
      const { device: added, created } = await accounts.addDevice(a.userId, reg);
      assert.equal(created, true);
      await accounts.addDevice(a.userId, newDevice('tablet'));
      const got = await accounts.getDevice(device(a.userId, 1));
      assert.ok(got);
      assert.deepEqual(
        { userId: got.userId, deviceId: got.deviceId, registrationId: got.registrationId, name: got.name, createdAt: got.createdAt },
        { userId: a.userId, deviceId: 1, registrationId: 16380, name: 'laptop', createdAt: added.createdAt },
      );
      assertBytes(got.identityKey, reg.identityKey);
      assertBytes(added.identityKey, reg.identityKey);
      assert.equal(typeof got.createdAt, 'number');
      const list = await accounts.listDevices(a.userId);
      assert.deepEqual(list.map((d) => [d.deviceId, d.name]), [[1, 'laptop'], [2, 'tablet']]);
      assert.equal(await accounts.getDevice(device(a.userId, 3)), undefined);
      assert.deepEqual(await accounts.listDevices(newUserId()), []);
    }));

  test(`${name} - removeDevice frees the identity key but never reuses the device id`, () =>
    withAccounts(async (accounts) => {
      const a = await accounts.createAccount();
      const reg2 = newDevice('second');
      await accounts.addDevice(a.userId, newDevice());
      await accounts.addDevice(a.userId, reg2);
      assert.equal(await accounts.removeDevice(device(a.userId, 2)), true);
      assert.equal(await accounts.removeDevice(device(a.userId, 2)), false);
      assert.equal(await accounts.getDevice(device(a.userId, 2)), undefined);
      assert.deepEqual((await accounts.listDevices(a.userId)).map((d) => d.deviceId), [1]);
      const again = await accounts.addDevice(a.userId, reg2);
      assert.equal(again.created, true);
      assert.equal(again.device.deviceId, 3, 'device id 2 is never handed out again');
    }));

  test(`${name} - addDevice to an unknown user rejects with PARLEY_ERR_STORE_NOT_FOUND`, () =>
    withAccounts(async (accounts) => {
      await rejectsWith(accounts.addDevice(newUserId(), newDevice()), 'PARLEY_ERR_STORE_NOT_FOUND');
    }));

  test(`${name} - re-registering the same identity key: retry returns the device, anything else conflicts`, () =>
    withAccounts(async (accounts) => {
      const a = await accounts.createAccount();
      const b = await accounts.createAccount();
      const reg = newDevice('phone', 77);
      const first = await accounts.addDevice(a.userId, reg);
      const retry = await accounts.addDevice(a.userId, { ...reg, name: 'renamed on retry' });
      assert.equal(retry.created, false);
      assert.equal(retry.device.deviceId, first.device.deviceId);
      assert.equal(retry.device.name, 'phone', 'a retry changes nothing');
      await rejectsWith(accounts.addDevice(b.userId, reg), 'PARLEY_ERR_STORE_CONFLICT');
      await rejectsWith(accounts.addDevice(a.userId, { ...reg, registrationId: 78 }), 'PARLEY_ERR_STORE_CONFLICT');
      assert.equal((await accounts.listDevices(a.userId)).length, 1);
      assert.equal((await accounts.listDevices(b.userId)).length, 0);
      // a conflict consumes no device id
      assert.equal((await accounts.addDevice(a.userId, newDevice())).device.deviceId, 2);
    }));

  test(`${name} - last seen is stored per user and never moves backwards`, () =>
    withAccounts(async (accounts) => {
      const a = await accounts.createAccount();
      const b = await accounts.createAccount();
      assert.equal(await accounts.getLastSeen(a.userId), undefined);
      await accounts.setLastSeen(a.userId, 1_000);
      assert.equal(await accounts.getLastSeen(a.userId), 1_000);
      await accounts.setLastSeen(a.userId, 500);
      assert.equal(await accounts.getLastSeen(a.userId), 1_000, 'a late, older write does not regress it');
      await accounts.setLastSeen(a.userId, 2_000);
      assert.equal(await accounts.getLastSeen(a.userId), 2_000);
      assert.equal(await accounts.getLastSeen(b.userId), undefined);
      assert.equal(await accounts.getLastSeen(newUserId()), undefined);
      await rejectsWith(accounts.setLastSeen(newUserId(), 1), 'PARLEY_ERR_STORE_NOT_FOUND');
    }));

  test(`${name} - invalid arguments reject with PARLEY_ERR_STORE_INVALID_INPUT`, () =>
    withAccounts(async (accounts) => {
      const a = await accounts.createAccount();
      const code = 'PARLEY_ERR_STORE_INVALID_INPUT';
      await rejectsWith(accounts.getAccount('not-a-uuid'), code);
      await rejectsWith(accounts.getDevice(device(a.userId, 0)), code);
      await rejectsWith(accounts.getDevice(device(a.userId, 1.5)), code);
      await rejectsWith(accounts.addDevice(a.userId, { ...newDevice(), identityKey: new Uint8Array(0) }), code);
      await rejectsWith(accounts.addDevice(a.userId, { ...newDevice(), registrationId: -1 }), code);
      await rejectsWith(accounts.addDevice(a.userId, { ...newDevice(), name: 'x'.repeat(1025) }), code);
      await rejectsWith(accounts.setLastSeen(a.userId, Number.NaN), code);
      assert.deepEqual(await accounts.listDevices(a.userId), []);
    }));

  test(`${name} - a closed store rejects with PARLEY_ERR_STORE_UNAVAILABLE`, async () => {
    const opened = await open();
    await opened.close();
    await rejectsWith(opened.accounts.createAccount(), 'PARLEY_ERR_STORE_UNAVAILABLE');
  });
}
