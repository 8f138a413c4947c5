/**
 * Frame kinds and frame shapes of the Parley wire protocol (see README.md).
 *
 * On the wire every frame is one msgpack array, `[kind, ...fields]`, with the
 * fields in the order declared below (plain arrays, no msgpackr records: a third
 * party implements it with any msgpack library). In TypeScript each frame is an
 * object tagged by `kind`, so `switch (frame.kind)` narrows it.
 *
 * Kinds are small positive integers (< 128) so the kind costs one byte.
 * Direction matters: a client may send only the kinds in CLIENT_KINDS; the
 * connection state machine (`state.ts`) rejects the others.
 */

/** Version carried in `hello` and `challenge`. Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** Versions this build speaks; `hello` with any other version is refused. */
export const SUPPORTED_VERSIONS: ReadonlySet<number> = new Set([PROTOCOL_VERSION]);

/** Numeric frame kinds. Never renumber; add new kinds at free numbers. */
export enum FrameKind {
  Hello = 1,
  Challenge = 2,
  Register = 3,
  Auth = 4,
  Welcome = 5,
  Ping = 6,
  Pong = 7,
  Error = 8,
  Ok = 9,
  Send = 10,
  Sent = 11,
  Deliver = 12,
  Ack = 13,
  Receipt = 14,
  ReceiptNotice = 15,
  MismatchedDevices = 16,
  PreKeyUpload = 20,
  PreKeyFetch = 21,
  PreKeyBundles = 22,
  PreKeysLow = 23,
  LinkDevice = 24,
  LinkToken = 25,
}

/**
 * How a per-device payload is encrypted. The numbers are libsignal's
 * `CiphertextMessageType`, so the SDK passes `message.type()` straight through;
 * `Opaque` (0) is the pre-E2EE payload the server relays untouched.
 */
export enum CiphertextType {
  Opaque = 0,
  Whisper = 2,
  PreKey = 3,
  SenderKey = 7,
  Plaintext = 8,
}

/** Receipt statuses. `Delivered` is produced by the server from acks; clients send only `Read`. */
export enum ReceiptStatus {
  Delivered = 1,
  Read = 2,
}

/** Account id: 1..maxUserIdBytes of `[A-Za-z0-9._-]` (a UUID's text fits). */
export type UserId = string;
/** Device id within an account: 1..maxDeviceId (0 means "all devices" where a field says so). */
export type DeviceId = number;
/** Client-chosen message id, unique per sender device: 1..maxMessageIdBytes of `[A-Za-z0-9._-]`. */
export type MessageId = string;
/** Request id chosen by the client (uint32); responses and errors echo it. */
export type RequestId = number;
/** Per-recipient-device inbox sequence number (uint53), acked by the device. */
export type DeliverySeq = number;
/** Milliseconds since the Unix epoch (uint53). */
export type Timestamp = number;

/** `hello` (client → server): must be the first frame of a connection. */
export interface HelloFrame { kind: FrameKind.Hello; rid: RequestId; version: number; clientInfo: string }
/** `challenge` (server → client): answers `hello`; `nonce` is what `register`/`auth` sign. */
export interface ChallengeFrame { kind: FrameKind.Challenge; rid: RequestId; version: number; nonce: Uint8Array; serverTime: Timestamp }
/** `register` (client → server): new account (or, with `linkToken`, a new device of an existing one). */
export interface RegisterFrame {
  kind: FrameKind.Register; rid: RequestId; identityKey: Uint8Array; registrationId: number;
  signature: Uint8Array; linkToken: Uint8Array | null;
}
/** `auth` (client → server): log an existing device in by signing the challenge nonce. */
export interface AuthFrame { kind: FrameKind.Auth; rid: RequestId; userId: UserId; deviceId: DeviceId; signature: Uint8Array }
/** `welcome` (server → client): authentication succeeded; the session's parameters. */
export interface WelcomeFrame {
  kind: FrameKind.Welcome; rid: RequestId; userId: UserId; deviceId: DeviceId; sessionId: string;
  serverTime: Timestamp; pingIntervalMs: number; maxPayloadBytes: number;
}
/** `ping` (either direction): the peer answers `pong` with the same rid. */
export interface PingFrame { kind: FrameKind.Ping; rid: RequestId }
/** `pong` (either direction): answers `ping`. */
export interface PongFrame { kind: FrameKind.Pong; rid: RequestId }
/** `error` (server → client): `code` is a wire code from ERROR_CODES; `rid` is null when no request is at fault. */
export interface ErrorFrame { kind: FrameKind.Error; rid: RequestId | null; code: number; message: string; field: string | null }
/** `ok` (server → client): success of a request with nothing else to say (receipt, pre-key upload). */
export interface OkFrame { kind: FrameKind.Ok; rid: RequestId }

