import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_HELD, admitEarly, dropHeld, newEarlyState, sendSettled, sendStarted, settled, type EarlyNotice } from '../../actors/session-early.ts';
import type { InboxEntry } from '../../store/types.ts';

const entry = (n: number): InboxEntry => ({
  id: n.toString(16).padStart(16, '0'), sender: { userId: 'u', deviceId: 1 }, clientMessageId: `m${n}`, kind: 'message', serverTimestamp: 0, payload: new Uint8Array(0),
});
const notice = (push: boolean): EarlyNotice => ({ push, fate: { stored: undefined } });

/** A state past its first settled read. */
function ready() {
  const es = newEarlyState();
  assert.equal(es.pending, true, 'a new session reads only after a settle');
  assert.deepEqual(settled(es, es.mark), []);
  assert.equal(es.pending, false);
  return es;
}

test('session-early - a first transmission goes at once when nothing is held or read; a held notice and everything after it wait', () => {
  const es = ready();
  assert.equal(admitEarly(es, entry(1), notice(true), true), 'push');
  assert.equal(admitEarly(es, entry(2), notice(false), true), 'held', 'a receipt or retransmission waits for its append');
  assert.equal(admitEarly(es, entry(3), notice(true), true), 'held', 'a pushable one behind a held one waits too (id order)');
  assert.deepEqual(es.held.map((h) => h.entry.id), [entry(2).id, entry(3).id]);
  assert.equal(es.pending, false, 'holding does not stop reads');
});

test('session-early - a notice while reading, waiting or windowless goes through a read after a settle, and so does everything held', () => {
  const es = ready();
  assert.equal(admitEarly(es, entry(1), notice(false), true), 'held');
  const mark = es.mark;
  assert.equal(admitEarly(es, entry(2), notice(true), false), 'read');
  assert.deepEqual(es.held, [], 'the held one goes through the read too');
  assert.equal(es.pending, true);
  assert.ok(es.mark > mark, 'a wait begun before this notice does not clear it');
});

test('session-early - a settle wait covers what was held when it began; pending clears only if nothing came after', () => {
  const es = ready();
  admitEarly(es, entry(1), notice(false), true);
  admitEarly(es, entry(2), notice(false), true);
  es.cover = es.held.length; // a wait begins (session-delivery awaitSettled)
  es.settling = true;
  const mark = es.mark;
  admitEarly(es, entry(3), notice(false), true);
  const out = settled(es, mark);
  assert.deepEqual(out.map((h) => h.entry.id), [entry(1).id, entry(2).id], 'only the covered ones');
  assert.deepEqual(es.held.map((h) => h.entry.id), [entry(3).id], 'the later one waits for the next settle');
  assert.equal(es.settling, false);

  dropHeld(es);
  const stale = es.mark - 1;
  settled(es, stale);
  assert.equal(es.pending, true, 'a wait older than the last drop does not clear pending');
  settled(es, es.mark);
  assert.equal(es.pending, false);
});

test('session-early - past MAX_HELD everything goes through a read', () => {
  const es = ready();
  for (let i = 1; i <= MAX_HELD; i++) assert.equal(admitEarly(es, entry(i), notice(false), true), 'held');
  assert.equal(admitEarly(es, entry(MAX_HELD + 1), notice(false), true), 'read');
  assert.deepEqual(es.held, []);
  assert.equal(es.pending, true);
});

test('session-early - a receipt goes at once only when none of its messages still waits for this device\'s `sent`', () => {
  const es = ready();
  const receipt = (ids: string[]): EarlyNotice => ({ push: false, fate: { stored: undefined }, receiptFor: ids });
  sendStarted(es, 'm1');
  sendStarted(es, 'm1'); // the same id in flight twice (a retransmission)
  assert.equal(admitEarly(es, entry(1), receipt(['m0']), true), 'push', 'its messages are all confirmed');
  sendSettled(es, 'm1');
  assert.equal(admitEarly(es, entry(2), receipt(['m0', 'm1']), true), 'held', 'm1 still waits for a `sent`');
  es.cover = es.held.length; // a settle wait covering it ends
  assert.equal(settled(es, es.mark).length, 1);
  sendSettled(es, 'm1');
  assert.equal(admitEarly(es, entry(3), receipt(['m1']), true), 'push');
  assert.equal(admitEarly(es, entry(4), { push: false, fate: { stored: undefined } }, true), 'held', 'no message ids: a retried receipt waits');
});
