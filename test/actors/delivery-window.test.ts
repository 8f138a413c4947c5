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
