import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { decodeStoredMessage, encodeStoredMessage } from '../../actors/inbox-payload.ts';
import { CiphertextType } from '../../protocol/index.ts';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

// Lengths around every bin header boundary.
const LENGTHS = [0, 1, 100, 255, 256, 1000, 65_535, 65_536, 70_000];

test('a message payload is byte for byte what msgpackr makes of [type, ciphertext], and reads back', () => {
  for (const type of [CiphertextType.Opaque, CiphertextType.Whisper, CiphertextType.PreKey, CiphertextType.SenderKey, 127]) {
    for (const n of LENGTHS) {
      const ciphertext = randomBytes(n);
      const bytes = encodeStoredMessage({ type, ciphertext });
      assert.deepEqual(Buffer.from(bytes), Buffer.from(packr.pack([type, ciphertext])), `type ${type}, ${n} bytes`);
      const back = decodeStoredMessage(bytes);
      assert.equal(back.type, type);
      assert.deepEqual(Buffer.from(back.ciphertext), ciphertext);
      // What msgpackr wrote (older rows) reads the same.
      const fromPackr = decodeStoredMessage(packr.pack([type, ciphertext]));
      assert.equal(fromPackr.type, type);
      assert.deepEqual(Buffer.from(fromPackr.ciphertext), ciphertext);
    }
  }
});

test('a type outside the fixint range goes through msgpackr both ways', () => {
  const ciphertext = randomBytes(40);
  const bytes = encodeStoredMessage({ type: 300 as CiphertextType, ciphertext });
  assert.deepEqual(unpackr.unpack(bytes), [300, ciphertext]);
  const back = decodeStoredMessage(bytes);
  assert.equal(back.type, 300);
  assert.deepEqual(Buffer.from(back.ciphertext), ciphertext);
});

test('a truncated or padded payload is not read as a message of another length', () => {
  const bytes = Buffer.from(encodeStoredMessage({ type: CiphertextType.Whisper, ciphertext: randomBytes(300) }));
  assert.throws(() => decodeStoredMessage(bytes.subarray(0, bytes.length - 1)));
  // One byte too many: refused as msgpackr refuses it, not read as a longer or shorter ciphertext.
  assert.throws(() => decodeStoredMessage(Buffer.concat([bytes, Buffer.from([0])])), /end of buffer not reached/);
});
