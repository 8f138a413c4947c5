/**
 * Readers: one per frame kind, from the decoded msgpack array (`[kind, ...fields]`)
 * to the typed frame, checking types, sizes and required fields against the
 * limits. Field order here is the wire order documented in README.md.
 * A reader throws FieldViolation (see fields.ts); `decodeFrame` catches it.
 */
import {
  CiphertextType, FrameKind, ReceiptStatus, SUPPORTED_VERSIONS,
  type DeviceEnvelope, type Frame, type PreKey, type PreKeyBundle, type SendFrame, type SignedPreKey,
} from './frames.ts';
import {
  EC_PUBLIC_KEY_BYTES, MAX_LINK_TOKEN_BYTES, MAX_REGISTRATION_ID, MIN_LINK_TOKEN_BYTES, NONCE_BYTES,
  SIGNATURE_BYTES, type ProtocolLimits,
} from './limits.ts';
import {
  bytes, fixedBytes, id, inItem, intIn, list, member, rid, text, trailingFlag, tuple, uint, violation,
} from './fields.ts';

type Reader = (a: unknown[], L: ProtocolLimits) => Frame;

const CIPHERTEXT_TYPES: ReadonlySet<number> = new Set([
  CiphertextType.Opaque, CiphertextType.Whisper, CiphertextType.PreKey, CiphertextType.SenderKey, CiphertextType.Plaintext,
]);
const RECEIPT_STATUSES: ReadonlySet<number> = new Set([ReceiptStatus.Delivered, ReceiptStatus.Read]);
const CLIENT_RECEIPT_STATUSES: ReadonlySet<number> = new Set([ReceiptStatus.Read]);
const UINT32 = 0xffffffff;

/** Number of fields after the kind, per kind: the frame array has FIELD_COUNT[kind] + 1 items. */
export const FIELD_COUNT: Readonly<Record<FrameKind, number>> = {
  [FrameKind.Hello]: 3, [FrameKind.Challenge]: 4, [FrameKind.Register]: 5, [FrameKind.Auth]: 4,
  [FrameKind.Welcome]: 7, [FrameKind.Ping]: 1, [FrameKind.Pong]: 1, [FrameKind.Error]: 4, [FrameKind.Ok]: 1,
  [FrameKind.Send]: 4, [FrameKind.Sent]: 3, [FrameKind.Deliver]: 7, [FrameKind.Ack]: 2, [FrameKind.Receipt]: 4,
  [FrameKind.ReceiptNotice]: 6, [FrameKind.MismatchedDevices]: 5, [FrameKind.PreKeyUpload]: 7,
  [FrameKind.PreKeyFetch]: 3, [FrameKind.PreKeyBundles]: 3, [FrameKind.PreKeysLow]: 2, [FrameKind.LinkDevice]: 1,
  [FrameKind.LinkToken]: 3,
};

/**
 * FIELD_COUNT plus the kind's trailing optional fields, which an encoder
 * leaves out when unset (so frames without them are byte-for-byte as before):
 * `send`'s `resend` flag.
 */
export const MAX_FIELD_COUNT: Readonly<Record<FrameKind, number>> = { ...FIELD_COUNT, [FrameKind.Send]: 5 };

const deviceId = (v: unknown, field: string, L: ProtocolLimits): number => intIn(v, field, 1, L.maxDeviceId);
const userId = (v: unknown, field: string, L: ProtocolLimits): string => id(v, field, L.maxUserIdBytes);
const messageId = (v: unknown, field: string, L: ProtocolLimits): string => id(v, field, L.maxMessageIdBytes);
const ecKey = (v: unknown, field: string): Uint8Array => fixedBytes(v, field, EC_PUBLIC_KEY_BYTES);
const signature = (v: unknown, field: string): Uint8Array => fixedBytes(v, field, SIGNATURE_BYTES);
const registrationId = (v: unknown, field: string): number => intIn(v, field, 1, MAX_REGISTRATION_ID);

function preKey(v: unknown, field: string): PreKey {
  const t = tuple(v, field, 2);
  return { id: uint(t[0], 'id', UINT32), publicKey: ecKey(t[1], 'publicKey') };
}

