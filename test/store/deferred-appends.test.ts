/**
 * The bookkeeping of DeferredAppends on its own (store/embedded/deferred-appends.ts):
 * whatever way batches leave (elided by acks, written by flushAll, by their
 * deadline or after their hold), nothing is left behind — no parked batch, no
 * per-device slots, no queue entries. The writer here is a function that
 * "commits" at once: what is tested is the in-memory structure; the store
 * with its real writer thread is tested in sqlite-deferred.test.ts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { test } from 'node:test';
import { DeferredAppends, type ParkedWrite } from '../../store/embedded/deferred-appends.ts';
import type { AppendResult, DeviceAddress, InboxBatch } from '../../store/types.ts';
import { encodeInboxId } from '../../store/embedded/inbox-id.ts';

const EMPTY = { parked: 0, devices: 0, queued: 0, waiting: 0, held: 0 };

function batch(sender: DeviceAddress, id: string, to: readonly DeviceAddress[]): InboxBatch {
  return { sender, clientMessageId: id, kind: 'message', serverTimestamp: 1, copies: to.map((recipient) => ({ recipient, payload: new Uint8Array([1]) })) };
}

/** A writer that commits every write at once, counts the copies it wrote and emits 'write' for each write. */
function writer(): { flushTo: (w: ParkedWrite) => Promise<AppendResult>; written: number; events: EventEmitter } {
  const w = {
    written: 0,
    events: new EventEmitter(),
    flushTo: (write: ParkedWrite) => {
      w.written += write.batch.copies.length - (write.skip?.length ?? 0);
      w.events.emit('write', write);
      return Promise.resolve<AppendResult>({
        duplicate: false, serverTimestamp: write.batch.serverTimestamp,
        copies: write.batch.copies.map((c, i) => ({ recipient: c.recipient, id: encodeInboxId(write.firstId + i) })),
      });
    },
  };
  return w;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test('deferred appends - 5,000 batches to two devices, acked and dropped: none written, nothing left', async () => {
  const w = writer();
  const d = new DeferredAppends(60_000, w.flushTo);
  try {
    const s = { userId: randomUUID(), deviceId: 1 };
    const d1 = { userId: randomUUID(), deviceId: 1 };
    const d2 = { userId: randomUUID(), deviceId: 2 };
    const stored: Promise<AppendResult>[] = [];
    for (let i = 0; i < 5000; i++) stored.push(d.park(batch(s, `m${i}`, [d1, d2]), 1 + 2 * i));
    assert.deepEqual(d.stats(), { parked: 5000, devices: 2, queued: 5000, waiting: 5000, held: 0 });
    // Acks arrive in several steps, per device, as sessions send them.
    for (let upTo = 1000; upTo <= 10_000; upTo += 1000) {
      d.received(d1.userId, d1.deviceId, upTo);
      d.drop(d1.userId, d1.deviceId, upTo);
      d.received(d2.userId, d2.deviceId, upTo);
      d.drop(d2.userId, d2.deviceId, upTo);
    }
    const results = await Promise.all(stored);
    assert.ok(results.every((r) => !r.duplicate && r.copies.length === 2));
    assert.equal(w.written, 0, 'every batch was acked before its deadline: none reached the writer');
    assert.deepEqual(d.stats(), EMPTY);
  } finally {
    d.stop();
  }
});

test('deferred appends - written by flushAll, by the deadline, or after the hold: nothing left behind', async () => {
  const w = writer();
  const d = new DeferredAppends(1, w.flushTo, 2);
  // The store's timers do not keep a process alive (the writer thread does); this test has no thread.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    const s = { userId: randomUUID(), deviceId: 1 };
    const r = { userId: randomUUID(), deviceId: 1 };
    // flushAll
    const a = [0, 1, 2].map((i) => d.park(batch(s, `a${i}`, [r]), 1 + i));
    d.flushAll();
    await Promise.all(a);
    await turn();
    assert.deepEqual(d.stats(), EMPTY, 'after flushAll and the commits');
    // the deadline (1 ms): awaiting `stored` is the synchronisation
    await d.park(batch(s, 'b', [r]), 10);
    await turn();
    assert.deepEqual(d.stats(), EMPTY, 'after the deadline wrote it');
    // acked but never dropped: written when its hold (2 ms) ends
    const c = d.park(batch(s, 'c', [r]), 20);
    const heldWritten = once(w.events, 'write');
    d.received(r.userId, r.deviceId, 20);
    await c; // settled by the ack
    const [write] = (await heldWritten) as [ParkedWrite];
    assert.equal(write.batch.clientMessageId, 'c');
    await turn();
    assert.deepEqual(d.stats(), EMPTY, 'after the hold wrote it');
  } finally {
    d.stop();
    clearInterval(keepAlive);
  }
});

