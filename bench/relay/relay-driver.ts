/**
 * Pair driver for the bare relay: a message is `[dest id][seq u32][sentAt f64][padding]`.
 * The sends of one turn leave a socket in one write (corked.ts), as in the Parley driver.
 */
import WebSocket from 'ws';
import { once } from 'node:events';
import type { PairConnection, PairDriver } from '../messaging/pair-load.ts';
import { sendCorked } from '../messaging/corked.ts';

/** Drives pairs against a bare relay at `url`, with `payloadBytes` of padding. */
export function relayDriver(url: string, payloadBytes: number): PairDriver {
  return {
    name: 'bare-ws-relay',
    async connectPair(index) {
      const senderId = index * 2 + 1;
      const receiverId = index * 2 + 2;
      const sender = new WebSocket(url, { perMessageDeflate: false });
      const receiver = new WebSocket(url, { perMessageDeflate: false });
      await Promise.all([once(sender, 'open'), once(receiver, 'open')]);
      const hello = (id: number) => {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(id);
        return b;
      };
      sender.send(hello(senderId));
      receiver.send(hello(receiverId));
      // The relay registers ids in arrival order per socket; a round trip to
      // itself proves the receiver is registered before any load starts.
      await new Promise<void>((resolve) => {
        receiver.once('message', () => resolve());
        const probe = Buffer.alloc(16);
        probe.writeUInt32BE(receiverId, 0);
        receiver.send(probe);
      });
      const conn: PairConnection = {
        onDelivered: () => {},
        send(seq, sentAtMs) {
          const b = Buffer.allocUnsafe(16 + payloadBytes);
          b.writeUInt32BE(receiverId, 0);
          b.writeUInt32BE(seq, 4);
          b.writeDoubleLE(sentAtMs, 8);
          b.fill(0x61, 16);
          sendCorked(sender, b);
        },
        async close() {
          sender.terminate();
          receiver.terminate();
        },
      };
      receiver.on('message', (data: Buffer) => conn.onDelivered(data.readUInt32BE(4), data.readDoubleLE(8)));
      return conn;
    },
  };
}
