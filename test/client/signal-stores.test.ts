/**
 * The SDK's libsignal stores on the local SQLite file, without a server:
 * sessions survive reopening the file, duplicates are refused by libsignal,
 * and a changed identity of a verified contact is blocked until trusted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  Direction, ErrorCode, IdentityKeyPair, KEMKeyPair, KyberPreKeyRecord, LibSignalErrorBase, PreKeyBundle, PreKeySignalMessage,
  PrivateKey, ProtocolAddress, SignalMessage, SignedPreKeyRecord, processPreKeyBundle, signalDecrypt, signalDecryptPreKey, signalEncrypt,
} from '@signalapp/libsignal-client';
import { LocalStore } from '../../client/e2ee/local-store.ts';
import { signalStores, type IdentityChangeEvent } from '../../client/e2ee/signal-stores.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function device(dir: string, name: string, events: IdentityChangeEvent[] = []) {
  const pair = IdentityKeyPair.generate();
  const local = new LocalStore(path.join(dir, `${name}.db`));
  return { pair, local, stores: signalStores(local, pair, 7, (e) => events.push(e)), address: ProtocolAddress.new(name, 1) };
}

async function bundleOf(d: ReturnType<typeof device>): Promise<PreKeyBundle> {
  const spk = PrivateKey.generate();
  const spkSig = d.pair.privateKey.sign(spk.getPublicKey().serialize());
  await d.stores.signedPreKey.saveSignedPreKey(1, SignedPreKeyRecord.new(1, Date.now(), spk.getPublicKey(), spk, spkSig));
  const kem = KEMKeyPair.generate();
  const kemSig = d.pair.privateKey.sign(kem.getPublicKey().serialize());
  d.stores.kyberPreKey.saveLastResort(2, KyberPreKeyRecord.new(2, Date.now(), kem, kemSig));
  return PreKeyBundle.new(7, 1, null, null, 1, spk.getPublicKey(), spkSig, d.pair.publicKey, 2, kem.getPublicKey(), kemSig);
}

test('signal stores - a session survives reopening the SQLite file; a replayed message is DuplicatedMessage', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-stores-'));
  try {
    const alice = device(dir, 'alice');
    const bob = device(dir, 'bob');
    await processPreKeyBundle(await bundleOf(bob), bob.address, alice.address, alice.stores.session, alice.stores.identity);
    const first = await signalEncrypt(enc('one'), bob.address, alice.address, alice.stores.session, alice.stores.identity);
    const s = bob.stores;
    assert.equal(dec(await signalDecryptPreKey(PreKeySignalMessage.deserialize(first.serialize()), alice.address, bob.address, s.session, s.identity, s.preKey, s.signedPreKey, s.kyberPreKey)), 'one');
    const reply = await signalEncrypt(enc('two'), alice.address, bob.address, s.session, s.identity);
    // bob's process restarts: a new LocalStore on the same file
    bob.local.close();
    const reopened = new LocalStore(path.join(dir, 'bob.db'));
    const s2 = signalStores(reopened, bob.pair, 7, () => undefined);
    assert.equal(dec(await signalDecrypt(SignalMessage.deserialize(reply.serialize()), bob.address, alice.address, alice.stores.session, alice.stores.identity)), 'two');
    const three = await signalEncrypt(enc('three'), bob.address, alice.address, alice.stores.session, alice.stores.identity);
    assert.equal(dec(await signalDecrypt(SignalMessage.deserialize(three.serialize()), alice.address, bob.address, s2.session, s2.identity)), 'three');
    await assert.rejects(
      signalDecrypt(SignalMessage.deserialize(three.serialize()), alice.address, bob.address, s2.session, s2.identity),
      (err: unknown) => err instanceof LibSignalErrorBase && err.code === ErrorCode.DuplicatedMessage,
    );
    reopened.close();
    alice.local.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signal stores - a changed key is reported; for a verified contact it is untrusted until accepted', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-stores-'));
  try {
    const events: IdentityChangeEvent[] = [];
    const me = device(dir, 'me', events);
    const peer = ProtocolAddress.new('peer', 1);
    const k1 = IdentityKeyPair.generate().publicKey;
    const k2 = IdentityKeyPair.generate().publicKey;
    const k3 = IdentityKeyPair.generate().publicKey;
    const id = me.stores.identity;
    assert.equal(await id.isTrustedIdentity(peer, k1, Direction.Sending), true, 'trust on first use');
    await id.saveIdentity(peer, k1);
    assert.equal(await id.isTrustedIdentity(peer, k2, Direction.Sending), true, 'unverified: a change is accepted');
    assert.equal(await id.saveIdentity(peer, k2), 1 /* ReplacedExisting */);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.blocked, false);
    assert.deepEqual(new Uint8Array(events[0]!.previous!), k1.serialize());
    me.local.setVerified('peer', true);
    assert.equal(await id.isTrustedIdentity(peer, k3, Direction.Receiving), false, 'verified: a change is blocked');
    assert.equal(events.length, 2);
    assert.equal(events[1]!.blocked, true);
    assert.deepEqual(new Uint8Array(me.local.identity('peer', 1)!.pendingKey!), k3.serialize());
    assert.ok((await id.getIdentity(peer))!.equals(k2), 'the verified key stays until the user accepts');
    me.local.putIdentity('peer', 1, k3.serialize(), Date.now()); // what SecureClient.trustIdentity does
    assert.equal(await id.isTrustedIdentity(peer, k3, Direction.Sending), true);
    me.local.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
