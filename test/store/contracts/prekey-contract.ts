/**
 * The PreKeyStore contract, run unchanged against every adapter (SQLite now,
 * PostgreSQL later). Each test opens a fresh store through `open` (with the
 * grace period it asks for) and closes it. Keys are opaque bytes here: the
 * store checks shapes, the keys service checks signatures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PreKeyStore, PreKeyUploadSet, StoredPreKey, StoredSignedPreKey } from '../../../store/prekeys.ts';
import { assertBytes, device, newUserId, rejectsWith } from './helpers.ts';

export interface OpenedPreKeys {
  readonly prekeys: PreKeyStore;
  close(): Promise<void>;
}

export type OpenPreKeys = (options: { graceMs: number }) => Promise<OpenedPreKeys>;

const GRACE = 1_000_000;
const T0 = 1_700_000_000_000;

function ec(id: number): StoredPreKey {
  const publicKey = new Uint8Array(33);
  publicKey[0] = 0x05;
  new DataView(publicKey.buffer).setUint32(1, id);
  return { id, publicKey };
}

function signed(id: number, size = 33, tag = 0): StoredSignedPreKey {
  const publicKey = new Uint8Array(size).fill(tag);
  publicKey[0] = size === 33 ? 0x05 : 0x08;
  new DataView(publicKey.buffer).setUint32(1, id);
  const signature = new Uint8Array(64).fill((id + tag) & 255);
  return { id, publicKey, signature };
}

function kem(id: number, tag = 0): StoredSignedPreKey {
  return signed(id, 1569, tag);
}

function upload(parts: Partial<PreKeyUploadSet>): PreKeyUploadSet {
  return { signedPreKey: null, kyberLastResort: null, oneTimePreKeys: [], oneTimeKyberPreKeys: [], ...parts };
}

function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

export function prekeyContract(name: string, open: OpenPreKeys): void {
  async function withStore(body: (prekeys: PreKeyStore) => Promise<void>): Promise<void> {
    const opened = await open({ graceMs: GRACE });
    try {
      await body(opened.prekeys);
    } finally {
      await opened.close();
    }
  }

  test(`${name} - a take returns the signed key, one EC and one Kyber one-time key, and removes both`, () =>
    withStore(async (store) => {
      const d = device(newUserId(), 1);
      await store.upload(d, upload({
        signedPreKey: signed(7), kyberLastResort: kem(900),
        oneTimePreKeys: range(1, 3).map(ec), oneTimeKyberPreKeys: range(101, 3).map((i) => kem(i)),
      }), T0);
      assert.deepEqual(await store.counts(d), { ec: 3, kyber: 3 });
      const taken = await store.takeBundleKeys(d);
      assert.ok(taken);
      assert.equal(taken.signedPreKey.id, 7);
      assertBytes(taken.signedPreKey.publicKey, signed(7).publicKey);
      assertBytes(taken.signedPreKey.signature, signed(7).signature);
      assert.equal(taken.oneTimePreKey?.id, 1);
      assertBytes(taken.oneTimePreKey!.publicKey, ec(1).publicKey);
      assert.equal(taken.kyberPreKey.id, 101);
      assertBytes(taken.kyberPreKey.publicKey, kem(101).publicKey);
      assertBytes(taken.kyberPreKey.signature, kem(101).signature);
      assert.equal(taken.kyberLastResort, false);
      assert.deepEqual(taken.remaining, { ec: 2, kyber: 2 });
      assert.deepEqual(await store.counts(d), { ec: 2, kyber: 2 });
      const second = await store.takeBundleKeys(d);
      assert.equal(second?.oneTimePreKey?.id, 2);
      assert.equal(second?.kyberPreKey.id, 102);
    }));

  test(`${name} - exhausted one-time supply falls back to the last-resort Kyber key and no EC key`, () =>
    withStore(async (store) => {
      const d = device(newUserId(), 2);
      await store.upload(d, upload({
        signedPreKey: signed(1), kyberLastResort: kem(500),
        oneTimePreKeys: [ec(1)], oneTimeKyberPreKeys: [kem(10), kem(11)],
      }), T0);
      const a = await store.takeBundleKeys(d);
      assert.equal(a?.oneTimePreKey?.id, 1);
      assert.equal(a?.kyberPreKey.id, 10);
      const b = await store.takeBundleKeys(d);
      assert.equal(b?.oneTimePreKey, null);
      assert.equal(b?.kyberPreKey.id, 11);
      assert.equal(b?.kyberLastResort, false);
      for (let i = 0; i < 3; i++) {
        const c = await store.takeBundleKeys(d);
        assert.equal(c?.oneTimePreKey, null);
        assert.equal(c?.kyberPreKey.id, 500, 'the last-resort key is handed out and kept');
        assert.equal(c?.kyberLastResort, true);
        assertBytes(c!.kyberPreKey.signature, kem(500).signature);
        assert.deepEqual(c?.remaining, { ec: 0, kyber: 0 });
      }
    }));

  test(`${name} - a device without a signed or last-resort key has no bundle; unknown devices count 0`, () =>
    withStore(async (store) => {
      const d = device(newUserId(), 1);
      assert.equal(await store.takeBundleKeys(d), undefined);
      assert.deepEqual(await store.counts(d), { ec: 0, kyber: 0 });
      await store.upload(d, upload({ signedPreKey: signed(1), oneTimePreKeys: [ec(1)] }), T0);
      assert.equal(await store.takeBundleKeys(d), undefined, 'no last-resort Kyber key yet');
      assert.deepEqual(await store.counts(d), { ec: 1, kyber: 0 }, 'nothing was taken');
    }));

  test(`${name} - concurrent takes never return the same one-time key`, () =>
    withStore(async (store) => {
      const d = device(newUserId(), 1);
      await store.upload(d, upload({
        signedPreKey: signed(1), kyberLastResort: kem(9999),
        oneTimePreKeys: range(1, 40).map(ec), oneTimeKyberPreKeys: range(1001, 40).map((i) => kem(i)),
      }), T0);
      const all = await Promise.all(range(0, 60).map(() => store.takeBundleKeys(d)));
      const ecIds = all.map((t) => t?.oneTimePreKey?.id).filter((id): id is number => id !== undefined);
      const kyberIds = all.filter((t) => t && !t.kyberLastResort).map((t) => t!.kyberPreKey.id);
      assert.equal(ecIds.length, 40);
      assert.equal(new Set(ecIds).size, 40, 'every EC key handed out once');
      assert.equal(kyberIds.length, 40);
      assert.equal(new Set(kyberIds).size, 40, 'every Kyber key handed out once');
      assert.equal(all.filter((t) => t?.kyberLastResort).length, 20);
      assert.deepEqual(await store.counts(d), { ec: 0, kyber: 0 });
    }));

  test(`${name} - devices are isolated`, () =>
    withStore(async (store) => {
      const user = newUserId();
      const d1 = device(user, 1);
      const d2 = device(user, 2);
      await store.upload(d1, upload({ signedPreKey: signed(1), kyberLastResort: kem(1), oneTimePreKeys: [ec(5)] }), T0);
      await store.upload(d2, upload({ signedPreKey: signed(2), kyberLastResort: kem(2), oneTimePreKeys: [ec(5), ec(6)] }), T0);
      const t2 = await store.takeBundleKeys(d2);
      assert.equal(t2?.signedPreKey.id, 2);
      assert.deepEqual(await store.counts(d1), { ec: 1, kyber: 0 });
      assert.deepEqual(await store.counts(d2), { ec: 1, kyber: 0 });
      await store.removeDevice(d2);
      assert.equal(await store.takeBundleKeys(d2), undefined);
      assert.deepEqual(await store.counts(d2), { ec: 0, kyber: 0 });
      assert.equal((await store.takeBundleKeys(d1))?.oneTimePreKey?.id, 5);
      await store.removeDevice(d2); // idempotent
    }));

  test(`${name} - re-uploading a one-time key id replaces it instead of adding a second`, () =>
    withStore(async (store) => {
      const d = device(newUserId(), 1);
      await store.upload(d, upload({ oneTimePreKeys: [ec(1), ec(2)], oneTimeKyberPreKeys: [kem(1)] }), T0);
      await store.upload(d, upload({ oneTimePreKeys: [ec(2), ec(3)], oneTimeKyberPreKeys: [kem(1, 7)] }), T0);
      assert.deepEqual(await store.counts(d), { ec: 3, kyber: 1 });
      await store.upload(d, upload({ signedPreKey: signed(1), kyberLastResort: kem(50) }), T0);
      const t = await store.takeBundleKeys(d);
      assertBytes(t!.kyberPreKey.publicKey, kem(1, 7).publicKey, 'the later upload won');
    }));

  test(`${name} - rotation keeps the previous signed and last-resort keys for the grace period only`, () =>
    withStore(async (store) => {
      const d = device(newUserId(), 1);
      await store.upload(d, upload({ signedPreKey: signed(1), kyberLastResort: kem(100) }), T0);
      await store.upload(d, upload({ signedPreKey: signed(1), kyberLastResort: kem(100) }), T0 + 5);
      let spk = await store.signedPreKeys(d, T0 + 10);
      assert.equal(spk.current?.id, 1);
      assert.deepEqual(spk.previous, [], 're-uploading the current id is not a rotation');

      await store.upload(d, upload({ signedPreKey: signed(2) }), T0 + 100);
      await store.upload(d, upload({ signedPreKey: signed(3), kyberLastResort: kem(101) }), T0 + 200);
      spk = await store.signedPreKeys(d, T0 + 300);
      assert.equal(spk.current?.id, 3);
      assert.deepEqual(spk.previous.map((k) => k.id), [2, 1], 'newest replaced first');
      const lr = await store.lastResortKeys(d, T0 + 300);
      assert.equal(lr.current?.id, 101);
      assert.deepEqual(lr.previous.map((k) => k.id), [100]);
      assert.equal((await store.takeBundleKeys(d))?.signedPreKey.id, 3, 'only the current key is handed out');
      assert.equal((await store.takeBundleKeys(d))?.kyberPreKey.id, 101);

      // past the grace of the first replacement (at T0+100) but not of the second (T0+200)
      spk = await store.signedPreKeys(d, T0 + 150 + GRACE);
      assert.deepEqual(spk.previous.map((k) => k.id), [2]);
      assert.equal(await store.purgeExpired(T0 + 250 + GRACE), 3, 'signed 1, 2 and last-resort 100');
      spk = await store.signedPreKeys(d, T0);
      assert.equal(spk.current?.id, 3);
      assert.deepEqual(spk.previous, []);
      assert.equal((await store.lastResortKeys(d, T0)).current?.id, 101);
    }));

  test(`${name} - invalid input is rejected with PARLEY_ERR_STORE_INVALID_INPUT and stores nothing`, () =>
    withStore(async (store) => {
      const d = device(newUserId(), 1);
      await rejectsWith(store.upload(d, upload({ oneTimePreKeys: [ec(1), { id: -1, publicKey: new Uint8Array(33) }] }), T0), 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(store.upload(d, upload({ oneTimePreKeys: [{ id: 2 ** 32, publicKey: new Uint8Array(33) }] }), T0), 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(store.upload(d, upload({ signedPreKey: { id: 1, publicKey: new Uint8Array(0), signature: new Uint8Array(64) } }), T0), 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(store.upload(d, upload({ oneTimeKyberPreKeys: [{ id: 1, publicKey: new Uint8Array(3000), signature: new Uint8Array(64) }] }), T0), 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(store.upload(device('not-a-uuid', 1), upload({}), T0), 'PARLEY_ERR_STORE_INVALID_INPUT');
      await rejectsWith(store.takeBundleKeys(device(newUserId(), 0)), 'PARLEY_ERR_STORE_INVALID_INPUT');
      assert.deepEqual(await store.counts(d), { ec: 0, kyber: 0 });
    }));
}
