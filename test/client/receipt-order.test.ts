/**
 * The SDK against a scripted WebSocket server (no node): it answers a `send`
 * with `sent` and a `receipt-notice` for the same message in ONE socket write,
 * so the client reads both frames in one go. The app must still see `send()`
 * resolve before the receipt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { FrameKind, PROTOCOL_VERSION, ReceiptStatus, decodeFrame, encodeFrame, type ServerFrame } from '../../protocol/index.ts';
import { ParleyClient, libsignalIdentity } from '../../client/index.ts';

/** Sends `frames` as WebSocket messages in one write of the underlying socket. */
function sendTogether(ws: WebSocket, frames: ServerFrame[]): void {
  const socket = (ws as unknown as { _socket: Socket })._socket;
  socket.cork();
  for (const f of frames) ws.send(encodeFrame(f));
  process.nextTick(() => socket.uncork());
}

test('client - a receipt read together with its message\'s `sent` is emitted after `send()` resolved', async () => {
  const peer = randomUUID();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  let seq = 0;
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const r = decodeFrame(data);
      if (!r.ok) return;
      const f = r.frame;
      const now = Date.now();
      if (f.kind === FrameKind.Hello) ws.send(encodeFrame({ kind: FrameKind.Challenge, rid: f.rid, version: PROTOCOL_VERSION, nonce: randomBytes(32), serverTime: now }));
      else if (f.kind === FrameKind.Auth) {
        ws.send(encodeFrame({ kind: FrameKind.Welcome, rid: f.rid, userId: f.userId, deviceId: f.deviceId, sessionId: 's1', serverTime: now, pingIntervalMs: 15_000, maxPayloadBytes: 65_536 }));
      } else if (f.kind === FrameKind.Send) {
        sendTogether(ws, [
          { kind: FrameKind.Sent, rid: f.rid, messageId: f.messageId, serverTime: now },
          { kind: FrameKind.ReceiptNotice, seq: ++seq, status: ReceiptStatus.Delivered, by: peer, byDevice: 1, serverTime: now, messageIds: [f.messageId] },
        ]);
      }
    });
  });
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const client = await ParleyClient.login({ url, identity: libsignalIdentity(), registrationId: 1 }, { userId: randomUUID(), deviceId: 1 });
  try {
    for (let i = 0; i < 20; i++) {
      const events: string[] = [];
      const receipt = new Promise<void>((resolve) => client.once('receipt', () => { events.push('receipt'); resolve(); }));
      const sent = client.send(peer, new Uint8Array([i])).then(() => { events.push('sent'); });
      await Promise.all([sent, receipt]);
      assert.deepEqual(events, ['sent', 'receipt'], `message ${i}`);
    }
  } finally {
    await client.close();
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});
