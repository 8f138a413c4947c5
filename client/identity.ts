/**
 * Identity signer backed by a libsignal identity key pair: the private key
 * never leaves the SDK; the server gets the public key and signatures.
 */
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import type { IdentitySigner } from './parley-client.ts';

/** A signer over `pair` (a new random one when omitted). */
export function libsignalIdentity(pair: IdentityKeyPair = IdentityKeyPair.generate()): IdentitySigner & { readonly pair: IdentityKeyPair } {
  return {
    pair,
    publicKey: pair.publicKey.serialize(),
    sign: (message) => pair.privateKey.sign(new Uint8Array(message)),
  };
}
