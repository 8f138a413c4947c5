/**
 * The baseline every messaging bench is compared with: a bare `ws` relay with
 * no durability, no actors and no protocol beyond routing. A client's first
 * binary message is its 4-byte id; every later message is `[4-byte
 * destination id][payload]`, forwarded unchanged to the destination socket
 * (one Map lookup). Writes to a socket are corked and flushed once per
 * event-loop turn, the cheapest way to write many small frames.
 *
 * Run: node --import tsx bench/relay/bare-relay.ts [--port N] [--host H]
 * Prints `listening <port>` on stdout when ready.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { sendCorked } from '../messaging/corked.ts';

/** Starts a bare relay; resolves with its port and a close function. */
export async function startBareRelay(host = '127.0.0.1', port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 1 << 20 });
  const byId = new Map<number, WebSocket>();
  wss.on('connection', (ws) => {
    let id = -1;
    ws.on('message', (data: Buffer) => {
      if (id < 0) {
        id = data.readUInt32BE(0);
        byId.set(id, ws);
        return;
      }
      const to = byId.get(data.readUInt32BE(0));
      if (to !== undefined) sendCorked(to, data);
    });
    ws.on('close', () => {
      if (byId.get(id) === ws) byId.delete(id);
    });
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const address = wss.address();
  return {
    port: address !== null && typeof address === 'object' ? address.port : 0,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const relay = await startBareRelay(arg('--host') ?? '127.0.0.1', Number(arg('--port') ?? 0));
  process.stdout.write(`listening ${relay.port}\n`);
  const stop = () => void relay.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