/** One recipient device's copy of a message. `deviceId` 0 = every device (only with `Opaque`, alone). */
export interface DeviceEnvelope { deviceId: DeviceId; registrationId: number; type: CiphertextType; ciphertext: Uint8Array }
/**
 * `send` (client → server): one message to every device of `to`, one ciphertext per device.
 * `resend` is true on a retransmission of a send whose outcome the client did not see; absent
 * (or false) on a first transmission, which the server stores without looking for a duplicate.
 */
export interface SendFrame {
  kind: FrameKind.Send; rid: RequestId; messageId: MessageId; to: UserId; envelopes: DeviceEnvelope[];
  resend?: boolean;
}
/** `sent` (server → client): the message is durable; a `resend` of the same messageId returns the same frame. */
export interface SentFrame { kind: FrameKind.Sent; rid: RequestId; messageId: MessageId; serverTime: Timestamp }
/** `deliver` (server → client): one message for this device; ack it by `seq`. */
export interface DeliverFrame {
  kind: FrameKind.Deliver; seq: DeliverySeq; from: UserId; fromDevice: DeviceId; messageId: MessageId;
  serverTime: Timestamp; type: CiphertextType; ciphertext: Uint8Array;
}
/** `ack` (client → server): these deliveries/notices are stored on the device; no reply. */
export interface AckFrame { kind: FrameKind.Ack; rid: RequestId; seqs: DeliverySeq[] }
/** `receipt` (client → server): the user read these messages from `to`; answered by `ok`. */
export interface ReceiptFrame { kind: FrameKind.Receipt; rid: RequestId; status: ReceiptStatus; to: UserId; messageIds: MessageId[] }
/** `receipt-notice` (server → client): a device of `by` received/read these messages; ack it by `seq`. */
export interface ReceiptNoticeFrame {
  kind: FrameKind.ReceiptNotice; seq: DeliverySeq; status: ReceiptStatus; by: UserId; byDevice: DeviceId;
  serverTime: Timestamp; messageIds: MessageId[];
}
/** `mismatched-devices` (server → client): a `send` did not address exactly the recipient's current devices. */
export interface MismatchedDevicesFrame {
  kind: FrameKind.MismatchedDevices; rid: RequestId; userId: UserId;
  missing: DeviceId[]; extra: DeviceId[]; stale: DeviceId[];
}

/** An EC pre-key (one-time): id and 33-byte serialized public key. */
export interface PreKey { id: number; publicKey: Uint8Array }
/** A signed pre-key (EC signed, or Kyber): id, public key and the identity key's 64-byte signature of it. */
export interface SignedPreKey { id: number; publicKey: Uint8Array; signature: Uint8Array }

