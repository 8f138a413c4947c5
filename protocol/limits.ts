/**
 * Size and count limits enforced by `decodeFrame`. One object, defaults in one
 * block; the server passes its configured limits, the SDK the defaults.
 * Set the WebSocket library's own max message size (ws `maxPayload`) to
 * `maxFrameBytes` so oversized frames are refused before they are buffered.
 */
export interface ProtocolLimits {
  /** Largest encoded frame. Fits a pre-key upload of 100 EC + 100 Kyber one-time keys (~170 KiB). @default 262144 (256 KiB) */
  readonly maxFrameBytes: number;
  /** Largest ciphertext of one device in `send`/`deliver`. @default 65536 (64 KiB) */
  readonly maxPayloadBytes: number;
  /** Most device envelopes in one `send` (and bundles in one `prekey-bundles`). @default 32 */
  readonly maxDevicesPerSend: number;
  /** Highest device id (libsignal allows 1..127). @default 127 */
  readonly maxDeviceId: number;
  /** Most seqs in one `ack`. @default 256 */
  readonly maxIdsPerAck: number;
  /** Most message ids in one `receipt` / `receipt-notice`. @default 256 */
  readonly maxIdsPerReceipt: number;
  /** Longest user id, in bytes. @default 64 */
  readonly maxUserIdBytes: number;
  /** Longest client message id, in bytes. @default 64 */
  readonly maxMessageIdBytes: number;
  /** Longest `hello.clientInfo`, `welcome.sessionId`, in bytes. @default 128 */
  readonly maxClientInfoBytes: number;
  /** Longest `error.message`, in UTF-16 units. @default 512 */
  readonly maxErrorMessageLength: number;
  /** Most one-time keys of each type (EC, Kyber) in one `prekey-upload`. @default 100 */
  readonly maxPreKeysPerUpload: number;
  /** Longest serialized KEM (Kyber) public key; Kyber1024 is 1569 bytes. @default 2048 */
  readonly maxKemPublicKeyBytes: number;
  /** Longest device ids list in `mismatched-devices`, per list. @default 32 */
  readonly maxMismatchedDevices: number;
}

/** Default limits (see each field's `@default`). */
export const DEFAULT_LIMITS: ProtocolLimits = Object.freeze({
  maxFrameBytes: 256 * 1024,
  maxPayloadBytes: 64 * 1024,
  maxDevicesPerSend: 32,
  maxDeviceId: 127,
  maxIdsPerAck: 256,
  maxIdsPerReceipt: 256,
  maxUserIdBytes: 64,
  maxMessageIdBytes: 64,
  maxClientInfoBytes: 128,
  maxErrorMessageLength: 512,
  maxPreKeysPerUpload: 100,
  maxKemPublicKeyBytes: 2048,
  maxMismatchedDevices: 32,
});

/** DEFAULT_LIMITS overridden by `overrides`; resolve once at start-up, not per frame. */
export function resolveLimits(overrides: Partial<ProtocolLimits> = {}): ProtocolLimits {
  return Object.freeze({ ...DEFAULT_LIMITS, ...overrides });
}

/** Fixed sizes of the protocol (not configurable: they are those of the keys). */
export const NONCE_BYTES = 32;
/** Serialized Curve25519 public key: type byte 0x05 + 32 bytes. */
export const EC_PUBLIC_KEY_BYTES = 33;
/** XEdDSA signature. */
export const SIGNATURE_BYTES = 64;
/** Largest Signal registration id (14 bits). */
export const MAX_REGISTRATION_ID = 0x3fff;
/** Link tokens are 16..64 bytes. */
export const MIN_LINK_TOKEN_BYTES = 16;
export const MAX_LINK_TOKEN_BYTES = 64;