test('deferred appends - the queues keep park order through wrap-around and growth', async () => {
  const w = writer();
  const order: number[] = [];
  w.events.on('write', (write: ParkedWrite) => order.push(write.firstId));
  const d = new DeferredAppends(60_000, w.flushTo);
  try {
    const s = { userId: randomUUID(), deviceId: 1 };
    const r = { userId: randomUUID(), deviceId: 1 };
    const other = { userId: randomUUID(), deviceId: 1 };
    let id = 0;
    const park = (to: DeviceAddress) => d.park(batch(s, `m${++id}`, [to]), id);
    // 12 parked, the first 9 acked and dropped (the front moves), then 40 more: the
    // buffers wrap around and grow while their front is not at index 0.
    for (let i = 0; i < 12; i++) park(r);
    d.drop(r.userId, r.deviceId, 9);
    assert.equal(d.stats().queued, 3);
    for (let i = 0; i < 40; i++) park(i % 2 === 0 ? r : other);
    assert.equal(d.stats().queued, 43);
    // Dropping some in the middle (device `other`) leaves them in the queue, skipped when written.
    d.drop(other.userId, other.deviceId, 30);
    d.flushAll();
    await turn();
    const expected = [10, 11, 12, ...Array.from({ length: 40 }, (_, i) => 13 + i).filter((n) => n % 2 === 1 || n > 30)];
    assert.deepEqual(order, expected, 'written in id order, without the elided ones');
    assert.deepEqual(d.stats(), EMPTY);
  } finally {
    d.stop();
  }
});

test('deferred appends - a never-written batch is recognised by its exact key and sender (UTF-8 keys, a key longer than a slot, ring overwrite)', async () => {
  const w = writer();
  const d = new DeferredAppends(60_000, w.flushTo, 60_000, 5);
  try {
    const s = { userId: randomUUID(), deviceId: 1 };
    const other = { userId: randomUUID(), deviceId: 2 };
    const to = { userId: randomUUID(), deviceId: 1 };
    // 96 bytes is one slot exactly; 97 and a 300-byte key are kept as strings.
    const keys = ['m-é-😀-ключ', 'x'.repeat(96), 'y'.repeat(97), 'z'.repeat(300), 'short'];
    for (let i = 0; i < keys.length; i++) {
      const stored = d.park({ ...batch(s, keys[i]!, [to]), serverTimestamp: 1000 + i }, 10 + i);
      d.drop(to.userId, to.deviceId, 10 + i);
      assert.equal((await stored).duplicate, false);
    }
    assert.equal(w.written, 0, 'all elided');
    const resend = (sender: DeviceAddress, key: string) => d.duplicateOf({ ...batch(sender, key, [to]), serverTimestamp: 9999, resend: true });
    for (let i = 0; i < keys.length; i++) {
      const r = await resend(s, keys[i]!);
      assert.ok(r !== undefined, `key ${i} recognised`);
      assert.deepEqual([r.duplicate, r.serverTimestamp, r.copies.map((c) => c.id)], [true, 1000 + i, [encodeInboxId(10 + i)]]);
    }
    // Same length, other bytes; a prefix; another sender: not duplicates.
    for (const k of ['m-é-😀-ключ'.replace('é', 'e\u0301'), 'x'.repeat(95) + 'X', 'x'.repeat(95), 'y'.repeat(96) + 'Y', 'z'.repeat(299), 'shorT']) {
      assert.equal(resend(s, k), undefined, `${k.slice(0, 12)}… is not a duplicate`);
    }
    assert.equal(resend(other, 'short'), undefined, 'another sender device');
    // The ring holds 5: a sixth never-written batch replaces the oldest.
    const stored = d.park({ ...batch(s, 'sixth', [to]), serverTimestamp: 2000 }, 20);
    d.drop(to.userId, to.deviceId, 20);
    await stored;
    assert.equal(resend(s, keys[0]!), undefined, 'the oldest was forgotten');
    assert.ok(resend(s, 'sixth') !== undefined && resend(s, keys[1]!) !== undefined);
  } finally {
    d.stop();
  }
});
