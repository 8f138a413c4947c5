/**
 * Corking for the benches' own sockets: what one event-loop turn writes to a
 * socket leaves in one syscall (cork on the first write of the turn, uncork
 * after it). The bare relay writes this way, and so do the Parley and relay
 * load drivers alike, so both servers are measured with the same lean client.
 * (Parley's connections frame a turn's messages into one buffer instead,
 * actors/frame-writer.ts: server frames only; a client's must be masked.)
 */
import type WebSocket from 'ws';
import type { Socket } from 'node:net';

const corked = new Set<Socket>();

function uncorkAll(): void {
  for (const s of corked) s.uncork();
  corked.clear();
}

/** `ws.send(data)`, corked until the end of this turn. */
export function sendCorked(ws: WebSocket, data: Uint8Array): void {
  const raw = (ws as unknown as { _socket?: Socket })._socket;
  if (raw !== undefined && !corked.has(raw)) {
    if (corked.size === 0) setImmediate(uncorkAll);
    raw.cork();
    corked.add(raw);
  }
  ws.send(data, { binary: true });
}
