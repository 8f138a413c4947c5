import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrivateKey } from '@signalapp/libsignal-client';
import { authSignedBytes, registerSignedBytes } from '../../protocol/index.ts';
import { seqBytes } from './fixtures.ts';

test('protocol - signing: auth bytes are domain tag, nonce, user id and device id, byte for byte', () => {
  const bytes = authSignedBytes(seqBytes(32), 'alice', 3);
  const hex = Buffer.from('PARLEY-AUTH-v1').toString('hex') + '00' + Buffer.from(seqBytes(32)).toString('hex')
    + '05' + Buffer.from('alice').toString('hex') + '00000003';
  assert.equal(Buffer.from(bytes).toString('hex'), hex);
});

test('protocol - signing: register bytes bind nonce, identity key, registration id and link token', () => {
  const key = seqBytes(33, 5);
  const bytes = registerSignedBytes(seqBytes(32), key, 0x1234, null);
  const hex = Buffer.from('PARLEY-REGISTER-v1').toString('hex') + '00' + Buffer.from(seqBytes(32)).toString('hex')
    + Buffer.from(key).toString('hex') + '1234' + '00';
  assert.equal(Buffer.from(bytes).toString('hex'), hex);
  assert.equal(registerSignedBytes(seqBytes(32), key, 0x1234, seqBytes(16)).length, bytes.length + 16);
});

test('protocol - signing: a libsignal identity key signature verifies only for the same login', () => {
  const identity = PrivateKey.generate();
  const nonce = seqBytes(32, 9);
  const sig = identity.sign(authSignedBytes(nonce, 'alice', 1));
  const pub = identity.getPublicKey();
  assert.equal(pub.serialize().length, 33);
  assert.equal(pub.verify(authSignedBytes(nonce, 'alice', 1), sig), true);
  assert.equal(pub.verify(authSignedBytes(nonce, 'alice', 2), sig), false, 'another device');
  assert.equal(pub.verify(authSignedBytes(seqBytes(32, 10), 'alice', 1), sig), false, 'another nonce');
  assert.equal(pub.verify(registerSignedBytes(nonce, pub.serialize(), 1, null), sig), false, 'another domain');
});
