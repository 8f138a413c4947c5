/**
 * Pair driver for a Parley node, speaking the wire protocol directly (no SDK
 * promises or iterators per message) so the load client stays lean: each
 * pair is a registered sender device and a registered receiver device; the
 * sender's `send` frames carry `[seq u32][sentAt f64][padding]` as an opaque
 * payload; the receiver acks every `deliver` (batched once per turn), which
 * is what lets the node delete it from the inbox. The sends of one turn leave
 * a socket in one write (corked.ts), as in the relay's driver.
 */
import { once } from 'node:events';
import WebSocket from 'ws';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import {
  CiphertextType, FrameKind, PROTOCOL_VERSION, decodeFrame, encodeFrame, registerSignedBytes, type ServerFrame,
} from '../../protocol/index.ts';
import type { PairConnection, PairDriver } from './pair-load.ts';
import { sendCorked } from './corked.ts';

interface RawDevice {
  readonly ws: WebSocket;
  readonly userId: string;
  onFrame: (frame: ServerFrame) => void;
}

/** Opens a socket and registers a new account on it. */
async function registerRaw(url: string): Promise<RawDevice> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await once(ws, 'open');
  const identity = IdentityKeyPair.generate();
  const registrationId = 1 + Math.floor(Math.random() * 16000);
  const device: { ws: WebSocket; userId: string; onFrame: (f: ServerFrame) => void } = { ws, userId: '', onFrame: () => {} };
  const welcome = new Promise<string>((resolve, reject) => {
    device.onFrame = (f) => {
      if (f.kind === FrameKind.Challenge) {
        const identityKey = identity.publicKey.serialize();
        const signature = identity.privateKey.sign(registerSignedBytes(f.nonce, identityKey, registrationId, null));
        ws.send(encodeFrame({ kind: FrameKind.Register, rid: 2, identityKey, registrationId, signature, linkToken: null }));
      } else if (f.kind === FrameKind.Welcome) resolve(f.userId);
      else if (f.kind === FrameKind.Error) reject(new Error(`register failed: ${f.code} ${f.message}`));
    };
  });
  ws.on('message', (data: Buffer) => {
    const r = decodeFrame(data);
    if (!r.ok) throw new Error(`bad frame from node: ${r.error.code}`);
    const f = r.frame as ServerFrame;
    if (f.kind === FrameKind.Ping) ws.send(encodeFrame({ kind: FrameKind.Pong, rid: f.rid }));
    else device.onFrame(f);
  });
  ws.send(encodeFrame({ kind: FrameKind.Hello, rid: 1, version: PROTOCOL_VERSION, clientInfo: 'parley-bench' }));
  device.userId = await welcome;
  return device;
}

/** Where the two devices of a pair connect, and what the results are called. */
export interface ParleyDriverOptions {
  /** Result label. @default 'parley-node' */
  readonly name?: string;
  /** Gateway of every receiver (another node of a cluster: a cross-node pair). @default the senders' `url` */
  readonly receiverUrl?: string;
}

/** Drives pairs against a Parley gateway: senders at `url` (receivers too, unless `options.receiverUrl`), with `payloadBytes` of padding. */
export function parleyDriver(url: string, payloadBytes: number, options: ParleyDriverOptions = {}): PairDriver {
  const receiverUrl = options.receiverUrl ?? url;
  return {
    name: options.name ?? 'parley-node',
    async connectPair(index) {
      const [sender, receiver] = await Promise.all([registerRaw(url), registerRaw(receiverUrl)]);
      let rid = 10;
      let acks: number[] = [];
      const flushAcks = () => {
        receiver.ws.send(encodeFrame({ kind: FrameKind.Ack, rid: 0, seqs: acks }));
        acks = [];
      };
      const conn: PairConnection = {
        onDelivered: () => {},
        send(seq, sentAtMs) {
          const payload = Buffer.allocUnsafe(12 + payloadBytes);
          payload.writeUInt32BE(seq, 0);
          payload.writeDoubleLE(sentAtMs, 4);
          payload.fill(0x61, 12);
          sendCorked(sender.ws, encodeFrame({
            kind: FrameKind.Send, rid: rid++ >>> 0, messageId: `${index}.${seq}`, to: receiver.userId,
            envelopes: [{ deviceId: 0, registrationId: 0, type: CiphertextType.Opaque, ciphertext: payload }],
          }));
        },
        async close() {
          sender.ws.terminate();
          receiver.ws.terminate();
        },
      };
      // The sender acks its receipt notices, as a real client does (they leave its inbox).
      let senderAcks: number[] = [];
      const flushSenderAcks = () => {
        sender.ws.send(encodeFrame({ kind: FrameKind.Ack, rid: 0, seqs: senderAcks }));
        senderAcks = [];
      };
      sender.onFrame = (f) => {
        if (f.kind === FrameKind.Error) throw new Error(`send failed: ${f.code} ${f.message}`);
        if (f.kind === FrameKind.ReceiptNotice) {
          if (senderAcks.length === 0) setImmediate(flushSenderAcks);
          senderAcks.push(f.seq);
        }
      };
      receiver.onFrame = (f) => {
        if (f.kind !== FrameKind.Deliver) return;
        if (acks.length === 0) setImmediate(flushAcks);
        acks.push(f.seq);
        const p = Buffer.from(f.ciphertext.buffer, f.ciphertext.byteOffset, f.ciphertext.byteLength);
        conn.onDelivered(p.readUInt32BE(0), p.readDoubleLE(4));
      };
      return conn;
    },
  };
}
