/**
 * PreKeyStore port: the public halves of each device's Signal pre-keys, as
 * PQXDH needs them to start a session with a device that is offline.
 * Embedded: SQLite (`SqlitePreKeyStore`). At scale: PostgreSQL (one-time keys
 * deleted on use).
 *
 * Per device:
 * - one current signed EC pre-key and one current Kyber last-resort pre-key.
 *   Replacing one keeps the previous as `previous` for `graceMs` (clients
 *   rotate; a peer may have fetched the old bundle moments ago, and an
 *   operator may want to see it). Only the current one is ever handed out.
 * - a supply of one-time EC pre-keys and one-time (signed) Kyber pre-keys.
 *
 * Guarantees (every backend; the contract suite in
 * test/store/contracts/prekey-contract.ts asserts them):
 * - `takeBundleKeys` removes at most one one-time EC key and one one-time
 *   Kyber key and returns them, atomically: two concurrent takes never return
 *   the same one-time key, and a key returned is gone for good.
 * - When no one-time Kyber key is left the last-resort Kyber key is returned
 *   (and kept); when no one-time EC key is left `oneTimePreKey` is null. This
 *   is exactly what libsignal's `PreKeyBundle.new` accepts.
 * - Uploading a one-time key with an id the device already has replaces it
 *   (a client retrying an upload whose reply was lost).
 * - The store checks shapes only; signatures are verified by the caller
 *   (actors/keys-service.ts) before anything is stored.
 *
 * Errors: StoreError (store/errors.ts), as in store/types.ts.
 */
import { invalidInput } from './errors.ts';
import type { DeviceAddress } from './types.ts';

/** A one-time EC pre-key: id and serialized public key (33 bytes for Curve25519). */
export interface StoredPreKey {
  readonly id: number;
  readonly publicKey: Uint8Array;
}

/** A signed pre-key (EC signed pre-key, Kyber last-resort or one-time Kyber key). */
export interface StoredSignedPreKey extends StoredPreKey {
  /** The device identity key's signature over `publicKey` (64 bytes). */
  readonly signature: Uint8Array;
}

/** What a device uploads in one go. Null signed keys leave the current ones untouched. */
export interface PreKeyUploadSet {
  readonly signedPreKey: StoredSignedPreKey | null;
  readonly kyberLastResort: StoredSignedPreKey | null;
  readonly oneTimePreKeys: readonly StoredPreKey[];
  readonly oneTimeKyberPreKeys: readonly StoredSignedPreKey[];
}

/** One-time keys left for a device. */
export interface PreKeyCounts {
  readonly ec: number;
  readonly kyber: number;
}

/** The keys of one bundle, taken from the store. */
export interface TakenBundleKeys {
  readonly signedPreKey: StoredSignedPreKey;
  /** null when the one-time EC supply is gone (libsignal accepts a bundle without one). */
  readonly oneTimePreKey: StoredPreKey | null;
  /** A one-time Kyber key, or the last-resort key when none is left. */
  readonly kyberPreKey: StoredSignedPreKey;
  /** true when `kyberPreKey` is the last-resort key. */
  readonly kyberLastResort: boolean;
  /** Supply left after this take. */
  readonly remaining: PreKeyCounts;
}

/** A device's signed keys: the current one and the ones replaced within the grace period (newest first). */
export interface SignedKeyHistory {
  readonly current: StoredSignedPreKey | undefined;
  readonly previous: readonly StoredSignedPreKey[];
}

/** Settings shared by every PreKeyStore adapter. */
export interface PreKeyRetention {
  /**
   * How long a replaced signed or last-resort key is kept after its replacement.
   * @default 2_592_000_000 (30 days, Signal's signed pre-key grace)
   */
  readonly graceMs: number;
}

export const DEFAULT_PREKEY_RETENTION: PreKeyRetention = { graceMs: 30 * 24 * 60 * 60 * 1000 };

/** Largest one-time key id (uint32, as on the wire). */
export const MAX_PREKEY_ID = 0xffff_ffff;

export interface PreKeyStore {
  /**
   * Stores an upload atomically (all of it or nothing): replaces the signed
   * and/or last-resort key when given (the old one becomes `previous`; an
   * upload of the current id again just overwrites it) and adds one-time keys.
   * `now` (ms since epoch) stamps the replacement for the grace period.
   */
  upload(device: DeviceAddress, keys: PreKeyUploadSet, now: number): Promise<void>;
  /**
   * Takes the keys of one bundle (see the guarantees above). undefined when the
   * device has no signed pre-key or no last-resort Kyber key yet.
   */
  takeBundleKeys(device: DeviceAddress): Promise<TakenBundleKeys | undefined>;
  /** One-time keys left (0 and 0 for an unknown device). */
  counts(device: DeviceAddress): Promise<PreKeyCounts>;
  /** Current and still-graced previous signed EC pre-keys. */
  signedPreKeys(device: DeviceAddress, now: number): Promise<SignedKeyHistory>;
  /** Current and still-graced previous Kyber last-resort keys. */
  lastResortKeys(device: DeviceAddress, now: number): Promise<SignedKeyHistory>;
  /** Forgets every key of the device (removed or re-installed). Idempotent. */
  removeDevice(device: DeviceAddress): Promise<void>;
  /** Deletes replaced keys older than the grace period; returns how many. */
  purgeExpired(now: number): Promise<number>;
}

// ---------------------------------------------------------------------------
// input checks shared by every adapter (same inputs rejected with the same codes)

function checkKeyId(field: string, id: unknown): void {
  if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > MAX_PREKEY_ID) throw invalidInput(field, 'not an integer in 0..2^32-1');
}

function checkBytes(field: string, b: unknown, min: number, max: number): void {
  if (!(b instanceof Uint8Array) || b.length < min || b.length > max) throw invalidInput(field, `not ${min}..${max} bytes`);
}

function checkKey(field: string, key: StoredPreKey, signed: boolean): void {
  if (key === null || typeof key !== 'object') throw invalidInput(field, 'not a key');
  checkKeyId(`${field}.id`, key.id);
  checkBytes(`${field}.publicKey`, key.publicKey, 1, 2048);
  if (signed) checkBytes(`${field}.signature`, (key as StoredSignedPreKey).signature, 1, 128);
}

/** Checks an upload's shapes (not its signatures). Adapters call it before touching the backend. */
export function checkPreKeyUploadSet(keys: PreKeyUploadSet): void {
  if (keys === null || typeof keys !== 'object') throw invalidInput('keys', 'not an upload');
  if (keys.signedPreKey !== null) checkKey('keys.signedPreKey', keys.signedPreKey, true);
  if (keys.kyberLastResort !== null) checkKey('keys.kyberLastResort', keys.kyberLastResort, true);
  if (!Array.isArray(keys.oneTimePreKeys)) throw invalidInput('keys.oneTimePreKeys', 'not an array');
  if (!Array.isArray(keys.oneTimeKyberPreKeys)) throw invalidInput('keys.oneTimeKyberPreKeys', 'not an array');
  keys.oneTimePreKeys.forEach((k, i) => checkKey(`keys.oneTimePreKeys[${i}]`, k, false));
  keys.oneTimeKyberPreKeys.forEach((k, i) => checkKey(`keys.oneTimeKyberPreKeys[${i}]`, k, true));
}
