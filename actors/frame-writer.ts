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
 * Otherwise `queueBinary` sends through `ws.send` at once.
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

/**
 * What is queued for one socket: one per socket for its whole life (the
 * caller keeps it), reused turn after turn. Not a `Map` by socket cleared
 * every turn (the first version): a cleared or rehashed `Map` keeps a link
 * from its old table to the new one, and an old table promoted out of the
 * young generation keeps each next table, and every frame it holds, alive
 * through young-generation GCs, so they are promoted too. Without the map,
 * what each scavenge promoted at 5,000 msg/s after a peak fell from ~1.2 MB
 * to ~0.8 MB (BENCHMARKS.md).
 */
export interface FrameQueue {
  readonly ws: WebSocket;
  /** The socket under `ws`, written directly; undefined: messages go through `ws.send`. */
  readonly raw: Socket | undefined;
  messages: Uint8Array[];
  /** Bytes of the framed messages. */
  bytes: number;
  /** On `due` (to be written at the end of this turn). */
  due: boolean;
}

/** Queues with messages waiting for the end of this turn. */
let due: FrameQueue[] = [];
let flushDue = false;

/** The queue for a server-side `ws` socket (see above for when it is written directly). */
export function frameQueue(ws: WebSocket): FrameQueue {
  const raw = (ws as unknown as { _socket?: Socket })._socket;
  return { ws, raw: raw !== undefined && ws.extensions === '' ? raw : undefined, messages: [], bytes: 0, due: false };
}

/** Header bytes of a frame carrying `n` payload bytes. */
const headerBytes = (n: number): number => (n < 126 ? 2 : n < 65536 ? 4 : 10);

/** Queues one binary message (sent at once through `ws` when there is no raw socket). `data` must not change until the turn ends. */
export function queueBinary(q: FrameQueue, data: Uint8Array): void {
  if (q.raw === undefined) {
    q.ws.send(data);
    return;
  }
  if (!q.due) {
    q.due = true;
    due.push(q);
    if (!flushDue) {
      flushDue = true;
      setImmediate(flushAll);
    }
  }
  q.messages.push(data);
  q.bytes += headerBytes(data.byteLength) + data.byteLength;
}

/** Bytes queued and not yet handed to the socket. */
export function queuedBytes(q: FrameQueue): number {
  return q.bytes;
}

/** Writes what is queued now (before `ws` writes a frame of its own, e.g. `close`). */
export function flush(q: FrameQueue): void {
  if (q.messages.length > 0) write(q);
}

function flushAll(): void {
  flushDue = false;
  const list = due;
  due = [];
  for (const q of list) {
    q.due = false;
    if (q.messages.length > 0) write(q);
  }
}

function write(q: FrameQueue): void {
  const { ws, raw, messages } = q;
  q.messages = [];
  const bytes = q.bytes;
  q.bytes = 0;
  if (raw === undefined || ws.readyState !== ws.OPEN || raw.destroyed) return;
  const out = Buffer.allocUnsafe(bytes);
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
