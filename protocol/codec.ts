/**
 * Encoding and decoding of frames: `encodeFrame` for what we send,
 * `decodeFrame` for what we receive. Decode runs once per inbound frame, so it
 * never throws (garbage is normal input from the network) and allocates only
 * the frame it returns.
 *
 * msgpackr is used without records or shared structures: every frame is a plain
 * msgpack array, so any msgpack library can speak the protocol from README.md.
 * Records would save the field names we never send anyway; positional arrays
 * are already as small as the values.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { ErrorCode } from './errors.ts';
import { FRAME_NAMES, FrameKind, type Frame, type PreKey, type SignedPreKey } from './frames.ts';
import { DEFAULT_LIMITS, type ProtocolLimits } from './limits.ts';
import { FieldViolation } from './fields.ts';
import { FIELD_COUNT, MAX_FIELD_COUNT, readerFor } from './validate.ts';

/** Why a frame could not be decoded. `field` names the offending field (e.g. `envelopes[1].ciphertext`). */
export interface DecodeError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly field: string | null;
  /** The frame kind, when the bytes got that far. */
  readonly kind: number | null;
  /** The request id to echo in the `error` frame, when the frame carried a valid one. */
  readonly rid: number | null;
}

/** Result of `decodeFrame`: a typed frame or a typed error, never an exception. */
export type DecodeResult = { readonly ok: true; readonly frame: Frame } | { readonly ok: false; readonly error: DecodeError };

// Decoded bins are views into the input bytes (no copy); a consumer that keeps a
// ciphertext long after the frame (e.g. an in-memory inbox) may copy it to free the rest.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const packr = new Packr({ useRecords: false });

/** Kinds whose field 1 is not a request id (server pushes). */
const NO_RID: ReadonlySet<number> = new Set([FrameKind.Deliver, FrameKind.ReceiptNotice, FrameKind.PreKeysLow]);

function failure(code: ErrorCode, message: string, field: string | null = null, kind: number | null = null, rid: number | null = null): DecodeResult {
  return { ok: false, error: { code, message, field, kind, rid } };
}

function ridOf(kind: number, a: unknown[]): number | null {
  const v = a[1];
  return !NO_RID.has(kind) && typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : null;
}

/**
 * Decodes and validates one frame (one WebSocket binary message).
 * @param bytes the message as received
 * @param limits sizes and counts to enforce @default DEFAULT_LIMITS
 */
export function decodeFrame(bytes: Uint8Array, limits: ProtocolLimits = DEFAULT_LIMITS): DecodeResult {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return failure('PARLEY_ERR_MALFORMED_FRAME', 'empty or non-binary frame');
  if (bytes.length > limits.maxFrameBytes) {
    return failure('PARLEY_ERR_FRAME_TOO_LARGE', `frame is ${bytes.length} bytes, max ${limits.maxFrameBytes}`);
  }
  // every frame is an array: refuse anything else before msgpackr spends time on it
  const head = bytes[0]!;
  if ((head & 0xf0) !== 0x90 && head !== 0xdc && head !== 0xdd) {
    return failure('PARLEY_ERR_MALFORMED_FRAME', 'a frame must be a msgpack array');
  }
  let value: unknown;
  try {
    value = unpackr.unpack(bytes);
  } catch {
    return failure('PARLEY_ERR_MALFORMED_FRAME', 'invalid msgpack');
  }
  const a = value as unknown[];
  const kind = a[0];
  if (typeof kind !== 'number' || !Number.isInteger(kind)) return failure('PARLEY_ERR_MALFORMED_FRAME', 'frame kind must be an integer');
  const read = readerFor(kind);
  if (read === undefined) return failure('PARLEY_ERR_UNKNOWN_FRAME', `unknown frame kind ${kind}`, null, kind);
  const fields = FIELD_COUNT[kind as FrameKind];
  const most = MAX_FIELD_COUNT[kind as FrameKind];
  if (a.length < fields + 1 || a.length > most + 1) {
    const expected = most === fields ? `${fields}` : `${fields} to ${most}`;
    return failure('PARLEY_ERR_MALFORMED_FRAME', `${FRAME_NAMES[kind as FrameKind]} has ${expected} fields, got ${a.length - 1}`, null, kind, ridOf(kind, a));
  }
  try {
    return { ok: true, frame: read(a, limits) };
  } catch (err) {
    if (err instanceof FieldViolation) return failure(err.code, err.message, err.field, kind, ridOf(kind, a));
    // a reader bug, not bad input: say so rather than blame the peer
    return failure('PARLEY_ERR_INTERNAL', `decoder fault: ${String(err)}`, null, kind, ridOf(kind, a));
  }
}

