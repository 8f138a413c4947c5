/**
 * actors/frame-writer.ts against a real `ws` server and client: what one turn
 * queues leaves in one socket write and arrives as the same messages, in
 * order, at every length boundary of the frame header; `flush` puts what is
 * queued before a close frame; sockets with an extension fall back to `ws`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import test from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { flush, frameQueue, queueBinary, queuedBytes } from '../../actors/frame-writer.ts';

/** A server and one connected client; `serverSide` is the server's socket for it. */
async function connected(serverOptions: { perMessageDeflate: boolean }) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, ...serverOptions });
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate: serverOptions.perMessageDeflate });
  const received: Buffer[] = [];
  client.on('message', (data: Buffer, binary: boolean) => {
    assert.equal(binary, true);
    received.push(Buffer.from(data));
  });
  await once(client, 'open');
  const [serverSide] = await accepted;
  return {
    serverSide, client, received,
    async stop() {
      client.terminate();
      for (const s of server.clients) s.terminate();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Counts the writes made to `raw` from now on. */
function countWrites(raw: Socket): { readonly count: () => number } {
  let n = 0;
  const write = raw.write.bind(raw) as (...a: unknown[]) => boolean;
  (raw as unknown as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
    n++;
    return write(...a);
  };
  return { count: () => n };
}

const until = async (check: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 2000 && !check(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(check(), what);
};

test('frame writer - the messages of one turn leave in one write and arrive intact, in order, across header length boundaries', async () => {
  const c = await connected({ perMessageDeflate: false });
  try {
    const q = frameQueue(c.serverSide);
    assert.ok(q.raw !== undefined, 'no extension: written directly');
    const writes = countWrites(q.raw);
    // 0–125: length in the first byte; 126–65535: 16-bit; 65536 and over: 64-bit.
    const lengths = [0, 1, 125, 126, 127, 65535, 65536, 70000, 3];
    const messages = lengths.map((n, i) => Buffer.alloc(n, (i * 37 + 1) & 0xff));
    for (const m of messages) queueBinary(q, m);
    const framed = lengths.reduce((sum, n) => sum + n + (n < 126 ? 2 : n < 65536 ? 4 : 10), 0);
    assert.equal(queuedBytes(q), framed, 'queued bytes count headers and payloads');
    assert.equal(writes.count(), 0, 'nothing written within the turn');
    await until(() => c.received.length === messages.length, 'every message arrives');
    assert.equal(writes.count(), 1, 'one write for the turn');
    assert.equal(queuedBytes(q), 0);
    assert.deepEqual(c.received.map((b) => b.length), lengths);
    c.received.forEach((b, i) => assert.ok(b.equals(messages[i]!), `message ${i} intact`));
    // A later turn: a write of its own.
    queueBinary(q, Buffer.from('next'));
    await until(() => c.received.length === messages.length + 1, 'the next turn');
    assert.equal(writes.count(), 2);
  } finally {
    await c.stop();
  }
});

test('frame writer - flush puts what is queued before a close frame; nothing queued on a closing socket is written', async () => {
  const c = await connected({ perMessageDeflate: false });
  try {
    const q = frameQueue(c.serverSide);
    const closed = once(c.client, 'close') as Promise<[number, Buffer]>;
    queueBinary(q, Buffer.from('first'));
    queueBinary(q, Buffer.from('second'));
    flush(q);
    c.serverSide.close(4000, 'bye');
    // Queued after the close frame went: dropped, as a closing socket drops what it has not written.
    queueBinary(q, Buffer.from('late'));
    const [code, reason] = await closed;
    assert.equal(code, 4000);
    assert.equal(reason.toString(), 'bye');
    assert.deepEqual(c.received.map((b) => b.toString()), ['first', 'second']);
  } finally {
    await c.stop();
  }
});

test('frame writer - a socket with permessage-deflate is not written directly: ws frames (and compresses) its messages', async () => {
  const c = await connected({ perMessageDeflate: true });
  try {
    assert.notEqual(c.serverSide.extensions, '', 'deflate negotiated');
    const q = frameQueue(c.serverSide);
    assert.equal(q.raw, undefined);
    queueBinary(q, Buffer.alloc(1000, 7));
    assert.equal(queuedBytes(q), 0);
    await until(() => c.received.length === 1, 'the message arrives');
    assert.ok(c.received[0]!.equals(Buffer.alloc(1000, 7)));
  } finally {
    await c.stop();
  }
});
