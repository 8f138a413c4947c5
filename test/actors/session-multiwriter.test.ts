/**
 * The multi-writer delivery rules (actors/session-multiwriter.ts) on their
 * own: read rounds and the low-water mark, paging over known ids, a full
 * window ending a round, and the verified cursor. The horizon is a plain
 * function of time here (ids are zero-padded times), which is all the rules
 * rely on; the real horizon is tested against Cassandra in
 * test/store/cassandra-multi-writer.test.ts, and the whole on real clusters
 * in test/e2e/cluster-*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InboxEntry, MultiWriterInbox } from '../../store/types.ts';
import { applyVerified, directPush, newMultiWriterState, readStart, resetMultiWriter, takeRead } from '../../actors/session-multiwriter.ts';

const HORIZON = 1000;
const id = (t: number) => String(t).padStart(8, '0');

/** Horizon cursor of time t: every id minted before t − HORIZON is at or below it. */
const inbox: MultiWriterInbox = {
  horizonMs: HORIZON,
  horizonCursor: (now) => id(now - HORIZON),
  ackIds: () => Promise.reject(new Error('not used')),
};

function entry(t: number): InboxEntry {
  return { id: id(t), sender: { userId: 'u', deviceId: 1 }, clientMessageId: `m${t}`, kind: 'message', serverTimestamp: t, payload: new Uint8Array() };
}

test('multi-writer: a completed round raises the low-water mark to the horizon of its start; the next round starts there', () => {
  const mw = newMultiWriterState(inbox, 0);
  assert.equal(readStart(mw, '', 5000), '', 'first round: from the cursor');
  const r = takeRead(mw, [entry(4800), entry(4900)], 10, 100);
  assert.deepEqual(r.push.map((e) => e.id), [id(4800), id(4900)]);
  assert.equal(r.more, false);
  assert.equal(mw.lowWater, id(4000), 'horizon of the round start (5000 − 1000)');
  for (const e of r.push) mw.recent.set(e.id, false);
  // next round: from min(readCursor, lowWater), i.e. below what was pushed
  assert.equal(readStart(mw, id(4900), 6000), id(4000));
});

test('multi-writer: a late commit below the highest pushed id is read in the next round, known ids are skipped', () => {
  const mw = newMultiWriterState(inbox, 0);
  readStart(mw, '', 5000);
  takeRead(mw, [entry(4900)], 10, 100);
  mw.recent.set(id(4900), false);
  // 4850 (another writer) became visible after that read
  const from = readStart(mw, id(4900), 5100);
  assert.ok(from < id(4850), 'the round starts below the late entry');
  const r = takeRead(mw, [entry(4850), entry(4900), entry(5050)], 10, 100);
  assert.deepEqual(r.push.map((e) => e.id), [id(4850), id(5050)], 'late one pushed, known one skipped, in id order');
});

test('multi-writer: full pages continue the round from the last id; the low-water mark moves only when it completes', () => {
  const mw = newMultiWriterState(inbox, 0);
  readStart(mw, '', 5000);
  const first = takeRead(mw, [entry(1), entry(2)], 2, 100);
  assert.equal(first.more, true);
  assert.equal(mw.lowWater, '', 'round not complete yet');
  assert.equal(readStart(mw, id(2), 5500), id(2), 'next page from the last id');
  const second = takeRead(mw, [entry(3)], 2, 100);
  assert.equal(second.more, false);
  assert.equal(mw.lowWater, id(4000), 'horizon of the round start, not of the last page');
});

test('multi-writer: a full window ends the round incomplete (low-water mark unchanged, next round starts low again)', () => {
  const mw = newMultiWriterState(inbox, 0);
  mw.lowWater = id(100);
  readStart(mw, id(500), 5000);
  const r = takeRead(mw, [entry(200), entry(300), entry(400)], 10, 2);
  assert.deepEqual(r.push.map((e) => e.id), [id(200), id(300)]);
  assert.equal(r.more, true);
  assert.equal(mw.lowWater, id(100));
  assert.equal(readStart(mw, id(300), 6000), id(100));
});

test('multi-writer: verification moves the cursor to the largest acked id below the first unacked entry, or to V when all are acked', () => {
  const mw = newMultiWriterState(inbox, 0);
  for (const t of [10, 20, 30, 40]) mw.recent.set(id(t), false);
  mw.recent.set(id(10), true);
  mw.recent.set(id(20), true);
  mw.recent.set(id(40), true);
  // 10 and 20 deleted already (not returned), 30 unacked, 40 acked but not deleted yet
  const v = applyVerified(mw, id(50), [entry(30), entry(40)]);
  assert.equal(v.cursor, id(20));
  assert.deepEqual(v.unpushed, []);
  assert.ok(!mw.recent.has(id(10)) && !mw.recent.has(id(20)) && mw.recent.has(id(30)));
  mw.recent.set(id(30), true);
  const all = applyVerified(mw, id(50), [entry(40)]);
  assert.equal(all.cursor, id(50), 'every entry up to V acked');
  assert.equal(mw.recent.size, 0);
});

test('multi-writer: verification never moves the cursor past an entry that was never pushed, and makes the next round reread from the cursor', () => {
  const mw = newMultiWriterState(inbox, 0);
  mw.recent.set(id(10), true);
  mw.recent.set(id(30), true);
  const v = applyVerified(mw, id(50), [entry(10), entry(20), entry(30)]);
  assert.equal(v.cursor, id(10));
  assert.deepEqual(v.unpushed, [id(20)]);
  mw.lowWater = id(40);
  assert.equal(readStart(mw, id(45), 9000), id(10), 'reread from the cursor');
});

test('multi-writer: after a takeover unacked ids are forgotten (delivered again) and acked ones stay known', () => {
  const mw = newMultiWriterState(inbox, 0);
  mw.recent.set(id(1), true);
  mw.recent.set(id(2), false);
  mw.lowWater = id(2);
  resetMultiWriter(mw);
  assert.deepEqual([...mw.recent.keys()], [id(1)]);
  assert.equal(mw.lowWater, '');
});

test('multi-writer: a notify is pushed at once only when the same sender\'s previous entry was pushed; else it reads', () => {
  const mw = newMultiWriterState(inbox, 0);
  mw.lowWater = id(100);
  mw.recent.set(id(150), false);
  assert.equal(directPush(mw, id(160), id(150), true), 'push', 'prev pushed (in recent)');
  assert.equal(directPush(mw, id(160), id(90), true), 'push', 'prev at or below the low-water mark');
  assert.equal(directPush(mw, id(160), id(155), true), 'read', 'prev never pushed (its notify was lost): read, in id order');
  assert.equal(directPush(mw, id(160), undefined, true), 'read', 'prev unknown (a new sending session)');
  assert.equal(directPush(mw, id(160), id(150), false), 'read', 'window full');
  assert.equal(directPush(mw, id(150), id(140), true), 'skip', 'already pushed');
  assert.equal(directPush(mw, id(99), id(90), true), 'skip', 'seen by a completed round');
});
