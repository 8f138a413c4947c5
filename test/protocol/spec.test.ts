/** The README is the spec: its tables must match the code, by name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CLOSE_REASONS, ERROR_CODES, FRAME_NAMES, FrameKind, decodeFrame, errorCodeFromWire, errorFrame, type ErrorCode,
  type SendFrame,
} from '../../protocol/index.ts';
import { measureWireSizes } from '../../protocol/wire-size.ts';

const readme = readFileSync(new URL('../../protocol/README.md', import.meta.url), 'utf8');

test('protocol - every error code in the README table exists in ERROR_CODES and vice versa', () => {
  const rows = [...readme.matchAll(/^\| `(PARLEY_ERR_[A-Z_]+)` \| (\d+) \| (\d+) \| (yes|no) \|$/gm)];
  const documented = new Map(rows.map((m) => [m[1]!, { wire: Number(m[2]), close: Number(m[3]), retryable: m[4] === 'yes' }]));
  assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, info] of documented) assert.deepEqual(info, { ...ERROR_CODES[code as ErrorCode] }, code);
});

test('protocol - wire codes are unique and map back to their names', () => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    if (info.wire === 0) continue;
    assert.equal(errorCodeFromWire(info.wire), code);
  }
  assert.equal(errorCodeFromWire(9999), undefined);
  assert.equal(errorFrame('PARLEY_ERR_UNKNOWN_USER', 3, 'no such user').code, 302);
  assert.throws(() => errorFrame('PARLEY_ERR_CONFIG', null, 'x'), RangeError);
});

test('protocol - every close code of an error code is in the close table and in the README', () => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    if (info.close === 0) continue;
    assert.ok(info.close in CLOSE_REASONS, `${code} closes with ${info.close}, missing from CLOSE_REASONS`);
  }
  for (const close of Object.keys(CLOSE_REASONS)) assert.match(readme, new RegExp(`^\\| ${close} \\|`, 'm'), close);
});

test('protocol - every frame kind is in the README frame table', () => {
  for (const [kind, name] of Object.entries(FRAME_NAMES)) {
    assert.match(readme, new RegExp(`^\\| ${kind} \\| \`${name}\` \\|`, 'm'), name);
  }
});

test('protocol - the README byte examples decode', () => {
  const hexes = [...readme.matchAll(/^hex: `([0-9a-f]+)`$/gm)].map((m) => m[1]!);
  assert.equal(hexes.length, 3);
  const frames = hexes.map((h) => { const r = decodeFrame(Buffer.from(h, 'hex')); assert.ok(r.ok, h); return r.frame; });
  assert.deepEqual(frames.map((f) => f.kind), [FrameKind.Send, FrameKind.Send, FrameKind.Deliver]);
  const [first, again] = frames as [SendFrame, SendFrame];
  assert.equal(first.resend, undefined, 'the first send example is a first transmission');
  assert.equal(again.resend, true, 'the second is its retransmission');
  assert.equal(hexes[1], `96${hexes[0]!.slice(2)}c3`, 'the same frame with resend appended');
});

test('protocol - the README wire sizes are what wire-size.ts measures', () => {
  const s = measureWireSizes(100);
  for (const [label, n] of [['Parley `send`', s.parleySend], ['Parley `deliver`', s.parleyDeliver],
    ['XMPP `<message>` (body as text)', s.xmppText], ['XMPP `<message>` (body base64, as ciphertext must be)', s.xmppBase64]] as const) {
    assert.ok(readme.includes(`| ${label} | ${n} |`), `${label}: ${n}`);
  }
  assert.ok(s.parleySend < s.xmppText / 2);
});