/** `prekey-upload` (client → server): replace signed/last-resort keys (when non-null) and add one-time keys. */
export interface PreKeyUploadFrame {
  kind: FrameKind.PreKeyUpload; rid: RequestId; identityKey: Uint8Array; registrationId: number;
  signedPreKey: SignedPreKey | null; kyberLastResort: SignedPreKey | null;
  oneTimePreKeys: PreKey[]; oneTimeKyberPreKeys: SignedPreKey[];
}
/** `prekey-fetch` (client → server): bundles of one device of `userId`, or of all with deviceId 0. */
export interface PreKeyFetchFrame { kind: FrameKind.PreKeyFetch; rid: RequestId; userId: UserId; deviceId: DeviceId }
/** One device's pre-key bundle, as libsignal's `PreKeyBundle.new` takes it. */
export interface PreKeyBundle {
  deviceId: DeviceId; registrationId: number; identityKey: Uint8Array; signedPreKey: SignedPreKey;
  oneTimePreKey: PreKey | null; kyberPreKey: SignedPreKey;
}
/** `prekey-bundles` (server → client): answers `prekey-fetch`. */
export interface PreKeyBundlesFrame { kind: FrameKind.PreKeyBundles; rid: RequestId; userId: UserId; bundles: PreKeyBundle[] }
/** `prekeys-low` (server → client): this device's one-time key stock is low; upload more. */
export interface PreKeysLowFrame { kind: FrameKind.PreKeysLow; ecCount: number; kyberCount: number }
/** `link-device` (client → server): ask for a one-use token that lets a new device `register` into this account. */
export interface LinkDeviceFrame { kind: FrameKind.LinkDevice; rid: RequestId }
/** `link-token` (server → client): answers `link-device`. */
export interface LinkTokenFrame { kind: FrameKind.LinkToken; rid: RequestId; token: Uint8Array; expiresAt: Timestamp }

/** Every frame a client may send. */
export type ClientFrame =
  | HelloFrame | RegisterFrame | AuthFrame | PingFrame | PongFrame | SendFrame | AckFrame | ReceiptFrame
  | PreKeyUploadFrame | PreKeyFetchFrame | LinkDeviceFrame;

/** Every frame a server may send. */
export type ServerFrame =
  | ChallengeFrame | WelcomeFrame | PingFrame | PongFrame | ErrorFrame | OkFrame | SentFrame | DeliverFrame
  | ReceiptNoticeFrame | MismatchedDevicesFrame | PreKeyBundlesFrame | PreKeysLowFrame | LinkTokenFrame;

/** Any frame. */
export type Frame = ClientFrame | ServerFrame;

/** Kinds a client may send (ping/pong go both ways). */
export const CLIENT_KINDS: ReadonlySet<FrameKind> = new Set([
  FrameKind.Hello, FrameKind.Register, FrameKind.Auth, FrameKind.Ping, FrameKind.Pong, FrameKind.Send,
  FrameKind.Ack, FrameKind.Receipt, FrameKind.PreKeyUpload, FrameKind.PreKeyFetch, FrameKind.LinkDevice,
]);

/** Kinds a server may send. */
export const SERVER_KINDS: ReadonlySet<FrameKind> = new Set([
  FrameKind.Challenge, FrameKind.Welcome, FrameKind.Ping, FrameKind.Pong, FrameKind.Error, FrameKind.Ok,
  FrameKind.Sent, FrameKind.Deliver, FrameKind.ReceiptNotice, FrameKind.MismatchedDevices,
  FrameKind.PreKeyBundles, FrameKind.PreKeysLow, FrameKind.LinkToken,
]);

/** Spec names of the kinds (kebab-case), for logs and errors. */
export const FRAME_NAMES: Readonly<Record<FrameKind, string>> = {
  [FrameKind.Hello]: 'hello', [FrameKind.Challenge]: 'challenge', [FrameKind.Register]: 'register',
  [FrameKind.Auth]: 'auth', [FrameKind.Welcome]: 'welcome', [FrameKind.Ping]: 'ping', [FrameKind.Pong]: 'pong',
  [FrameKind.Error]: 'error', [FrameKind.Ok]: 'ok', [FrameKind.Send]: 'send', [FrameKind.Sent]: 'sent',
  [FrameKind.Deliver]: 'deliver', [FrameKind.Ack]: 'ack', [FrameKind.Receipt]: 'receipt',
  [FrameKind.ReceiptNotice]: 'receipt-notice', [FrameKind.MismatchedDevices]: 'mismatched-devices',
  [FrameKind.PreKeyUpload]: 'prekey-upload', [FrameKind.PreKeyFetch]: 'prekey-fetch',
  [FrameKind.PreKeyBundles]: 'prekey-bundles', [FrameKind.PreKeysLow]: 'prekeys-low',
  [FrameKind.LinkDevice]: 'link-device', [FrameKind.LinkToken]: 'link-token',
};
