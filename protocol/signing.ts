/**
 * The exact bytes a device signs with its identity private key to prove
 * possession (libsignal `PrivateKey.sign`, checked with `PublicKey.verify`).
 * The server verifies; the protocol only defines the message, so SDK and
 * server cannot disagree on it.
 *
 * Each message starts with an ASCII domain tag and a 0x00, so a signature made
 * for login can never pass as one made for registration, nor as a pre-key
 * signature (libsignal signs serialized keys, which begin 0x05 or 0x08; our
 * tags begin 'P' = 0x50).
 */
import { NONCE_BYTES } from './limits.ts';

/** Domain tag of an `auth` signature. */
export const AUTH_DOMAIN = 'PARLEY-AUTH-v1';
/** Domain tag of a `register` signature. */
export const REGISTER_DOMAIN = 'PARLEY-REGISTER-v1';

function ascii(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0x7f;
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`nonce must be ${NONCE_BYTES} bytes`);
}

/**
 * Bytes signed by `auth`:
 * `"PARLEY-AUTH-v1" 0x00 nonce[32] len(userId):u8 userId(ASCII) deviceId:u32be`.
 * @throws RangeError on a nonce of the wrong size (a caller bug, not peer input)
 */
export function authSignedBytes(nonce: Uint8Array, userId: string, deviceId: number): Uint8Array<ArrayBuffer> {
  checkNonce(nonce);
  const dev = new Uint8Array(4);
  new DataView(dev.buffer).setUint32(0, deviceId);
  return concat([ascii(AUTH_DOMAIN), Uint8Array.of(0), nonce, Uint8Array.of(userId.length), ascii(userId), dev]);
}

/**
 * Bytes signed by `register`:
 * `"PARLEY-REGISTER-v1" 0x00 nonce[32] identityKey[33] registrationId:u16be len(linkToken):u8 linkToken`
 * (len 0 and no bytes when there is no link token).
 * @throws RangeError on a nonce of the wrong size
 */
export function registerSignedBytes(
  nonce: Uint8Array, identityKey: Uint8Array, registrationId: number, linkToken: Uint8Array | null,
): Uint8Array<ArrayBuffer> {
  checkNonce(nonce);
  const reg = Uint8Array.of(registrationId >>> 8 & 0xff, registrationId & 0xff);
  const token = linkToken ?? new Uint8Array(0);
  return concat([ascii(REGISTER_DOMAIN), Uint8Array.of(0), nonce, identityKey, reg, Uint8Array.of(token.length), token]);
}
