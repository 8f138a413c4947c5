/**
 * Generates this device's pre-keys with libsignal, stores the private halves
 * locally and returns the public halves in the `prekey-upload` shapes.
 * Signatures: the identity key signs each key's serialization (XEdDSA), which
 * is what libsignal verifies in `processPreKeyBundle` and the server on upload.
 */
import { IdentityKeyPair, KEMKeyPair, KyberPreKeyRecord, PreKeyRecord, PrivateKey, SignedPreKeyRecord } from '@signalapp/libsignal-client';
import type { PreKey, SignedPreKey } from '../../protocol/index.ts';
import type { LocalStore } from './local-store.ts';
import type { SignalStores } from './signal-stores.ts';

/** Meta keys of the id counters and the current signed keys. */
export const META = {
  nextPreKeyId: 'next-prekey-id',
  nextKyberId: 'next-kyber-id',
  nextSignedId: 'next-signed-id',
  currentSigned: 'current-signed-id',
  currentLastResort: 'current-last-resort-id',
} as const;

export async function generateOneTimePreKeys(local: LocalStore, stores: SignalStores, count: number): Promise<PreKey[]> {
  const out: PreKey[] = [];
  for (let i = 0; i < count; i++) {
    const id = local.nextId(META.nextPreKeyId);
    const priv = PrivateKey.generate();
    const pub = priv.getPublicKey();
    await stores.preKey.savePreKey(id, PreKeyRecord.new(id, pub, priv));
    out.push({ id, publicKey: pub.serialize() });
  }
  return out;
}

export async function generateOneTimeKyberPreKeys(local: LocalStore, stores: SignalStores, pair: IdentityKeyPair, count: number): Promise<SignedPreKey[]> {
  const out: SignedPreKey[] = [];
  for (let i = 0; i < count; i++) {
    const id = local.nextId(META.nextKyberId);
    const kem = KEMKeyPair.generate();
    const publicKey = kem.getPublicKey().serialize();
    const signature = pair.privateKey.sign(publicKey);
    await stores.kyberPreKey.saveKyberPreKey(id, KyberPreKeyRecord.new(id, Date.now(), kem, signature));
    out.push({ id, publicKey, signature });
  }
  return out;
}

export async function generateSignedPreKey(local: LocalStore, stores: SignalStores, pair: IdentityKeyPair): Promise<SignedPreKey> {
  const id = local.nextId(META.nextSignedId);
  const priv = PrivateKey.generate();
  const pub = priv.getPublicKey();
  const publicKey = pub.serialize();
  const signature = pair.privateKey.sign(publicKey);
  await stores.signedPreKey.saveSignedPreKey(id, SignedPreKeyRecord.new(id, Date.now(), pub, priv, signature));
  local.setNumber(META.currentSigned, id);
  return { id, publicKey, signature };
}

export function generateLastResortKyberKey(local: LocalStore, stores: SignalStores, pair: IdentityKeyPair): SignedPreKey {
  const id = local.nextId(META.nextKyberId);
  const kem = KEMKeyPair.generate();
  const publicKey = kem.getPublicKey().serialize();
  const signature = pair.privateKey.sign(publicKey);
  stores.kyberPreKey.saveLastResort(id, KyberPreKeyRecord.new(id, Date.now(), kem, signature));
  local.setNumber(META.currentLastResort, id);
  return { id, publicKey, signature };
}
