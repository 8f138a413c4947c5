import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { CiphertextType, FRAME_NAMES, FrameKind, decodeFrame, encodeFrame, type Frame } from '../../protocol/index.ts';
import { ALL_KINDS, SAMPLES, plain } from './fixtures.ts';

function decodeOk(bytes: Uint8Array): Frame {
  const r = decodeFrame(bytes);
  if (!r.ok) assert.fail(`${r.error.code} ${r.error.field ?? ''}: ${r.error.message}`);
  return r.frame;
}

for (const kind of ALL_KINDS) {
  test(`protocol - round trip of ${FRAME_NAMES[kind]}`, () => {
    const frame = SAMPLES[kind];
    const bytes = encodeFrame(frame);
    assert.equal(bytes[0]! & 0xf0, 0x90, 'a frame is a fixarray');
    assert.equal(bytes[1], kind, 'the kind is the first element');
    assert.deepStrictEqual(plain(decodeOk(bytes)), plain(frame));
  });
}

test('protocol - decodes a raw ping frame from hex', () => {
  assert.deepStrictEqual(decodeOk(Buffer.from('920607', 'hex')), { kind: FrameKind.Ping, rid: 7 });
});

test('protocol - decodes a raw hello frame from hex', () => {
  // [1, 1, 1, "ts/1"]
  const frame = decodeOk(Buffer.from('94010101a474732f31', 'hex'));
  assert.deepStrictEqual(frame, { kind: FrameKind.Hello, rid: 1, version: 1, clientInfo: 'ts/1' });
});

test('protocol - decodes a raw send frame from hex (README example)', () => {
  // [10, 42, "m1", "bob", [[1, 1234, 2, <bin 3: 01 02 03>]]]
  const hex = '950a2aa26d31a3626f62919401cd04d202c403010203';
  const frame = decodeOk(Buffer.from(hex, 'hex'));
  assert.deepStrictEqual(plain(frame), {
    kind: FrameKind.Send, rid: 42, messageId: 'm1', to: 'bob',
    envelopes: [{ deviceId: 1, registrationId: 1234, type: CiphertextType.Whisper, ciphertext: new Uint8Array([1, 2, 3]) }],
  });
  assert.equal(Buffer.from(encodeFrame(frame)).toString('hex'), hex, 'the encoder emits the same bytes');
});

test('protocol - timestamps above 2^32 go out as int64, not float64', () => {
  const bytes = encodeFrame(SAMPLES[FrameKind.Sent]);
  const hex = Buffer.from(bytes).toString('hex');
  assert.ok(hex.endsWith('d3' + (1_700_000_000_123).toString(16).padStart(16, '0')), hex);
});

test('protocol - accepts integers in any msgpack integer format (uint64, uint16)', () => {
  // [6, rid as uint64] and [6, rid as uint16]
  assert.deepStrictEqual(decodeOk(Buffer.from('9206cf0000000000000009', 'hex')), { kind: FrameKind.Ping, rid: 9 });
  assert.deepStrictEqual(decodeOk(Buffer.from('9206cd0009', 'hex')), { kind: FrameKind.Ping, rid: 9 });
});

test('protocol - a frame built by another msgpack encoder decodes (array16 header)', () => {
  const bytes = Buffer.from('dc0002' + '0607', 'hex');
  assert.deepStrictEqual(decodeOk(bytes), { kind: FrameKind.Ping, rid: 7 });
});

test('protocol - encoded frames stay valid after later encodes (no shared buffer reuse)', () => {
  const first = encodeFrame(SAMPLES[FrameKind.Deliver]);
  const copy = Uint8Array.from(first);
  for (let i = 0; i < 2000; i++) encodeFrame(SAMPLES[FrameKind.PreKeyBundles]);
  assert.deepStrictEqual(Uint8Array.from(first), copy);
});

test('protocol - a msgpack map or record where a frame array is expected is malformed', () => {
  const map = new Packr({ useRecords: false }).pack({ kind: 6, rid: 1 });
  const r = decodeFrame(map);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'PARLEY_ERR_MALFORMED_FRAME');
});

test('protocol - send: resend true goes out as a trailing msgpack true and round-trips', () => {
  const first = SAMPLES[FrameKind.Send];
  const plainBytes = encodeFrame(first);
  const again = encodeFrame({ ...first, resend: true });
  assert.equal(again.length, plainBytes.length + 1, 'one byte more than the first transmission');
  assert.equal(again[0], plainBytes[0]! + 1, 'an array one longer');
  assert.deepEqual(Uint8Array.from(again.subarray(1, -1)), Uint8Array.from(plainBytes.subarray(1)), 'the same fields before it');
  assert.equal(again[again.length - 1], 0xc3, 'msgpack true');
  assert.deepStrictEqual(plain(decodeOk(again)), plain({ ...first, resend: true }));
});

test('protocol - send: a first transmission carries no resend field (absent and false encode alike)', () => {
  const first = SAMPLES[FrameKind.Send];
  const absent = encodeFrame(first);
  assert.equal(absent[0], 0x95, 'array of 5: kind and four fields');
  assert.deepEqual(encodeFrame({ ...first, resend: false }), absent);
  const decoded = decodeOk(absent);
  assert.ok(!('resend' in decoded), 'decoded without a resend property');
});

test('protocol - send: a raw frame with resend false decodes as a first transmission', () => {
  // [10, 42, "m1", "bob", [[1, 1234, 2, <bin 3: 01 02 03>]], false]
  const frame = decodeOk(Buffer.from('960a2aa26d31a3626f62919401cd04d202c403010203c2', 'hex'));
  assert.equal(frame.kind, FrameKind.Send);
  assert.ok(!('resend' in frame), 'false is the absence of the flag');
  // and with true: [10, 42, "m1", "bob", [...], true]
  const again = decodeOk(Buffer.from('960a2aa26d31a3626f62919401cd04d202c403010203c3', 'hex'));
  assert.equal(again.kind === FrameKind.Send && again.resend, true);
});
