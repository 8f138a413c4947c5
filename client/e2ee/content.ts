/**
 * What travels inside the ciphertext: a small typed envelope, msgpack-encoded
 * (msgpackr, plain maps, no records) and padded, so the server learns neither
 * the kind of content (text, receipt, typing, media pointer …) nor its exact
 * length — only the padded size bucket (like Signal's 160-byte padding).
 *
 * Padding: content ‖ 0x80 ‖ 0x00 … up to a multiple of PADDING_BLOCK bytes
 * (ISO/IEC 7816-4), removed on decode.
 */
import { Packr, Unpackr } from 'msgpackr';

export const CONTENT_VERSION = 1;
export const PADDING_BLOCK = 160;

/** A pointer to an encrypted media blob: where it is and how to open and check it. */
export interface MediaPointer {
  readonly id: string;
  readonly key: Uint8Array;
  readonly digest: Uint8Array;
  readonly size: number;
  readonly contentType: string;
  readonly fileName?: string;
  readonly caption?: string;
}

/** The contents a message can carry. */
export type Content =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'receipt'; readonly status: 'delivered' | 'read' | 'viewed'; readonly messageIds: readonly string[] }
  | { readonly type: 'typing'; readonly action: 'started' | 'stopped' }
  | { readonly type: 'media'; readonly media: MediaPointer }
  | { readonly type: 'reaction'; readonly messageId: string; readonly emoji: string; readonly remove?: boolean }
  | { readonly type: 'delete'; readonly messageId: string };

export type ContentType = Content['type'];

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const TYPES: ReadonlySet<string> = new Set<ContentType>(['text', 'receipt', 'typing', 'media', 'reaction', 'delete']);

/** Serialises and pads `content` (the plaintext handed to libsignal). */
export function encodeContent(content: Content, sentAt: number = Date.now()): Uint8Array<ArrayBuffer> {
  const body = packr.pack({ v: CONTENT_VERSION, t: sentAt, c: content });
  const padded = new Uint8Array(Math.ceil((body.length + 1) / PADDING_BLOCK) * PADDING_BLOCK);
  padded.set(body, 0);
  padded[body.length] = 0x80;
  return padded;
}

/** Decoded content with the sender's clock at sending. */
export interface DecodedContent {
  readonly content: Content;
  readonly sentAt: number;
}

/** Removes padding and decodes; throws on anything that is not a content envelope. */
export function decodeContent(plaintext: Uint8Array): DecodedContent {
  let end = plaintext.length - 1;
  while (end >= 0 && plaintext[end] === 0) end--;
  if (end < 0 || plaintext[end] !== 0x80) throw new Error('content padding is malformed');
  const value = unpackr.unpack(plaintext.subarray(0, end)) as { v?: unknown; t?: unknown; c?: { type?: unknown } };
  if (value === null || typeof value !== 'object' || value.v !== CONTENT_VERSION || typeof value.c !== 'object' || value.c === null
    || typeof value.c.type !== 'string' || !TYPES.has(value.c.type)) {
    throw new Error('not a content envelope of a known version and type');
  }
  return { content: value.c as Content, sentAt: typeof value.t === 'number' ? value.t : 0 };
}
