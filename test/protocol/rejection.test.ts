/**
 * For every frame kind: a malformed variant (wrong field count, wrong field type),
 * an oversized variant (frame over maxFrameBytes, and the kind's own bounded field)
 * and an unauthorised variant (sent before authentication, or by the wrong side),
 * each asserting the stable error code by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr, Unpackr } from 'msgpackr';
import {
  CLIENT_KINDS, DEFAULT_LIMITS, FRAME_NAMES, FrameKind, decodeFrame, encodeFrame, nextState, resolveLimits,
  type ErrorCode,
} from '../../protocol/index.ts';
import { ALL_KINDS, SAMPLES, seqBytes } from './fixtures.ts';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });

/** The sample's wire array, for mutation. */
function wire(kind: FrameKind): unknown[] {
  return unpackr.unpack(encodeFrame(SAMPLES[kind])) as unknown[];
}

function expectError(bytes: Uint8Array, code: ErrorCode, field?: string, limits = DEFAULT_LIMITS): void {
  const r = decodeFrame(bytes, limits);
  assert.equal(r.ok, false, 'decoded a frame that should have been refused');
  if (r.ok) return;
  assert.equal(r.error.code, code, r.error.message);
  if (field !== undefined) assert.equal(r.error.field, field);
}

const long = (n: number): string => 'x'.repeat(n);
const K = DEFAULT_LIMITS;

