/**
 * Fuzz: thousands of random and mutated frames from a seeded PRNG (so a failure
 * reproduces). decodeFrame must never throw, must always return a typed result
 * with a known code, never blame itself (PARLEY_ERR_INTERNAL), and whatever it
 * accepts must re-encode to a frame that decodes the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { ERROR_CODES, FrameKind, decodeFrame, encodeFrame, type DecodeResult } from '../../protocol/index.ts';
import { ALL_KINDS, SAMPLES, plain, prng } from './fixtures.ts';

const packr = new Packr({ useRecords: false });

function check(bytes: Uint8Array, label: string): DecodeResult {
  let r: DecodeResult;
  try {
    r = decodeFrame(bytes);
  } catch (err) {
    assert.fail(`${label}: decodeFrame threw ${String(err)} on ${Buffer.from(bytes).toString('hex').slice(0, 200)}`);
  }
  if (r.ok) {
    const again = decodeFrame(encodeFrame(r.frame));
    assert.ok(again.ok, `${label}: accepted frame does not survive a re-encode`);
    assert.deepStrictEqual(plain(again.frame), plain(r.frame), label);
  } else {
    assert.ok(r.error.code in ERROR_CODES, `${label}: unknown code ${r.error.code}`);
    assert.notEqual(r.error.code, 'PARLEY_ERR_INTERNAL', `${label}: ${r.error.message}`);
  }
  return r;
}

test('protocol - fuzz: random bytes never throw', () => {
  const rnd = prng(0xc0ffee);
  for (let i = 0; i < 4000; i++) {
    const n = Math.floor(rnd() * 64);
    const b = new Uint8Array(n);
    for (let j = 0; j < n; j++) b[j] = Math.floor(rnd() * 256);
    if (n > 0 && rnd() < 0.5) b[0] = 0x90 | Math.floor(rnd() * 10); // mostly arrays, to get past the first byte
    check(b, `random #${i}`);
  }
});

test('protocol - fuzz: mutated valid frames never throw', () => {
  const rnd = prng(42);
  // plus a retransmitted send, so the optional trailing `resend` is mutated too
  const valid = [...ALL_KINDS.map((k) => encodeFrame(SAMPLES[k])), encodeFrame({ ...SAMPLES[FrameKind.Send], resend: true })];
  let accepted = 0;
  for (let i = 0; i < 6000; i++) {
    const src = valid[i % valid.length]!;
    const b = Uint8Array.from(src);
    const op = Math.floor(rnd() * 4);
    let out: Uint8Array = b;
    if (op === 0) {
      for (let f = 0; f < 1 + Math.floor(rnd() * 3); f++) b[Math.floor(rnd() * b.length)]! ^= 1 << Math.floor(rnd() * 8);
    } else if (op === 1) {
      out = b.subarray(0, Math.floor(rnd() * b.length));
    } else if (op === 2) {
      const at = Math.floor(rnd() * b.length);
      out = new Uint8Array([...b.subarray(0, at), Math.floor(rnd() * 256), ...b.subarray(at)]);
    } else {
      b[Math.floor(rnd() * Math.min(b.length, 24))] = Math.floor(rnd() * 256);
    }
    if (check(out, `mutation #${i} of kind ${src[1]}`).ok) accepted++;
  }
  assert.ok(accepted > 0 && accepted < 6000, `some mutations stay valid, most do not (${accepted})`);
});

test('protocol - fuzz: well-formed msgpack with random shapes never throws', () => {
  const rnd = prng(7);
  const atoms = (): unknown => {
    switch (Math.floor(rnd() * 9)) {
      case 0: return null;
      case 1: return Math.floor(rnd() * 300) - 20;
      case 2: return rnd() * 1e6;
      case 3: return 'id-' + Math.floor(rnd() * 1000);
      case 4: return new Uint8Array(Math.floor(rnd() * 70));
      case 5: return rnd() < 0.5;
      case 6: return 2 ** 53 + Math.floor(rnd() * 10);
      case 7: return { k: 1 };
      default: return Array.from({ length: Math.floor(rnd() * 5) }, () => (rnd() < 0.7 ? Math.floor(rnd() * 130) : new Uint8Array(33)));
    }
  };
  for (let i = 0; i < 5000; i++) {
    const kind = ALL_KINDS[Math.floor(rnd() * ALL_KINDS.length)]!;
    const arr: unknown[] = [rnd() < 0.95 ? kind : atoms()];
    const n = Math.floor(rnd() * 9);
    for (let j = 0; j < n; j++) arr.push(atoms());
    check(packr.pack(arr), `shape #${i}`);
  }
});

test('protocol - fuzz: a record definition or deep nesting in one frame does not affect the next', () => {
  // fixext1 0x72 defines a msgpackr record; nesting 100k deep overflows a recursive decoder's stack
  check(Buffer.from('92d4724091a17805', 'hex'), 'record definition');
  check(new Uint8Array(200_000).fill(0x91), 'deep nesting');
  const ping = encodeFrame(SAMPLES[6]);
  assert.deepStrictEqual(decodeFrame(ping), { ok: true, frame: SAMPLES[6] });
  assert.deepStrictEqual(decodeFrame(Buffer.from('924001', 'hex')).ok, false, '0x40 stays the integer 64, not a record');
});
