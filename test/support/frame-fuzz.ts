/**
 * Bad input for the gateway, generated from a seeded PRNG, and the oracle
 * that says what the server must answer to each input in each connection
 * state. The oracle is the protocol itself (`decodeFrame`, `nextState`,
 * `recordViolation`): the same pure functions the spec is written from, so
 * a test compares the running node against the specification, frame by frame.
 */
import { Packr, Unpackr } from 'msgpackr';
import {
  CiphertextType, ERROR_CODES, FrameKind, PROTOCOL_VERSION, ReceiptStatus, decodeFrame, encodeFrame, nextState, recordViolation,
  type ClientFrame, type ErrorCode, type Frame, type ServerFrame, type ViolationRecord,
} from '../../protocol/index.ts';
import type { SeededRandom } from './raw-socket.ts';

/** One input: binary bytes or a text message. */
export interface FuzzInput {
  readonly label: string;
  readonly bytes?: Uint8Array;
  readonly text?: string;
}

/** Where the connection is, as far as the test knows. */
export type SimState = 'awaiting-hello' | 'awaiting-auth' | 'ready';

/** What the server must do with one input. */
export type Expected =
  /** An error frame with `code` and `rid`; with `close`, then a close with that code (and TOO_MANY_VIOLATIONS first when `tooMany`). */
  | { readonly t: 'violation'; readonly code: ErrorCode; readonly rid: number | null; readonly close: number | undefined; readonly tooMany: boolean }
  /** A valid hello: `challenge` with the same rid. */
  | { readonly t: 'challenge'; readonly rid: number }
  /** A register/auth with a signature that cannot verify: AUTH_FAILED, close 4401. */
  | { readonly t: 'auth-failed'; readonly rid: number }
  /** A valid ping: `pong` with the same rid. */
  | { readonly t: 'pong'; readonly rid: number }
  /** Accepted, no reply now (pong), or a reply later from the session (send/ack/receipt/pre-keys): any well-formed server frame. */
  | { readonly t: 'accepted' };

