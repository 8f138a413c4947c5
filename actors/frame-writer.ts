/**
 * Outbound WebSocket messages, one socket write per socket per event-loop
 * turn: the binary messages queued for a socket in one turn are framed into
 * one buffer (RFC 6455 §5.2: FIN, opcode 2, no mask from a server) and
 * written once when the turn ends (`setImmediate`).
 *
 * Why not `ws.send` on a corked socket (what this replaces): that queues two
 * writes per message (header and payload) in the socket's writable state and
 * hands them to `writev` as one iovec each, with a request object, a callback
 * and arrays per write. At Parley's peak those objects were ~11 % of what
 * the node allocated and `writev` ~5 % of its CPU (BENCHMARKS.md).
 *
 * Generic (no chat code). Used only where it is equivalent to `ws.send`: a
 * server socket with no extension negotiated (no permessage-deflate, which
 * the gateway does not offer), so a message is exactly one unmasked frame.
 * Otherwise `queueBinary` falls back to `ws.send`.
 *
 * Order with what `ws` writes itself: anything that writes a data or close
 * frame through `ws` (`close`) must `flush` the socket first, or that frame
 * would overtake the queued ones. Control frames `ws` sends on its own
 * (a pong to a client's ping; the echo of a client's close, after which the
 * socket is no longer OPEN and what is queued is dropped, as a socket closing
 * drops what it has not written) may go between messages.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

interface Queued {
  readonly ws: WebSocket;
  readonly raw: Socket;
  readonly messages: Uint8Array[];
  /** Bytes of the framed messages. */
  bytes: number;
}

const queued = new Map<Socket, Queued>();
let flushDue = false;

/** The raw socket under a server-side `ws` socket, when frames may be written to it directly (see above). */
export function rawSocketOf(ws: WebSocket): Socket | undefined {
  const raw = (ws as unknown as { _socket?: Socket })._socket;
  return raw !== undefined && ws.extensions === '' ? raw : undefined;
}

/** Header bytes of a frame carrying `n` payload bytes. */
const headerBytes = (n: number): number => (n < 126 ? 2 : n < 65536 ? 4 : 10);

/**
 * Queues one binary message for `ws` (whose raw socket is `raw`, from
 * `rawSocketOf`; undefined: sent at once through `ws`). `data` must not
 * change until the turn ends.
 */
export function queueBinary(ws: WebSocket, raw: Socket | undefined, data: Uint8Array): void {
  if (raw === undefined) {
    ws.send(data);
    return;
  }
  let q = queued.get(raw);
  if (q === undefined) {
    q = { ws, raw, messages: [], bytes: 0 };
    queued.set(raw, q);
    if (!flushDue) {
      flushDue = true;
      setImmediate(flushAll);
    }
  }
  q.messages.push(data);
  q.bytes += headerBytes(data.byteLength) + data.byteLength;
}

/** Bytes queued for `raw` and not yet handed to it. */
export function queuedBytes(raw: Socket | undefined): number {
  return raw === undefined ? 0 : (queued.get(raw)?.bytes ?? 0);
}

/** Writes what is queued for `raw` now (before `ws` writes a frame of its own, e.g. `close`). */
export function flush(raw: Socket | undefined): void {
  if (raw === undefined) return;
  const q = queued.get(raw);
  if (q === undefined) return;
  queued.delete(raw);
  write(q);
}

function flushAll(): void {
  flushDue = false;
  for (const q of queued.values()) write(q);
  queued.clear();
}

function write(q: Queued): void {
  const { ws, raw, messages } = q;
  if (ws.readyState !== ws.OPEN || raw.destroyed) return;
  const out = Buffer.allocUnsafe(q.bytes);
  let o = 0;
  for (const m of messages) {
    const n = m.byteLength;
    out[o++] = 0x82; // FIN, binary
    if (n < 126) out[o++] = n;
    else if (n < 65536) {
      out[o++] = 126;
      out.writeUInt16BE(n, o);
      o += 2;
    } else {
      out[o++] = 127;
      out.writeUInt32BE(Math.floor(n / 2 ** 32), o);
      out.writeUInt32BE(n >>> 0, o + 4);
      o += 8;
    }
    out.set(m, o);
    o += n;
  }
  raw.write(out);
}
