/**
 * Keys service: serves `prekey-upload` and `prekey-fetch` for authenticated
 * devices and tells devices when their one-time pre-key supply runs low.
 * The Connection calls it; it answers with frames and never touches sockets.
 *
 * | call                          | answer                                                        |
 * | ----------------------------- | ------------------------------------------------------------- |
 * | upload(device, frame)         | `ok` (then `prekeys-low` if still low) or `error`             |
 * | fetch(requester, frame)       | `prekey-bundles` or `error` (UNKNOWN_USER, RATE_LIMITED, …)   |
 * | lowKeysNotice(device)         | a `prekeys-low` frame when below the threshold, else undefined |
 * | supply(device)                | one-time keys left (EC, Kyber)                                 |
 * | attach / detach(device, conn) | the device's connection, told when a fetch drains its supply   |
 *
 * Upload rules: only the device itself uploads (the caller passes the
 * authenticated address); the identity key in the frame must be the one the
 * device registered (PARLEY_ERR_IDENTITY_KEY_MISMATCH) and so must the
 * registration id (PARLEY_ERR_INVALID_FIELD); every public key must parse and
 * the signed pre-key, the Kyber last-resort key and each one-time Kyber key
 * must carry a valid XEdDSA signature by that identity key over the key's
 * serialization (libsignal `PublicKey.verify`), else PARLEY_ERR_INVALID_KEY
 * and nothing is stored.
 *
 * Fetch rules: `deviceId` 0 means every device of the user (the requester
 * itself left out); a device that never uploaded is left out. Each bundle
 * costs one token of the requester's bucket (pre-key exhaustion is a known
 * attack: the bucket bounds how fast one device can drain others' supplies).
 * The buckets live in this node's memory: per-node limits, which a
 * multi-node deployment divides its budget by (or moves to Redis later).
 */
import { KEMPublicKey, PublicKey } from '@signalapp/libsignal-client';
import {
  FrameKind, errorFrame, isParleyError,
  type ErrorCode, type PreKeyBundle, type PreKeyFetchFrame, type PreKeyUploadFrame, type PreKeysLowFrame, type ServerFrame,
} from '../protocol/index.ts';
import type { PreKeyCounts, PreKeyStore, TakenBundleKeys } from '../store/prekeys.ts';
import type { AccountStore, Device, DeviceAddress } from '../store/types.ts';
import { outbound, type ConnectionRef } from './connection-protocol.ts';

/** Tunables of the keys service. */
export interface KeysServiceOptions {
  /** Fewer one-time EC or Kyber keys than this: the device is told to upload more. @default 10 */
  readonly lowThreshold: number;
  /** Bundles a device may fetch in a burst. @default 100 */
  readonly fetchBurst: number;
  /** Bundles per minute the bucket refills. @default 60 */
  readonly fetchPerMinute: number;
  /** Most buckets kept; the oldest goes first (a dropped bucket starts full again). @default 100000 */
  readonly maxBuckets: number;
  /** Monotonic clock (ms) for the buckets. @default performance.now */
  readonly clock: () => number;
}

export const DEFAULT_KEYS_SERVICE_OPTIONS: KeysServiceOptions = {
  lowThreshold: 10,
  fetchBurst: 100,
  fetchPerMinute: 60,
  maxBuckets: 100_000,
  clock: () => performance.now(),
};

/** What the service needs from the node. */
export interface KeysServiceDeps {
  readonly prekeys: PreKeyStore;
  readonly accounts: AccountStore;
  /** Wall clock (ms since epoch), stamps key replacements. */
  now(): number;
}

// ---------------------------------------------------------------------------
// token bucket: pure, over a monotonic clock

/** A token bucket's state. */
export interface TokenBucket {
  readonly tokens: number;
  readonly at: number;
}

/**
 * Takes `cost` tokens from `bucket` (undefined: a full one) at time `now`.
 * Returns the new bucket and whether the take was allowed (a refused take
 * leaves the tokens, refilled to `now`, in place).
 */
export function takeTokens(
  bucket: TokenBucket | undefined, cost: number, now: number, capacity: number, perMinute: number,
): { bucket: TokenBucket; allowed: boolean } {
  const refilled = bucket === undefined
    ? capacity
    : Math.min(capacity, bucket.tokens + (Math.max(0, now - bucket.at) * perMinute) / 60_000);
  if (refilled >= cost) return { bucket: { tokens: refilled - cost, at: now }, allowed: true };
  return { bucket: { tokens: refilled, at: now }, allowed: false };
}

// ---------------------------------------------------------------------------