function signedEcPreKey(v: unknown, field: string): SignedPreKey {
  const t = tuple(v, field, 3);
  return { id: uint(t[0], 'id', UINT32), publicKey: ecKey(t[1], 'publicKey'), signature: signature(t[2], 'signature') };
}

function kyberPreKey(v: unknown, field: string, L: ProtocolLimits): SignedPreKey {
  const t = tuple(v, field, 3);
  return {
    id: uint(t[0], 'id', UINT32),
    publicKey: bytes(t[1], 'publicKey', 1, L.maxKemPublicKeyBytes),
    signature: signature(t[2], 'signature'),
  };
}

/** Prefixes a failing nested record's fields with its own field name. */
function nested<T>(field: string, read: () => T): T {
  return inItem(field, -1, read);
}

function deviceIds(v: unknown, field: string, L: ProtocolLimits): number[] {
  const a = list(v, field, L.maxMismatchedDevices);
  for (let i = 0; i < a.length; i++) inItem(field, i, () => deviceId(a[i], '', L));
  return a as number[];
}

function messageIds(v: unknown, field: string, L: ProtocolLimits): string[] {
  const a = list(v, field, L.maxIdsPerReceipt, 1);
  for (let i = 0; i < a.length; i++) inItem(field, i, () => messageId(a[i], '', L));
  return a as string[];
}

function envelopes(v: unknown, L: ProtocolLimits): DeviceEnvelope[] {
  const a = list(v, 'envelopes', L.maxDevicesPerSend, 1);
  const out: DeviceEnvelope[] = new Array(a.length);
  // duplicates: a quadratic scan, as n ≤ maxDevicesPerSend is small and it allocates nothing
  for (let i = 0; i < a.length; i++) {
    out[i] = inItem('envelopes', i, () => {
      const t = tuple(a[i], '', 4);
      const dev = intIn(t[0], 'deviceId', 0, L.maxDeviceId);
      const env: DeviceEnvelope = {
        deviceId: dev,
        registrationId: intIn(t[1], 'registrationId', 0, MAX_REGISTRATION_ID),
        type: member<CiphertextType>(t[2], 'type', CIPHERTEXT_TYPES),
        ciphertext: bytes(t[3], 'ciphertext', 1, L.maxPayloadBytes, 'PARLEY_ERR_PAYLOAD_TOO_LARGE'),
      };
      if (dev === 0 && (a.length !== 1 || env.type !== CiphertextType.Opaque || env.registrationId !== 0)) {
        violation('PARLEY_ERR_INVALID_FIELD', 'deviceId', 'deviceId 0 (all devices) must be the only envelope, opaque, registrationId 0');
      }
      for (let j = 0; j < i; j++) {
        if (out[j]!.deviceId === dev) violation('PARLEY_ERR_INVALID_FIELD', 'deviceId', 'duplicate deviceId');
      }
      return env;
    });
  }
  return out;
}

function bundles(v: unknown, L: ProtocolLimits): PreKeyBundle[] {
  const a = list(v, 'bundles', L.maxDevicesPerSend);
  const out: PreKeyBundle[] = new Array(a.length);
  for (let i = 0; i < a.length; i++) {
    out[i] = inItem('bundles', i, () => {
      const t = tuple(a[i], '', 6);
      return {
        deviceId: deviceId(t[0], 'deviceId', L),
        registrationId: registrationId(t[1], 'registrationId'),
        identityKey: ecKey(t[2], 'identityKey'),
        signedPreKey: nested('signedPreKey', () => signedEcPreKey(t[3], '')),
        oneTimePreKey: t[4] === null ? null : nested('oneTimePreKey', () => preKey(t[4], '')),
        kyberPreKey: nested('kyberPreKey', () => kyberPreKey(t[5], '', L)),
      };
    });
  }
  return out;
}