/** Per kind: a field to corrupt with a wrong type, and a field to blow past its limit. */
const CASES: { readonly [Kd in FrameKind]: {
  badType: [index: number, field: string];
  oversize: [mutate: (a: unknown[]) => void, code: ErrorCode, field: string];
} } = {
  [FrameKind.Hello]: { badType: [3, 'clientInfo'], oversize: [(a) => { a[3] = long(K.maxClientInfoBytes + 1); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'clientInfo'] },
  [FrameKind.Challenge]: { badType: [3, 'nonce'], oversize: [(a) => { a[3] = seqBytes(33); }, 'PARLEY_ERR_INVALID_FIELD', 'nonce'] },
  [FrameKind.Register]: { badType: [2, 'identityKey'], oversize: [(a) => { a[5] = seqBytes(65); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'linkToken'] },
  [FrameKind.Auth]: { badType: [3, 'deviceId'], oversize: [(a) => { a[2] = long(K.maxUserIdBytes + 1); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'userId'] },
  [FrameKind.Welcome]: { badType: [5, 'serverTime'], oversize: [(a) => { a[4] = long(K.maxClientInfoBytes + 1); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'sessionId'] },
  [FrameKind.Ping]: { badType: [1, 'rid'], oversize: [(a) => { a[1] = 2 ** 32; }, 'PARLEY_ERR_INVALID_FIELD', 'rid'] },
  [FrameKind.Pong]: { badType: [1, 'rid'], oversize: [(a) => { a[1] = 2 ** 32; }, 'PARLEY_ERR_INVALID_FIELD', 'rid'] },
  [FrameKind.Error]: { badType: [2, 'code'], oversize: [(a) => { a[3] = long(K.maxErrorMessageLength + 1); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'message'] },
  [FrameKind.Ok]: { badType: [1, 'rid'], oversize: [(a) => { a[1] = 2 ** 32; }, 'PARLEY_ERR_INVALID_FIELD', 'rid'] },
  [FrameKind.Send]: {
    badType: [3, 'to'],
    oversize: [(a) => { (a[4] as unknown[][])[1]![3] = new Uint8Array(K.maxPayloadBytes + 1); }, 'PARLEY_ERR_PAYLOAD_TOO_LARGE', 'envelopes[1].ciphertext'],
  },
  [FrameKind.Sent]: { badType: [2, 'messageId'], oversize: [(a) => { a[2] = long(K.maxMessageIdBytes + 1); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'messageId'] },
  [FrameKind.Deliver]: {
    badType: [7, 'ciphertext'],
    oversize: [(a) => { a[7] = new Uint8Array(K.maxPayloadBytes + 1); }, 'PARLEY_ERR_PAYLOAD_TOO_LARGE', 'ciphertext'],
  },
  [FrameKind.Ack]: { badType: [2, 'seqs'], oversize: [(a) => { a[2] = Array.from({ length: K.maxIdsPerAck + 1 }, (_, i) => i); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'seqs'] },
  [FrameKind.Receipt]: { badType: [4, 'messageIds'], oversize: [(a) => { a[4] = Array.from({ length: K.maxIdsPerReceipt + 1 }, (_, i) => `m${i}`); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'messageIds'] },
  [FrameKind.ReceiptNotice]: { badType: [3, 'by'], oversize: [(a) => { a[6] = Array.from({ length: K.maxIdsPerReceipt + 1 }, (_, i) => `m${i}`); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'messageIds'] },
  [FrameKind.MismatchedDevices]: { badType: [3, 'missing'], oversize: [(a) => { a[5] = Array.from({ length: K.maxMismatchedDevices + 1 }, () => 1); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'stale'] },
  [FrameKind.PreKeyUpload]: {
    badType: [3, 'registrationId'],
    oversize: [(a) => { a[6] = Array.from({ length: K.maxPreKeysPerUpload + 1 }, (_, i) => [i, seqBytes(33)]); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'oneTimePreKeys'],
  },
  [FrameKind.PreKeyFetch]: { badType: [2, 'userId'], oversize: [(a) => { a[3] = K.maxDeviceId + 1; }, 'PARLEY_ERR_INVALID_FIELD', 'deviceId'] },
  [FrameKind.PreKeyBundles]: {
    badType: [2, 'userId'],
    oversize: [(a) => { ((a[3] as unknown[][])[0]![5] as unknown[])[1] = new Uint8Array(K.maxKemPublicKeyBytes + 1); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'bundles[0].kyberPreKey.publicKey'],
  },
  [FrameKind.PreKeysLow]: { badType: [1, 'ecCount'], oversize: [(a) => { a[2] = 2 ** 32; }, 'PARLEY_ERR_INVALID_FIELD', 'kyberCount'] },
  [FrameKind.LinkDevice]: { badType: [1, 'rid'], oversize: [(a) => { a[1] = 2 ** 32; }, 'PARLEY_ERR_INVALID_FIELD', 'rid'] },
  [FrameKind.LinkToken]: { badType: [2, 'token'], oversize: [(a) => { a[2] = seqBytes(65); }, 'PARLEY_ERR_FIELD_TOO_LARGE', 'token'] },
};

for (const kind of ALL_KINDS) {
  const name = FRAME_NAMES[kind];
  const c = CASES[kind];

  test(`protocol - malformed ${name}: a missing field is PARLEY_ERR_MALFORMED_FRAME`, () => {
    const a = wire(kind);
    a.pop();
    expectError(packr.pack(a), 'PARLEY_ERR_MALFORMED_FRAME');
    const b = wire(kind);
    b.push(0);
    expectError(packr.pack(b), 'PARLEY_ERR_MALFORMED_FRAME');
  });

  test(`protocol - malformed ${name}: a wrong field type is PARLEY_ERR_INVALID_FIELD naming the field`, () => {
    const a = wire(kind);
    a[c.badType[0]] = { not: 'expected' };
    expectError(packr.pack(a), 'PARLEY_ERR_INVALID_FIELD', c.badType[1]);
  });

  test(`protocol - malformed ${name}: truncated bytes are PARLEY_ERR_MALFORMED_FRAME`, () => {
    const bytes = encodeFrame(SAMPLES[kind]);
    expectError(bytes.subarray(0, bytes.length - 1), 'PARLEY_ERR_MALFORMED_FRAME');
  });

  test(`protocol - oversized ${name}: over maxFrameBytes is PARLEY_ERR_FRAME_TOO_LARGE`, () => {
    const bytes = encodeFrame(SAMPLES[kind]);
    expectError(bytes, 'PARLEY_ERR_FRAME_TOO_LARGE', undefined, resolveLimits({ maxFrameBytes: bytes.length - 1 }));
    assert.equal(decodeFrame(bytes, resolveLimits({ maxFrameBytes: bytes.length })).ok, true);
  });

  test(`protocol - oversized ${name}: ${c.oversize[2]} over its limit is ${c.oversize[1]}`, () => {
    const a = wire(kind);
    c.oversize[0](a);
    expectError(packr.pack(a), c.oversize[1], c.oversize[2]);
  });

  test(`protocol - unauthorised ${name}: refused before authentication or from the wrong side`, () => {
    const before = nextState('awaiting-auth', kind);
    if (!CLIENT_KINDS.has(kind)) {
      assert.deepEqual(before, { ok: false, state: 'awaiting-auth', code: 'PARLEY_ERR_UNEXPECTED_FRAME' });
      assert.deepEqual(nextState('ready', kind), { ok: false, state: 'ready', code: 'PARLEY_ERR_UNEXPECTED_FRAME' });
    } else if (kind === FrameKind.Hello) {
      assert.deepEqual(before, { ok: false, state: 'awaiting-auth', code: 'PARLEY_ERR_OUT_OF_ORDER' });
    } else if (kind === FrameKind.Register || kind === FrameKind.Auth) {
      assert.deepEqual(nextState('awaiting-hello', kind), { ok: false, state: 'awaiting-hello', code: 'PARLEY_ERR_OUT_OF_ORDER' });
      assert.deepEqual(nextState('ready', kind), { ok: false, state: 'ready', code: 'PARLEY_ERR_OUT_OF_ORDER' });
    } else if (kind === FrameKind.Ping || kind === FrameKind.Pong) {
      assert.deepEqual(nextState('awaiting-hello', kind), { ok: false, state: 'awaiting-hello', code: 'PARLEY_ERR_OUT_OF_ORDER' });
    } else {
      assert.deepEqual(before, { ok: false, state: 'awaiting-auth', code: 'PARLEY_ERR_NOT_AUTHENTICATED' });
      assert.deepEqual(nextState('ready', kind), { ok: true, state: 'ready' });
    }
  });
}

test('protocol - unknown frame kind is PARLEY_ERR_UNKNOWN_FRAME', () => {
  expectError(Buffer.from('927f01', 'hex'), 'PARLEY_ERR_UNKNOWN_FRAME');
  expectError(Buffer.from('920001', 'hex'), 'PARLEY_ERR_UNKNOWN_FRAME');
});

test('protocol - hello with an unknown version is PARLEY_ERR_UNSUPPORTED_VERSION', () => {
  // [1, 1, 2, "ts/1"]
  expectError(Buffer.from('94010102a474732f31', 'hex'), 'PARLEY_ERR_UNSUPPORTED_VERSION', 'version');
});

test('protocol - the error echoes the rid of the faulty request', () => {
  const a = wire(FrameKind.Send);
  a[3] = 42;
  const r = decodeFrame(packr.pack(a));
  assert.equal(!r.ok && r.error.rid, SAMPLES[FrameKind.Send].rid);
  assert.equal(!r.ok && r.error.kind, FrameKind.Send);
});

test('protocol - send rules: device 0 alone and opaque, no duplicate devices, ids charset', () => {
  const dup = wire(FrameKind.Send);
  (dup[4] as unknown[][])[1]![0] = 1;
  expectError(packr.pack(dup), 'PARLEY_ERR_INVALID_FIELD', 'envelopes[1].deviceId');
  const all = wire(FrameKind.Send);
  all[4] = [[0, 0, 0, seqBytes(10)]];
  assert.equal(decodeFrame(packr.pack(all)).ok, true, 'one opaque payload for all devices (pre-E2EE)');
  (all[4] as unknown[][])[0]![2] = 2;
  expectError(packr.pack(all), 'PARLEY_ERR_INVALID_FIELD', 'envelopes[0].deviceId');
  const empty = wire(FrameKind.Send);
  empty[4] = [];
  expectError(packr.pack(empty), 'PARLEY_ERR_INVALID_FIELD', 'envelopes');
  const badId = wire(FrameKind.Send);
  badId[3] = 'bob smith';
  expectError(packr.pack(badId), 'PARLEY_ERR_INVALID_FIELD', 'to');
  const tooMany = wire(FrameKind.Send);
  tooMany[4] = Array.from({ length: K.maxDevicesPerSend + 1 }, (_, i) => [i + 1, 1, 2, seqBytes(4)]);
  expectError(packr.pack(tooMany), 'PARLEY_ERR_FIELD_TOO_LARGE', 'envelopes');
});

test('protocol - send: a resend that is not a boolean is PARLEY_ERR_MALFORMED_FRAME naming resend, echoing the rid', () => {
  for (const bad of [0, 1, null, 'true', '', [], [true], { resend: true }, seqBytes(1), 1.5]) {
    const a = wire(FrameKind.Send);
    a.push(bad);
    const r = decodeFrame(packr.pack(a));
    assert.equal(r.ok, false, `resend ${JSON.stringify(bad)} accepted`);
    if (r.ok) continue;
    assert.equal(r.error.code, 'PARLEY_ERR_MALFORMED_FRAME', `resend ${JSON.stringify(bad)}`);
    assert.equal(r.error.field, 'resend');
    assert.equal(r.error.rid, SAMPLES[FrameKind.Send].rid);
    assert.equal(r.error.kind, FrameKind.Send);
  }
});

test('protocol - send: a field after resend is PARLEY_ERR_MALFORMED_FRAME (4 or 5 fields, no more)', () => {
  for (const resend of [true, false]) {
    const a = wire(FrameKind.Send);
    a.push(resend, true);
    const r = decodeFrame(packr.pack(a));
    assert.equal(!r.ok && r.error.code, 'PARLEY_ERR_MALFORMED_FRAME');
    assert.match(!r.ok ? r.error.message : '', /send has 4 to 5 fields, got 6/);
  }
  const ok = wire(FrameKind.Send);
  ok.push(true);
  assert.equal(decodeFrame(packr.pack(ok)).ok, true, 'with resend alone it is valid');
});

test('protocol - send: a bad earlier field is reported before the resend flag is looked at', () => {
  const a = wire(FrameKind.Send);
  a[3] = 42;
  a.push('not a flag');
  expectError(packr.pack(a), 'PARLEY_ERR_INVALID_FIELD', 'to');
});

test('protocol - clients may send only read receipts; delivered ones come from the server', () => {
  const a = wire(FrameKind.Receipt);
  a[2] = 1;
  expectError(packr.pack(a), 'PARLEY_ERR_INVALID_FIELD', 'status');
});

test('protocol - non-array, empty and non-msgpack input are PARLEY_ERR_MALFORMED_FRAME', () => {
  for (const hex of ['', '06', 'a3616263', 'c1', '90', '91c0', '92cb3ff8000000000000', 'c4', '9206c1']) {
    const r = decodeFrame(Buffer.from(hex, 'hex'));
    assert.equal(!r.ok && r.error.code, hex === '9206c1' ? 'PARLEY_ERR_INVALID_FIELD' : 'PARLEY_ERR_MALFORMED_FRAME', hex);
  }
});
