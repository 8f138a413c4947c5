/** One valid frame of every kind, plus helpers shared by the protocol tests. */
import { CiphertextType, FrameKind, ReceiptStatus, type Frame } from '../../protocol/index.ts';

/** `n` bytes counting up from `start` (deterministic, recognisable in hex). */
export function seqBytes(n: number, start = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (start + i) & 0xff;
  return b;
}

const ecKey = (seed: number): Uint8Array => { const k = seqBytes(33, seed); k[0] = 0x05; return k; };
const sig = (seed: number): Uint8Array => seqBytes(64, seed);
const kyberKey = (seed: number): Uint8Array => { const k = seqBytes(1569, seed); k[0] = 0x08; return k; };

const NOW = 1_700_000_000_123; // above 2^32: exercises int64 encoding

/** A valid sample of every frame kind. */
export const SAMPLES: { readonly [K in FrameKind]: Extract<Frame, { kind: K }> } = {
  [FrameKind.Hello]: { kind: FrameKind.Hello, rid: 1, version: 1, clientInfo: 'parley-ts/0.1.0' },
  [FrameKind.Challenge]: { kind: FrameKind.Challenge, rid: 1, version: 1, nonce: seqBytes(32), serverTime: NOW },
  [FrameKind.Register]: {
    kind: FrameKind.Register, rid: 2, identityKey: ecKey(1), registrationId: 12345, signature: sig(2), linkToken: null,
  },
  [FrameKind.Auth]: { kind: FrameKind.Auth, rid: 2, userId: 'alice', deviceId: 1, signature: sig(3) },
  [FrameKind.Welcome]: {
    kind: FrameKind.Welcome, rid: 2, userId: 'alice', deviceId: 1, sessionId: 'n1-c42', serverTime: NOW,
    pingIntervalMs: 15_000, maxPayloadBytes: 65_536,
  },
  [FrameKind.Ping]: { kind: FrameKind.Ping, rid: 3 },
  [FrameKind.Pong]: { kind: FrameKind.Pong, rid: 3 },
  [FrameKind.Error]: { kind: FrameKind.Error, rid: 4, code: 103, message: 'to must be a string', field: 'to' },
  [FrameKind.Ok]: { kind: FrameKind.Ok, rid: 5 },
  [FrameKind.Send]: {
    kind: FrameKind.Send, rid: 6, messageId: 'm-0001', to: 'bob',
    envelopes: [
      { deviceId: 1, registrationId: 100, type: CiphertextType.Whisper, ciphertext: seqBytes(40) },
      { deviceId: 2, registrationId: 200, type: CiphertextType.PreKey, ciphertext: seqBytes(50, 7) },
    ],
  },
  [FrameKind.Sent]: { kind: FrameKind.Sent, rid: 6, messageId: 'm-0001', serverTime: NOW },
  [FrameKind.Deliver]: {
    kind: FrameKind.Deliver, seq: 2 ** 40 + 5, from: 'alice', fromDevice: 1, messageId: 'm-0001', serverTime: NOW,
    type: CiphertextType.Whisper, ciphertext: seqBytes(40),
  },
  [FrameKind.Ack]: { kind: FrameKind.Ack, rid: 7, seqs: [1, 2, 2 ** 40 + 5] },
  [FrameKind.Receipt]: { kind: FrameKind.Receipt, rid: 8, status: ReceiptStatus.Read, to: 'alice', messageIds: ['m-0001', 'm-0002'] },
  [FrameKind.ReceiptNotice]: {
    kind: FrameKind.ReceiptNotice, seq: 9, status: ReceiptStatus.Delivered, by: 'bob', byDevice: 2, serverTime: NOW,
    messageIds: ['m-0001'],
  },
  [FrameKind.MismatchedDevices]: { kind: FrameKind.MismatchedDevices, rid: 6, userId: 'bob', missing: [3], extra: [4], stale: [2] },
  [FrameKind.PreKeyUpload]: {
    kind: FrameKind.PreKeyUpload, rid: 10, identityKey: ecKey(1), registrationId: 12345,
    signedPreKey: { id: 1, publicKey: ecKey(10), signature: sig(11) },
    kyberLastResort: { id: 2, publicKey: kyberKey(12), signature: sig(13) },
    oneTimePreKeys: [{ id: 100, publicKey: ecKey(14) }, { id: 101, publicKey: ecKey(15) }],
    oneTimeKyberPreKeys: [{ id: 200, publicKey: kyberKey(16), signature: sig(17) }],
  },
  [FrameKind.PreKeyFetch]: { kind: FrameKind.PreKeyFetch, rid: 11, userId: 'bob', deviceId: 0 },
  [FrameKind.PreKeyBundles]: {
    kind: FrameKind.PreKeyBundles, rid: 11, userId: 'bob',
    bundles: [{
      deviceId: 1, registrationId: 100, identityKey: ecKey(20), signedPreKey: { id: 1, publicKey: ecKey(21), signature: sig(22) },
      oneTimePreKey: { id: 7, publicKey: ecKey(23) }, kyberPreKey: { id: 8, publicKey: kyberKey(24), signature: sig(25) },
    }, {
      deviceId: 2, registrationId: 200, identityKey: ecKey(30), signedPreKey: { id: 1, publicKey: ecKey(31), signature: sig(32) },
      oneTimePreKey: null, kyberPreKey: { id: 9, publicKey: kyberKey(34), signature: sig(35) },
    }],
  },
  [FrameKind.PreKeysLow]: { kind: FrameKind.PreKeysLow, ecCount: 5, kyberCount: 0 },
  [FrameKind.LinkDevice]: { kind: FrameKind.LinkDevice, rid: 12 },
  [FrameKind.LinkToken]: { kind: FrameKind.LinkToken, rid: 12, token: seqBytes(16), expiresAt: NOW + 600_000 },
};

/** Every frame kind, in numeric order. */
export const ALL_KINDS: FrameKind[] = (Object.keys(SAMPLES).map(Number) as FrameKind[]).sort((a, b) => a - b);

/** Deep copy with every Uint8Array (msgpackr returns Buffers) as a plain Uint8Array, for deepStrictEqual. */
export function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

export { prng } from '../support/prng.ts';