const READERS: { readonly [K in FrameKind]: Reader } = {
  [FrameKind.Hello]: (a, L) => {
    const r = rid(a[1]);
    const version = uint(a[2], 'version', UINT32);
    if (!SUPPORTED_VERSIONS.has(version)) {
      violation('PARLEY_ERR_UNSUPPORTED_VERSION', 'version', `protocol version ${version} is not supported; supported: ${[...SUPPORTED_VERSIONS].join(', ')}`);
    }
    return { kind: FrameKind.Hello, rid: r, version, clientInfo: text(a[3], 'clientInfo', L.maxClientInfoBytes) };
  },
  [FrameKind.Challenge]: (a) => ({
    kind: FrameKind.Challenge, rid: rid(a[1]), version: uint(a[2], 'version', UINT32),
    nonce: fixedBytes(a[3], 'nonce', NONCE_BYTES), serverTime: uint(a[4], 'serverTime'),
  }),
  [FrameKind.Register]: (a) => ({
    kind: FrameKind.Register, rid: rid(a[1]), identityKey: ecKey(a[2], 'identityKey'),
    registrationId: registrationId(a[3], 'registrationId'), signature: signature(a[4], 'signature'),
    linkToken: a[5] === null ? null : bytes(a[5], 'linkToken', MIN_LINK_TOKEN_BYTES, MAX_LINK_TOKEN_BYTES),
  }),
  [FrameKind.Auth]: (a, L) => ({
    kind: FrameKind.Auth, rid: rid(a[1]), userId: userId(a[2], 'userId', L), deviceId: deviceId(a[3], 'deviceId', L),
    signature: signature(a[4], 'signature'),
  }),
  [FrameKind.Welcome]: (a, L) => ({
    kind: FrameKind.Welcome, rid: rid(a[1]), userId: userId(a[2], 'userId', L), deviceId: deviceId(a[3], 'deviceId', L),
    sessionId: text(a[4], 'sessionId', L.maxClientInfoBytes), serverTime: uint(a[5], 'serverTime'),
    pingIntervalMs: uint(a[6], 'pingIntervalMs', UINT32), maxPayloadBytes: uint(a[7], 'maxPayloadBytes', UINT32),
  }),
  [FrameKind.Ping]: (a) => ({ kind: FrameKind.Ping, rid: rid(a[1]) }),
  [FrameKind.Pong]: (a) => ({ kind: FrameKind.Pong, rid: rid(a[1]) }),
  [FrameKind.Error]: (a, L) => ({
    kind: FrameKind.Error, rid: a[1] === null ? null : rid(a[1]), code: uint(a[2], 'code', 0xffff),
    message: text(a[3], 'message', L.maxErrorMessageLength), field: a[4] === null ? null : text(a[4], 'field', L.maxClientInfoBytes),
  }),
  [FrameKind.Ok]: (a) => ({ kind: FrameKind.Ok, rid: rid(a[1]) }),
  [FrameKind.Send]: (a, L) => {
    const frame: SendFrame = {
      kind: FrameKind.Send, rid: rid(a[1]), messageId: messageId(a[2], 'messageId', L), to: userId(a[3], 'to', L),
      envelopes: envelopes(a[4], L),
    };
    // set only when true: `false` is a first transmission, decoded as the field's absence
    if (a.length > 5 && trailingFlag(a[5], 'resend')) frame.resend = true;
    return frame;
  },
  [FrameKind.Sent]: (a, L) => ({
    kind: FrameKind.Sent, rid: rid(a[1]), messageId: messageId(a[2], 'messageId', L), serverTime: uint(a[3], 'serverTime'),
  }),
  [FrameKind.Deliver]: (a, L) => ({
    kind: FrameKind.Deliver, seq: uint(a[1], 'seq'), from: userId(a[2], 'from', L), fromDevice: deviceId(a[3], 'fromDevice', L),
    messageId: messageId(a[4], 'messageId', L), serverTime: uint(a[5], 'serverTime'),
    type: member<CiphertextType>(a[6], 'type', CIPHERTEXT_TYPES),
    ciphertext: bytes(a[7], 'ciphertext', 1, L.maxPayloadBytes, 'PARLEY_ERR_PAYLOAD_TOO_LARGE'),
  }),
  [FrameKind.Ack]: (a, L) => {
    const r = rid(a[1]);
    const seqs = list(a[2], 'seqs', L.maxIdsPerAck, 1);
    for (let i = 0; i < seqs.length; i++) inItem('seqs', i, () => uint(seqs[i], ''));
    return { kind: FrameKind.Ack, rid: r, seqs: seqs as number[] };
  },
  [FrameKind.Receipt]: (a, L) => ({
    kind: FrameKind.Receipt, rid: rid(a[1]), status: member<ReceiptStatus>(a[2], 'status', CLIENT_RECEIPT_STATUSES),
    to: userId(a[3], 'to', L), messageIds: messageIds(a[4], 'messageIds', L),
  }),
  [FrameKind.ReceiptNotice]: (a, L) => ({
    kind: FrameKind.ReceiptNotice, seq: uint(a[1], 'seq'), status: member<ReceiptStatus>(a[2], 'status', RECEIPT_STATUSES),
    by: userId(a[3], 'by', L), byDevice: deviceId(a[4], 'byDevice', L), serverTime: uint(a[5], 'serverTime'),
    messageIds: messageIds(a[6], 'messageIds', L),
  }),
  [FrameKind.MismatchedDevices]: (a, L) => ({
    kind: FrameKind.MismatchedDevices, rid: rid(a[1]), userId: userId(a[2], 'userId', L),
    missing: deviceIds(a[3], 'missing', L), extra: deviceIds(a[4], 'extra', L), stale: deviceIds(a[5], 'stale', L),
  }),
  [FrameKind.PreKeyUpload]: (a, L) => {
    const r = rid(a[1]);
    const ec = list(a[6], 'oneTimePreKeys', L.maxPreKeysPerUpload);
    const kem = list(a[7], 'oneTimeKyberPreKeys', L.maxPreKeysPerUpload);
    return {
      kind: FrameKind.PreKeyUpload, rid: r, identityKey: ecKey(a[2], 'identityKey'),
      registrationId: registrationId(a[3], 'registrationId'),
      signedPreKey: a[4] === null ? null : nested('signedPreKey', () => signedEcPreKey(a[4], '')),
      kyberLastResort: a[5] === null ? null : nested('kyberLastResort', () => kyberPreKey(a[5], '', L)),
      oneTimePreKeys: ec.map((k, i) => inItem('oneTimePreKeys', i, () => preKey(k, ''))),
      oneTimeKyberPreKeys: kem.map((k, i) => inItem('oneTimeKyberPreKeys', i, () => kyberPreKey(k, '', L))),
    };
  },
  [FrameKind.PreKeyFetch]: (a, L) => ({
    kind: FrameKind.PreKeyFetch, rid: rid(a[1]), userId: userId(a[2], 'userId', L),
    deviceId: intIn(a[3], 'deviceId', 0, L.maxDeviceId),
  }),
  [FrameKind.PreKeyBundles]: (a, L) => ({
    kind: FrameKind.PreKeyBundles, rid: rid(a[1]), userId: userId(a[2], 'userId', L), bundles: bundles(a[3], L),
  }),
  [FrameKind.PreKeysLow]: (a) => ({
    kind: FrameKind.PreKeysLow, ecCount: uint(a[1], 'ecCount', UINT32), kyberCount: uint(a[2], 'kyberCount', UINT32),
  }),
  [FrameKind.LinkDevice]: (a) => ({ kind: FrameKind.LinkDevice, rid: rid(a[1]) }),
  [FrameKind.LinkToken]: (a) => ({
    kind: FrameKind.LinkToken, rid: rid(a[1]), token: bytes(a[2], 'token', MIN_LINK_TOKEN_BYTES, MAX_LINK_TOKEN_BYTES),
    expiresAt: uint(a[3], 'expiresAt'),
  }),
};

/** The reader of a kind, or undefined when the kind is unknown. Arity is checked by the caller. */
export function readerFor(kind: number): Reader | undefined {
  return (READERS as Partial<Record<number, Reader>>)[kind];
}