function key(device: DeviceAddress): string {
  return `${device.userId}/${device.deviceId}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

class KeyRejected extends Error {
  constructor(readonly code: ErrorCode, message: string, readonly field: string | null) {
    super(message);
  }
}

function ecKey(field: string, bytes: Uint8Array): PublicKey {
  try {
    return PublicKey.deserialize(new Uint8Array(bytes));
  } catch {
    throw new KeyRejected('PARLEY_ERR_INVALID_KEY', `${field} is not a valid EC public key`, field);
  }
}

function checkSignature(identity: PublicKey, field: string, publicKey: Uint8Array, signature: Uint8Array): void {
  if (!identity.verify(new Uint8Array(publicKey), new Uint8Array(signature))) {
    throw new KeyRejected('PARLEY_ERR_INVALID_KEY', `${field}: signature does not verify with the identity key`, `${field}.signature`);
  }
}

function kemKey(field: string, bytes: Uint8Array): void {
  try {
    KEMPublicKey.deserialize(new Uint8Array(bytes));
  } catch {
    throw new KeyRejected('PARLEY_ERR_INVALID_KEY', `${field} is not a valid Kyber public key`, field);
  }
}

/** The keys service of one node. */
export class KeysService {
  private readonly options: KeysServiceOptions;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly connections = new Map<string, ConnectionRef>();

  constructor(private readonly deps: KeysServiceDeps, options: Partial<KeysServiceOptions> = {}) {
    this.options = { ...DEFAULT_KEYS_SERVICE_OPTIONS, ...options };
  }

  /** Remembers the connection of a logged-in device (a later login of the same device replaces it). */
  attach(device: DeviceAddress, conn: ConnectionRef): void {
    this.connections.set(key(device), conn);
  }

  /** Forgets the device's connection, if it is still `conn`. */
  detach(device: DeviceAddress, conn: ConnectionRef): void {
    const k = key(device);
    const current = this.connections.get(k);
    if (current !== undefined && current.id === conn.id && current.node === conn.node) this.connections.delete(k);
  }

  /** Handles `prekey-upload` from the authenticated `device`: `[ok]` or `[ok, prekeys-low]` or `[error]`. */
  async upload(device: DeviceAddress, frame: PreKeyUploadFrame): Promise<ServerFrame[]> {
    try {
      const registered = await this.deps.accounts.getDevice(device);
      if (registered === undefined) return [errorFrame('PARLEY_ERR_UNKNOWN_USER', frame.rid, 'this device is not registered')];
      verifyUpload(registered, frame);
      await this.deps.prekeys.upload(device, {
        signedPreKey: frame.signedPreKey,
        kyberLastResort: frame.kyberLastResort,
        oneTimePreKeys: frame.oneTimePreKeys,
        oneTimeKyberPreKeys: frame.oneTimeKyberPreKeys,
      }, this.deps.now());
      const notice = await this.lowKeysNotice(device);
      return notice === undefined ? [{ kind: FrameKind.Ok, rid: frame.rid }] : [{ kind: FrameKind.Ok, rid: frame.rid }, notice];
    } catch (err) {
      return [this.failure(frame.rid, err)];
    }
  }

  /** Handles `prekey-fetch` from `requester`: `prekey-bundles` or `error`. */
  async fetch(requester: DeviceAddress, frame: PreKeyFetchFrame): Promise<ServerFrame> {
    try {
      const devices = await this.deps.accounts.listDevices(frame.userId).catch((err: unknown) => {
        if (isParleyError(err) && err.code === 'PARLEY_ERR_STORE_INVALID_INPUT') return []; // not a user id we hand out
        throw err;
      });
      if (devices.length === 0) return errorFrame('PARLEY_ERR_UNKNOWN_USER', frame.rid, `unknown user ${frame.userId}`, 'userId');
      const targets = frame.deviceId === 0
        ? devices.filter((d) => !(d.userId === requester.userId && d.deviceId === requester.deviceId))
        : devices.filter((d) => d.deviceId === frame.deviceId);
      if (targets.length === 0 && frame.deviceId !== 0) {
        return errorFrame('PARLEY_ERR_UNKNOWN_USER', frame.rid, `unknown device ${frame.userId}.${frame.deviceId}`, 'deviceId');
      }
      if (!this.allow(requester, Math.max(1, targets.length))) {
        return errorFrame('PARLEY_ERR_RATE_LIMITED', frame.rid, 'too many pre-key fetches, slow down');
      }
      const bundles: PreKeyBundle[] = [];
      for (const d of targets) {
        const taken = await this.deps.prekeys.takeBundleKeys(d);
        if (taken === undefined) continue; // never uploaded: no session can be started with it yet
        bundles.push({
          deviceId: d.deviceId, registrationId: d.registrationId, identityKey: d.identityKey,
          signedPreKey: taken.signedPreKey, oneTimePreKey: taken.oneTimePreKey, kyberPreKey: taken.kyberPreKey,
        });
        this.noticeIfCrossed(d, taken);
      }
      return { kind: FrameKind.PreKeyBundles, rid: frame.rid, userId: frame.userId, bundles };
    } catch (err) {
      return this.failure(frame.rid, err);
    }
  }

  /** One-time keys the device has left on the server (ops and tests). */
  supply(device: DeviceAddress): Promise<PreKeyCounts> {
    return this.deps.prekeys.counts(device);
  }

  /** A `prekeys-low` frame when the device has fewer one-time keys than the threshold, else undefined. */
  async lowKeysNotice(device: DeviceAddress): Promise<PreKeysLowFrame | undefined> {
    const counts = await this.deps.prekeys.counts(device);
    return this.isLow(counts) ? { kind: FrameKind.PreKeysLow, ecCount: counts.ec, kyberCount: counts.kyber } : undefined;
  }

  private isLow(c: PreKeyCounts): boolean {
    return c.ec < this.options.lowThreshold || c.kyber < this.options.lowThreshold;
  }

  /** Tells the target's connection (if on this node) once, when this take moved it below the threshold. */
  private noticeIfCrossed(target: DeviceAddress, taken: TakenBundleKeys): void {
    const t = this.options.lowThreshold;
    const after = taken.remaining;
    const ecBefore = after.ec + (taken.oneTimePreKey === null ? 0 : 1);
    const kyberBefore = after.kyber + (taken.kyberLastResort ? 0 : 1);
    const crossed = (ecBefore >= t && after.ec < t) || (kyberBefore >= t && after.kyber < t);
    if (!crossed) return;
    const conn = this.connections.get(key(target));
    if (conn !== undefined) outbound(conn, { kind: FrameKind.PreKeysLow, ecCount: after.ec, kyberCount: after.kyber });
  }

  private allow(requester: DeviceAddress, cost: number): boolean {
    const k = key(requester);
    const { fetchBurst, fetchPerMinute, maxBuckets, clock } = this.options;
    const result = takeTokens(this.buckets.get(k), cost, clock(), fetchBurst, fetchPerMinute);
    this.buckets.delete(k); // re-insert: Map order = least recently used first
    if (this.buckets.size >= maxBuckets) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(k, result.bucket);
    return result.allowed;
  }

  private failure(rid: number, err: unknown): ServerFrame {
    if (err instanceof KeyRejected) return errorFrame(err.code, rid, err.message, err.field);
    if (isParleyError(err)) {
      if (err.code === 'PARLEY_ERR_STORE_UNAVAILABLE') return errorFrame('PARLEY_ERR_STORE_UNAVAILABLE', rid, 'key store unavailable, retry');
      if (err.code === 'PARLEY_ERR_STORE_INVALID_INPUT') return errorFrame('PARLEY_ERR_INVALID_FIELD', rid, err.message);
    }
    throw err; // a bug: let the connection crash and report it
  }
}

/** Throws KeyRejected unless every key of the upload belongs to `device` and is validly signed. */
function verifyUpload(device: Device, frame: PreKeyUploadFrame): void {
  if (!sameBytes(device.identityKey, frame.identityKey)) {
    throw new KeyRejected('PARLEY_ERR_IDENTITY_KEY_MISMATCH', 'identityKey is not the key this device registered', 'identityKey');
  }
  if (device.registrationId !== frame.registrationId) {
    throw new KeyRejected('PARLEY_ERR_INVALID_FIELD', 'registrationId is not the one this device registered', 'registrationId');
  }
  const identity = ecKey('identityKey', frame.identityKey);
  if (frame.signedPreKey !== null) {
    ecKey('signedPreKey.publicKey', frame.signedPreKey.publicKey);
    checkSignature(identity, 'signedPreKey', frame.signedPreKey.publicKey, frame.signedPreKey.signature);
  }
  if (frame.kyberLastResort !== null) {
    kemKey('kyberLastResort.publicKey', frame.kyberLastResort.publicKey);
    checkSignature(identity, 'kyberLastResort', frame.kyberLastResort.publicKey, frame.kyberLastResort.signature);
  }
  frame.oneTimePreKeys.forEach((k, i) => ecKey(`oneTimePreKeys[${i}].publicKey`, k.publicKey));
  frame.oneTimeKyberPreKeys.forEach((k, i) => {
    kemKey(`oneTimeKyberPreKeys[${i}].publicKey`, k.publicKey);
    checkSignature(identity, `oneTimeKyberPreKeys[${i}]`, k.publicKey, k.signature);
  });
}
