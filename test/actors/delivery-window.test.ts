import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryWindow } from '../../actors/delivery-window.ts';

const id = (n: number) => n.toString(16).padStart(16, '0');

test('delivery-window - cumulative ack id advances only over a fully acked prefix', () => {
  const w = new DeliveryWindow<string>(10);
  const seqs = [1, 2, 3, 4].map((n) => w.push(id(n), `m${n}`));
  assert.deepEqual(seqs, [1, 2, 3, 4]);
  let out = w.ack([2, 3]);
  assert.deepEqual(out.newlyAcked, ['m2', 'm3']);
  assert.equal(out.ackUpTo, undefined, 'seq 1 still pending: nothing may be deleted');
  out = w.ack([1]);
  assert.equal(out.ackUpTo, id(3));
  assert.equal(w.size, 1);
  out = w.ack([4, 4, 99]);
  assert.deepEqual(out.newlyAcked, ['m4'], 'a repeated seq counts once');
  assert.equal(out.unknown, 1, 'seq 99 was never pushed');
  assert.equal(out.ackUpTo, id(4));
  assert.equal(w.size, 0);
});

test('delivery-window - capacity bounds the unacked deliveries, clear forgets them', () => {
  const w = new DeliveryWindow<number>(3);
  for (let i = 1; i <= 3; i++) w.push(id(i), i);
  assert.equal(w.hasRoom, false);
  w.ack([1]);
  assert.equal(w.hasRoom, true);
  w.clear();
  assert.equal(w.size, 0);
  assert.equal(w.ack([2, 3]).unknown, 2, 'acks from before clear are unknown');
  assert.equal(w.push(id(9), 9), 4, 'seqs keep increasing after clear');
});

test('delivery-window - many pushes and acks keep memory bounded and order intact', () => {
  const w = new DeliveryWindow<number>(100);
  let last: string | undefined;
  for (let i = 1; i <= 10_000; i++) {
    const seq = w.push(id(i), i);
    const out = w.ack([seq]);
    last = out.ackUpTo;
  }
  assert.equal(last, id(10_000));
  assert.equal(w.size, 0);
});

test('delivery-window - seqs outside the pending ones are unknown, whatever their value, across cuts and clears', () => {
  const w = new DeliveryWindow<number>(1000);
  for (let i = 1; i <= 100; i++) w.push(id(i), i);
  // Release 1..80 one by one: the front is cut off (a splice) along the way.
  for (let s = 1; s <= 80; s++) assert.equal(w.ack([s]).ackUpTo, id(s));
  let out = w.ack([0, -1, 1.5, 81.5, Number.NaN, 2 ** 40, 1, 50, 80, 101]);
  assert.equal(out.unknown, 10, 'released, never pushed, negative, fractional and huge seqs');
  assert.deepEqual(out.newlyAcked, []);
  assert.equal(out.ackUpTo, undefined);
  // Out of order within what is pending: acked once, released with the prefix.
  out = w.ack([83, 83, 81]);
  assert.deepEqual(out.newlyAcked, [83, 81]);
  assert.equal(out.ackUpTo, id(81));
  assert.equal(w.ack([83]).unknown, 0, 'acked but not released: a repeat, not unknown');
  assert.equal(w.ack([82]).ackUpTo, id(83));
  w.clear();
  assert.equal(w.ack([84, 100]).unknown, 2, 'pushed before the clear');
  const seq = w.push(id(200), 200);
  assert.equal(seq, 101);
  out = w.ack([seq]);
  assert.deepEqual(out.newlyAcked, [200]);
  assert.equal(out.ackUpTo, id(200));
});
