/**
 * Wire size of a 100-byte text message: Parley `send` and `deliver` frames next
 * to an XMPP `<message>` stanza carrying the same 100 bytes.
 * Run: `node --import tsx protocol/wire-size.ts` (prints a JSON line and a table).
 *
 * Assumptions, the same for both sides: the 100 bytes are the message body as it
 * travels (pre-E2EE opaque bytes for Parley; for XMPP, 100 ASCII characters as
 * text, and again base64 as an encrypted payload would need); one recipient
 * device; user ids are 36-char UUIDs; the message id is 22 chars (128 random
 * bits, base64url). WebSocket framing (2–8 bytes) is left out of both.
 */
import { CiphertextType, FrameKind } from './frames.ts';
import { encodeFrame } from './codec.ts';

/** Sizes measured for one message. */
export interface WireSizes {
  readonly body: number;
  readonly parleySend: number;
  readonly parleyDeliver: number;
  readonly xmppText: number;
  readonly xmppBase64: number;
}

const SENDER = '3f2a8c1e-6b4d-4e8f-9a1c-2d7e5b0c4f61';
const RECIPIENT = '9b7d4e2a-1c3f-4a5b-8e6d-0f1a2b3c4d5e';
const MESSAGE_ID = 'q3xV9kLmT2pW8nR4sY6uZa';

/** Measures the sizes for a body of `bodyBytes` bytes. */
export function measureWireSizes(bodyBytes = 100): WireSizes {
  const body = new Uint8Array(bodyBytes).fill(0x61);
  const send = encodeFrame({
    kind: FrameKind.Send, rid: 1234, messageId: MESSAGE_ID, to: RECIPIENT,
    envelopes: [{ deviceId: 1, registrationId: 12345, type: CiphertextType.Whisper, ciphertext: body }],
  });
  const deliver = encodeFrame({
    kind: FrameKind.Deliver, seq: 123_456, from: SENDER, fromDevice: 1, messageId: MESSAGE_ID,
    serverTime: 1_700_000_000_123, type: CiphertextType.Whisper, ciphertext: body,
  });
  const stanza = (text: string): string =>
    `<message from='${SENDER}@chat.example.com/phone-1' to='${RECIPIENT}@chat.example.com' ` +
    `type='chat' id='${MESSAGE_ID}' xmlns='jabber:client'><body>${text}</body>` +
    `<request xmlns='urn:xmpp:receipts'/></message>`;
  const text = 'a'.repeat(bodyBytes);
  return {
    body: bodyBytes,
    parleySend: send.length,
    parleyDeliver: deliver.length,
    xmppText: Buffer.byteLength(stanza(text)),
    xmppBase64: Buffer.byteLength(stanza(Buffer.from(body).toString('base64'))),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = measureWireSizes();
  console.log(JSON.stringify(s));
  console.log(`body ${s.body} B | parley send ${s.parleySend} B (overhead ${s.parleySend - s.body}) | parley deliver ${s.parleyDeliver} B (overhead ${s.parleyDeliver - s.body})`);
  console.log(`xmpp <message> text ${s.xmppText} B (overhead ${s.xmppText - s.body}) | base64 body ${s.xmppBase64} B`);
}
