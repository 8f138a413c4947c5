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

export function encodeStoredMessage(m: StoredMessage): Uint8Array {
  return packr.pack([m.type, m.ciphertext]);
}

export function decodeStoredMessage(bytes: Uint8Array): StoredMessage {
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
