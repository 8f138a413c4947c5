/**
 * Connection handling against a real node over real WebSockets: heartbeats
 * and silence, the auth timeout, slow consumers and graceful shutdown. Every
 * wait is on an event (a frame, a close, a log line, a process count) bounded
 * by a deadline; no test asserts a duration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLOSE_REASONS, FrameKind, errorCodeFromWire, type CloseCode, type ErrorFrame, type ServerFrame } from '../../protocol/index.ts';
import { libsignalIdentity } from '../../client/index.ts';
import { registerClient, startTestNode } from '../support/test-node.ts';
import { RawSocket, bounded, waitUntil } from '../support/raw-socket.ts';

const text = (s: string) => new TextEncoder().encode(s);

function errorCodes(frames: readonly ServerFrame[]): string[] {
  return frames.filter((f) => f.kind === FrameKind.Error).map((f) => errorCodeFromWire((f as ErrorFrame).code) ?? `wire ${(f as ErrorFrame).code}`);
}

async function rawAccount(url: string) {
  const identity = libsignalIdentity();
  const { raw, welcome } = await RawSocket.register(url, identity, 55);
  await raw.close();
  return { identity, device: { userId: welcome.userId, deviceId: welcome.deviceId } };
}

test('connection - a client that never answers pings is closed 4440; one that answers stays through many ping rounds', async () => {
  const t = await startTestNode({ settings: { pingIntervalMs: 50, idleTimeoutMs: 150 } });
  try {
    const silentAccount = await rawAccount(t.url);
    const liveAccount = await rawAccount(t.url);
    const live = (await RawSocket.login(t.url, liveAccount.identity, liveAccount.device)).raw;
    live.answerPings = true;
    const silent = (await RawSocket.login(t.url, silentAccount.identity, silentAccount.device)).raw;
    const sdk = await registerClient(t.url); // the SDK answers pings by itself
    const info = await silent.closed();
    assert.equal(info.code, 4440);
    assert.equal(info.reason, CLOSE_REASONS[4440 as CloseCode].reason);
    assert.ok(silent.frames.some((f) => f.kind === FrameKind.Ping), 'the server pinged before giving up');
    assert.deepEqual(errorCodes(silent.frames), ['PARLEY_ERR_IDLE_TIMEOUT']);
    // The answering socket sees ping after ping — far more than the silence allowed — and stays.
    const pings = () => live.frames.filter((f) => f.kind === FrameKind.Ping).length;
    await waitUntil(() => pings() >= 12 || live.closeInfo !== undefined, 'the live socket got 12 pings');
    assert.equal(live.closeInfo, undefined, 'the answering socket is still open');
    assert.deepEqual(errorCodes(live.frames), []);
    assert.ok(sdk.client.connected, 'the SDK client answered its pings too');
    await live.close();
  } finally {
    await t.stop();
  }
});

test('connection - a socket that does not log in within the auth timeout is closed 4408', async () => {
  const t = await startTestNode({ settings: { authTimeoutMs: 100 } });
  try {
    const account = await rawAccount(t.url);
    const loggedIn = (await RawSocket.login(t.url, account.identity, account.device)).raw;
    const noHello = await RawSocket.open(t.url);
    const { raw: noAuth } = await RawSocket.hello(t.url);
    noAuth.sendFrame({ kind: FrameKind.Ping, rid: 5 }); // pings are allowed before login but do not stop the clock
    for (const raw of [noHello, noAuth]) {
      const info = await raw.closed();
      assert.equal(info.code, 4408);
      assert.equal(info.reason, 'Authentication timeout');
      assert.deepEqual(errorCodes(raw.frames), ['PARLEY_ERR_AUTH_TIMEOUT']);
    }
    // The socket that logged in first had the same timer and is unaffected.
    loggedIn.sendFrame({ kind: FrameKind.Ping, rid: 9 });
    await loggedIn.next((f) => f.kind === FrameKind.Pong && f.rid === 9, 'pong');
    assert.equal(loggedIn.closeInfo, undefined);
    await loggedIn.close();
  } finally {
    await t.stop();
  }
});

test('connection - a receiver that stops reading is closed 4450 and loses nothing: a fresh login gets every sent message in order', async () => {
  const t = await startTestNode({ settings: { maxBufferedBytes: 64 * 1024, pingIntervalMs: 250, idleTimeoutMs: 60_000 } });
  try {
    const alice = await registerClient(t.url);
    const bob = await rawAccount(t.url);
    const { raw } = await RawSocket.login(t.url, bob.identity, bob.device);
    // Stop reading from the TCP socket: the server's writes pile up in the kernel, then in its own buffer.
    (raw.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const total = 300;
    const body = (i: number) => { const b = new Uint8Array(40 * 1024).fill(i & 0xff); b.set(text(`#${i};`)); return b; };
    const sent = await bounded(Promise.all(Array.from({ length: total }, (_, i) => alice.client.send(bob.device.userId, body(i), { messageId: `s${i}` }))), 'every send confirmed');
    assert.equal(sent.length, total);
    // The server gives up on the reader (its log line is the event), then the reader reads what reached it.
    await waitUntil(() => t.logs.some((l) => l.includes('"connection.closed"') && l.includes('4450')), 'the server closed the slow consumer');
    (raw.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const info = await raw.closed();
    assert.equal(info.code, 4450);
    assert.equal(info.reason, 'Slow consumer');
    assert.ok(errorCodes(raw.frames).includes('PARLEY_ERR_SLOW_CONSUMER'));
    // A fresh login reads the inbox: every message, in order, whole.
    const again = await RawSocket.login(t.url, bob.identity, bob.device);
    const got: string[] = [];
    while (got.length < total) {
      const f = await again.raw.next((x) => x.kind === FrameKind.Deliver, `delivery ${got.length}`);
      if (f.kind !== FrameKind.Deliver) continue;
      assert.equal(f.ciphertext.length, 40 * 1024);
      assert.equal(new TextDecoder().decode(f.ciphertext.subarray(0, `#${got.length};`.length)), `#${got.length};`);
      got.push(f.messageId);
      again.raw.sendFrame({ kind: FrameKind.Ack, rid: 1000 + got.length, seqs: [f.seq] });
    }
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => `s${i}`));
    assert.equal(again.raw.closeInfo, undefined, 'the reading client is not a slow consumer');
    await again.raw.close();
  } finally {
    await t.stop();
  }
});

test('connection - a graceful node shutdown closes authenticated clients with 1001', async () => {
  const t = await startTestNode();
  let stopped = false;
  try {
    const account = await rawAccount(t.url);
    const raw = (await RawSocket.login(t.url, account.identity, account.device)).raw;
    const sdk = await registerClient(t.url, { reconnect: false });
    const sdkClosed = new Promise<{ code: number }>((resolve) => sdk.client.once('disconnected', resolve));
    const stopping = t.node.stop('test shutdown');
    const info = await raw.closed();
    assert.equal(info.code, 1001);
    assert.equal((await bounded(sdkClosed, 'the SDK client is told')).code, 1001);
    await stopping;
    stopped = true;
    await t.stop();
  } finally {
    if (!stopped) await t.stop();
  }
});