/** Ids the generator addresses: users that do not exist, and one that exists and never reads. */
export interface FuzzTargets {
  readonly ghosts: readonly string[];
  readonly sink: string;
  /** Existing users whose devices auth frames claim (with signatures that cannot verify). */
  readonly victims: readonly { userId: string; deviceId: number }[];
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

const SERVER_ONLY: readonly FrameKind[] = [
  FrameKind.Challenge, FrameKind.Welcome, FrameKind.Error, FrameKind.Ok, FrameKind.Sent, FrameKind.Deliver,
  FrameKind.ReceiptNotice, FrameKind.MismatchedDevices, FrameKind.PreKeyBundles, FrameKind.PreKeysLow, FrameKind.LinkToken,
];

function ecKey(r: SeededRandom): Uint8Array {
  const k = r.bytes(33);
  k[0] = 0x05;
  return k;
}

function id(r: SeededRandom, prefix: string): string {
  return `${prefix}${r.int(1e9).toString(36)}`;
}

/** A well-formed client frame of a random client kind. */
export function randomClientFrame(r: SeededRandom, to: FuzzTargets): ClientFrame {
  const rid = r.int(0xffffffff);
  const target = r.next() < 0.3 ? to.sink : r.pick(to.ghosts);
  switch (r.int(11)) {
    case 0: return { kind: FrameKind.Hello, rid, version: PROTOCOL_VERSION, clientInfo: 'fuzz/1' };
    case 1: return { kind: FrameKind.Register, rid, identityKey: ecKey(r), registrationId: 1 + r.int(16383), signature: r.bytes(64), linkToken: r.next() < 0.2 ? r.bytes(16) : null };
    case 2: {
      const v = r.next() < 0.5 ? r.pick(to.victims) : { userId: r.pick(to.ghosts), deviceId: 1 + r.int(127) };
      return { kind: FrameKind.Auth, rid, userId: v.userId, deviceId: v.deviceId, signature: r.bytes(64) };
    }
    case 3: return { kind: FrameKind.Ping, rid };
    case 4: return { kind: FrameKind.Pong, rid };
    case 5: {
      const opaque = r.next() < 0.6;
      const envelopes = opaque
        ? [{ deviceId: 0, registrationId: 0, type: CiphertextType.Opaque, ciphertext: r.bytes(1 + r.int(48)) }]
        : Array.from({ length: 1 + r.int(3) }, (_, i) => ({ deviceId: i + 1, registrationId: r.int(16384), type: CiphertextType.Whisper, ciphertext: r.bytes(1 + r.int(48)) }));
      return { kind: FrameKind.Send, rid, messageId: id(r, 'm'), to: target, envelopes };
    }
    case 6: return { kind: FrameKind.Ack, rid, seqs: Array.from({ length: 1 + r.int(5) }, () => r.int(1e6)) };
    case 7: return { kind: FrameKind.Receipt, rid, status: ReceiptStatus.Read, to: target, messageIds: [id(r, 'm'), id(r, 'm')] };
    case 8: return {
      kind: FrameKind.PreKeyUpload, rid, identityKey: ecKey(r), registrationId: 1 + r.int(16383),
      signedPreKey: { id: r.int(1000), publicKey: ecKey(r), signature: r.bytes(64) },
      kyberLastResort: null, oneTimePreKeys: [{ id: r.int(1000), publicKey: ecKey(r) }], oneTimeKyberPreKeys: [],
    };
    case 9: return { kind: FrameKind.PreKeyFetch, rid, userId: target, deviceId: r.int(3) };
    default: return { kind: FrameKind.LinkDevice, rid };
  }
}

/** A well-formed frame of a server-only kind (a client must never send one). */
export function randomServerFrame(r: SeededRandom, to: FuzzTargets): ServerFrame {
  const rid = r.int(0xffffffff);
  const kind = r.pick(SERVER_ONLY);
  switch (kind) {
    case FrameKind.Challenge: return { kind, rid, version: 1, nonce: r.bytes(32), serverTime: 1_700_000_000_000 };
    case FrameKind.Welcome: return { kind, rid, userId: to.sink, deviceId: 1, sessionId: 's', serverTime: 1, pingIntervalMs: 1, maxPayloadBytes: 1 };
    case FrameKind.Error: return { kind, rid, code: 100, message: 'x', field: null };
    case FrameKind.Ok: return { kind, rid };
    case FrameKind.Sent: return { kind, rid, messageId: 'm', serverTime: 1 };
    // A forged delivery "from" another user: refused as a server-only kind.
    case FrameKind.Deliver: return { kind, seq: 1, from: r.pick(to.victims).userId, fromDevice: 1, messageId: 'forged', serverTime: 1, type: CiphertextType.Opaque, ciphertext: r.bytes(4) };
    case FrameKind.ReceiptNotice: return { kind, seq: 1, status: ReceiptStatus.Read, by: to.sink, byDevice: 1, serverTime: 1, messageIds: ['m'] };
    case FrameKind.MismatchedDevices: return { kind, rid, userId: to.sink, missing: [1], extra: [], stale: [] };
    case FrameKind.PreKeyBundles: return { kind, rid, userId: to.sink, bundles: [] };
    case FrameKind.PreKeysLow: return { kind, ecCount: 1, kyberCount: 1 };
    default: return { kind: FrameKind.LinkToken, rid, token: r.bytes(16), expiresAt: 1 };
  }
}

/** Values of the wrong type for any field. */
function wrongValue(r: SeededRandom): unknown {
  switch (r.int(12)) {
    case 0: return 'not-a-number';
    case 1: return -1 - r.int(1000);
    case 2: return 1.5;
    case 3: return 2 ** 60;
    case 4: return null;
    case 5: return true;
    case 6: return { a: 1 };
    case 7: return [];
    case 8: return [1, [2, [3]]];
    case 9: return r.bytes(r.int(70));
    case 10: return 'é'.repeat(200);
    default: return Number.NaN;
  }
}

/** Hand-made byte strings aimed at the msgpack parser itself. */
function parserTrap(r: SeededRandom): FuzzInput {
  switch (r.int(7)) {
    case 0: { // deep nesting: [[[[…]]]]
      const depth = 5000 + r.int(20000);
      const b = new Uint8Array(depth + 1).fill(0x91);
      b[depth] = 0x06;
      return { label: 'trap:deep-nesting', bytes: b };
    }
    case 1: return { label: 'trap:array32-huge-count', bytes: Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x06) };
    case 2: return { label: 'trap:str32-huge-length', bytes: Uint8Array.of(0x92, 0x01, 0xdb, 0x7f, 0xff, 0xff, 0xff, 0x41) };
    case 3: return { label: 'trap:bin32-huge-length', bytes: Uint8Array.of(0x92, 0x06, 0xc6, 0xff, 0xff, 0xff, 0xf0, 0x00) };
    case 4: { // a map with a __proto__ key where a field is expected
      const proto = Buffer.from('__proto__');
      return { label: 'trap:proto-map', bytes: Uint8Array.from([0x92, 0x06, 0x81, 0xa0 | proto.length, ...proto, 0x81, 0xa1, 0x78, 0x01]) };
    }
    case 5: { // a valid ping followed by trailing garbage
      return { label: 'trap:trailing-bytes', bytes: Uint8Array.from([0x92, 0x06, 0x07, ...r.bytes(1 + r.int(8))]) };
    }
    default: return { label: 'trap:ext-type', bytes: Uint8Array.of(0x92, 0x06, 0xd4, 0x01, 0x02) };
  }
}