/** Integers above uint32 go out as msgpack int64 (not msgpackr's default float64) so every decoder reads an integer. */
function wide(n: number): number | bigint {
  return n > 0xffffffff ? BigInt(n) : n;
}

const preKey = (k: PreKey): unknown[] => [k.id, k.publicKey];
const signedPreKey = (k: SignedPreKey): unknown[] => [k.id, k.publicKey, k.signature];

/** The wire array of a frame, in README field order. */
function toArray(f: Frame): unknown[] {
  switch (f.kind) {
    case FrameKind.Hello: return [f.kind, f.rid, f.version, f.clientInfo];
    case FrameKind.Challenge: return [f.kind, f.rid, f.version, f.nonce, wide(f.serverTime)];
    case FrameKind.Register: return [f.kind, f.rid, f.identityKey, f.registrationId, f.signature, f.linkToken];
    case FrameKind.Auth: return [f.kind, f.rid, f.userId, f.deviceId, f.signature];
    case FrameKind.Welcome:
      return [f.kind, f.rid, f.userId, f.deviceId, f.sessionId, wide(f.serverTime), f.pingIntervalMs, f.maxPayloadBytes];
    case FrameKind.Ping: case FrameKind.Pong: case FrameKind.Ok: case FrameKind.LinkDevice: return [f.kind, f.rid];
    case FrameKind.Error: return [f.kind, f.rid, f.code, f.message, f.field];
    case FrameKind.Send: {
      const envelopes = f.envelopes.map((e) => [e.deviceId, e.registrationId, e.type, e.ciphertext]);
      // `resend` is trailing and optional: left out unless true, so a first transmission costs nothing
      return f.resend === true
        ? [f.kind, f.rid, f.messageId, f.to, envelopes, true]
        : [f.kind, f.rid, f.messageId, f.to, envelopes];
    }
    case FrameKind.Sent: return [f.kind, f.rid, f.messageId, wide(f.serverTime)];
    case FrameKind.Deliver:
      return [f.kind, wide(f.seq), f.from, f.fromDevice, f.messageId, wide(f.serverTime), f.type, f.ciphertext];
    case FrameKind.Ack: return [f.kind, f.rid, f.seqs.map(wide)];
    case FrameKind.Receipt: return [f.kind, f.rid, f.status, f.to, f.messageIds];
    case FrameKind.ReceiptNotice:
      return [f.kind, wide(f.seq), f.status, f.by, f.byDevice, wide(f.serverTime), f.messageIds];
    case FrameKind.MismatchedDevices: return [f.kind, f.rid, f.userId, f.missing, f.extra, f.stale];
    case FrameKind.PreKeyUpload:
      return [f.kind, f.rid, f.identityKey, f.registrationId,
        f.signedPreKey === null ? null : signedPreKey(f.signedPreKey),
        f.kyberLastResort === null ? null : signedPreKey(f.kyberLastResort),
        f.oneTimePreKeys.map(preKey), f.oneTimeKyberPreKeys.map(signedPreKey)];
    case FrameKind.PreKeyFetch: return [f.kind, f.rid, f.userId, f.deviceId];
    case FrameKind.PreKeyBundles:
      return [f.kind, f.rid, f.userId, f.bundles.map((b) => [b.deviceId, b.registrationId, b.identityKey,
        signedPreKey(b.signedPreKey), b.oneTimePreKey === null ? null : preKey(b.oneTimePreKey), signedPreKey(b.kyberPreKey)])];
    case FrameKind.PreKeysLow: return [f.kind, f.ecCount, f.kyberCount];
    case FrameKind.LinkToken: return [f.kind, f.rid, f.token, wide(f.expiresAt)];
  }
}

/**
 * Encodes a frame for one WebSocket binary message. It trusts its input (frames
 * we build); the peer validates with `decodeFrame`. Returns a fresh view the
 * caller may hand to `ws.send` directly.
 */
export function encodeFrame(frame: Frame): Uint8Array {
  return packr.pack(toArray(frame));
}
