/**
 * What the server stores as an inbox entry's payload: the minimum to rebuild
 * the `deliver` / `receipt-notice` frame. Sender, message id, kind and time
 * are columns of the entry; the payload adds only the ciphertext type and
 * bytes (messages) or the status and message ids (receipts). The server never
 * sees plaintext: a message payload is the client's ciphertext, untouched.
 *
 * Encoding: msgpack arrays, `[ciphertextType, ciphertext]` and
 * `[status, [messageId, …]]`.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { CiphertextType, ReceiptStatus } from '../protocol/index.ts';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Stored payload of a chat message. */
export interface StoredMessage {
  readonly type: CiphertextType;
  readonly ciphertext: Uint8Array;
}

/** Stored payload of a receipt. */
export interface StoredReceipt {
  readonly status: ReceiptStatus;
  readonly messageIds: readonly string[];
}

/**
 * A message payload is written and read directly in its one shape (fixarray
 * of 2, positive fixint type, bin 8/16/32), byte for byte what msgpackr
 * makes of it: every message goes through both, and msgpackr attaches a
 * DataView to each buffer it reads. Anything else (a type above 127, or
 * bytes of another shape) goes through msgpackr.
 */
export function encodeStoredMessage(m: StoredMessage): Uint8Array {
  const { type, ciphertext } = m;
  const n = ciphertext.length;
  if (!(Number.isInteger(type) && type >= 0 && type < 0x80)) return packr.pack([type, ciphertext]);
  const head = n < 0x100 ? 4 : n < 0x10000 ? 5 : 7;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x92;
  out[1] = type;
  if (n < 0x100) {
    out[2] = 0xc4;
    out[3] = n;
  } else if (n < 0x10000) {
    out[2] = 0xc5;
    out.writeUInt16BE(n, 3);
  } else {
    out[2] = 0xc6;
    out.writeUInt32BE(n, 3);
  }
  out.set(ciphertext, head);
  return out;
}

export function decodeStoredMessage(bytes: Uint8Array): StoredMessage {
  const n = bytes.length;
  if (n >= 4 && bytes[0] === 0x92 && bytes[1]! < 0x80) {
    const marker = bytes[2];
    let start = 0;
    let length = -1;
    if (marker === 0xc4) {
      start = 4;
      length = bytes[3]!;
    } else if (marker === 0xc5 && n >= 5) {
      start = 5;
      length = (bytes[3]! << 8) | bytes[4]!;
    } else if (marker === 0xc6 && n >= 7) {
      start = 7;
      length = ((bytes[3]! << 24) >>> 0) + ((bytes[4]! << 16) | (bytes[5]! << 8) | bytes[6]!);
    }
    if (start + length === n) return { type: bytes[1] as CiphertextType, ciphertext: bytes.subarray(start, n) };
  }
  const [type, ciphertext] = unpackr.unpack(bytes) as [CiphertextType, Uint8Array];
  return { type, ciphertext };
}

export function encodeStoredReceipt(r: StoredReceipt): Uint8Array {
  return packr.pack([r.status, r.messageIds]);
}

export function decodeStoredReceipt(bytes: Uint8Array): StoredReceipt {
  const [status, messageIds] = unpackr.unpack(bytes) as [ReceiptStatus, string[]];
  return { status, messageIds };
}