/** One storm input, valid or not. */
export function randomInput(r: SeededRandom, to: FuzzTargets): FuzzInput {
  const x = r.next();
  if (x < 0.12) return { label: 'random-bytes', bytes: r.bytes(r.int(64)) };
  if (x < 0.20) {
    const b = r.bytes(1 + r.int(64));
    b[0] = 0x90 | r.int(16);
    return { label: 'random-array', bytes: b };
  }
  if (x < 0.24) return { label: 'text', text: r.next() < 0.5 ? 'hello' : Buffer.from(encodeFrame(randomClientFrame(r, to))).toString('latin1') };
  if (x < 0.30) return { label: 'server-kind', bytes: encodeFrame(randomServerFrame(r, to)) };
  if (x < 0.38) return { label: 'valid', bytes: encodeFrame(randomClientFrame(r, to)) };
  if (x < 0.42) return parserTrap(r);
  const base: Frame = randomClientFrame(r, to);
  const bytes = encodeFrame(base);
  if (x < 0.60) {
    const b = Uint8Array.from(bytes);
    for (let n = 1 + r.int(3); n > 0; n--) b[r.int(b.length)] ^= 1 << r.int(8);
    return { label: 'flipped', bytes: b };
  }
  if (x < 0.70) return { label: 'truncated', bytes: bytes.slice(0, r.int(bytes.length)) };
  const a = unpackr.unpack(bytes) as unknown[];
  if (x < 0.86) {
    a[1 + r.int(a.length - 1)] = wrongValue(r);
    return { label: 'wrong-type', bytes: packr.pack(a) };
  }
  if (x < 0.92) {
    if (r.next() < 0.5) a.push(wrongValue(r));
    else a.pop();
    return { label: 'wrong-arity', bytes: packr.pack(a) };
  }
  a[0] = r.next() < 0.8 ? r.pick([0, 17, 18, 19, 26, 99, 127, 128, 255, -1]) : r.pick<unknown>(['send', 1.25, null, [10]]);
  return { label: 'wrong-kind', bytes: packr.pack(a) };
}

/**
 * Inputs that an authenticated connection survives one by one (bad field
 * values, handshake frames out of order, valid requests), so that a socket
 * collects violations up to the policy's limit and is closed for too many.
 */
export function randomSoftInput(r: SeededRandom, to: FuzzTargets): FuzzInput {
  const x = r.next();
  const base = randomClientFrame(r, to);
  if (x < 0.3) return { label: 'soft:valid', bytes: encodeFrame(base) };
  if (x < 0.45) return { label: 'soft:handshake', bytes: encodeFrame({ kind: FrameKind.Hello, rid: r.int(1000), version: PROTOCOL_VERSION, clientInfo: 'again' }) };
  const a = unpackr.unpack(encodeFrame(base)) as unknown[];
  a[1] = r.pick<unknown>(['rid', -5, 2 ** 33, 1.5, null]);
  return { label: 'soft:bad-rid', bytes: packr.pack(a) };
}

/**
 * What the server must answer to `input` in `state`, given the violations the
 * connection already had; returns the violation record after it too.
 */
export function expectedOutcome(state: SimState, violations: ViolationRecord, input: FuzzInput, nowMs: number): { expected: Expected; violations: ViolationRecord } {
  const authenticated = state === 'ready';
  const refuse = (code: ErrorCode, rid: number | null) => {
    const action = recordViolation(violations, code, nowMs, authenticated);
    const expected: Expected = action.action === 'error'
      ? { t: 'violation', code, rid, close: undefined, tooMany: false }
      : { t: 'violation', code, rid, close: action.closeCode, tooMany: action.code !== code };
    return { expected, violations: action.record };
  };
  if (input.bytes === undefined) return refuse('PARLEY_ERR_MALFORMED_FRAME', null);
  // The server decodes the Buffer ws hands it; decode the same kind of object.
  const decoded = decodeFrame(Buffer.from(input.bytes));
  if (!decoded.ok) return refuse(decoded.error.code, decoded.error.rid);
  const frame = decoded.frame;
  const rid = 'rid' in frame && typeof frame.rid === 'number' ? frame.rid : null;
  const next = nextState(state, frame.kind);
  if (!next.ok) return refuse(next.code, rid);
  const ok = (expected: Expected) => ({ expected, violations });
  switch (frame.kind) {
    case FrameKind.Hello: return ok({ t: 'challenge', rid: frame.rid });
    case FrameKind.Register:
    case FrameKind.Auth: return ok({ t: 'auth-failed', rid: frame.rid });
    case FrameKind.Ping: return ok({ t: 'pong', rid: frame.rid });
    default: return ok({ t: 'accepted' });
  }
}

/** The state after an input the server accepted. */
export function stateAfter(state: SimState, expected: Expected): SimState {
  return expected.t === 'challenge' ? 'awaiting-auth' : state;
}

/** Wire number of a code (for matching error frames). */
export function wireOf(code: ErrorCode): number {
  return ERROR_CODES[code].wire;
}
