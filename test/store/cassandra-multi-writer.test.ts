/**
 * CassandraInboxStore in multi-writer mode (`commitHorizonMs` set): several
 * stores ("nodes") append to one device with their own sequencers, and the
 * reader acks through `multiWriter` (point deletes + a verified cursor), so an
 * entry minted earlier on one node but committed later is never lost.
 *
 * Clocks are injected (`now`), never slept on. Uses the node on
 * PARLEY_CASSANDRA_CONTACT_POINTS, or ensureCassandra() starts one for this
 * file. Each run migrates a fresh keyspace `parley_test_<random>` and drops it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStoreError } from '../../store/errors.ts';
import { CassandraInboxStore } from '../../store/cassandra/cassandra-inbox-store.ts';
import type { CassandraInboxOptions } from '../../store/cassandra/index.ts';
import { INBOX_CURSOR_START, type DeviceAddress, type InboxStore, type MultiWriterInbox } from '../../store/types.ts';
import { batch, device, newUserId, rejectsWith } from './contracts/helpers.ts';
import { inboxContract } from './contracts/inbox-contract.ts';
import { useTestKeyspace } from './fixtures/cassandra-keyspace.ts';

const db = useTestKeyspace();
const { keyspace } = db;
const HORIZON = 10_000;
const T0 = Date.UTC(2031, 5, 1, 12);

/** One "node": its own client, store, sequencers and id tail; closed in `after`. */
async function openNode(extra: Partial<CassandraInboxOptions> = {}): Promise<{ inbox: InboxStore; mw: MultiWriterInbox }> {
  const c = await db.open({ commitHorizonMs: HORIZON, ...extra });
  db.atEnd(() => c.close());
  assert.ok(c.inbox.multiWriter, 'commitHorizonMs set: the store is multi-writer');
  return { inbox: c.inbox, mw: c.inbox.multiWriter };
}

async function idsFromStart(inbox: InboxStore, d: DeviceAddress): Promise<string[]> {
  return (await inbox.read(d, INBOX_CURSOR_START, 100)).map((e) => e.id);
}

async function appendOne(inbox: InboxStore, sender: DeviceAddress, clientMessageId: string, recipient: DeviceAddress): Promise<string> {
  return (await inbox.append(batch(sender, clientMessageId, [recipient]))).copies[0]!.id;
}

inboxContract(
  'CassandraInboxStore (multi-writer)',
  async ({ retention }) => {
    const c = await db.open({ retention, commitHorizonMs: HORIZON });
    return { inbox: c.inbox, close: () => c.close() };
  },
  { clockDrivenExpiry: false, reusedKeyWithoutResend: 'stored-again' },
);

test('CassandraInboxStore multi-writer - an entry minted earlier on node A but committed after B\'s was read and acked is still read; ackIds deletes only the named ids', async () => {
  let clockA = T0;
  let clockB = T0 + 1000; // B's clock is ahead: its ids are larger than A's minted later
  const a = await openNode({ now: () => clockA });
  const b = await openNode({ now: () => clockB });
  const reader = await openNode(); // the Session's node, on the real clock (it is only given cursors)
  const r = device(newUserId(), 1);
  const s = device(newUserId(), 1);
  await a.inbox.count(r); // A has the device loaded (its sequencer floor) before B's entry exists, as when its append was in flight

  const b1 = await appendOne(b.inbox, s, 'b1', r);
  assert.deepEqual(await idsFromStart(reader.inbox, r), [b1]);
  // the reader pushed b1, the device acked it; the horizon (reader time T0 + H − 1) is below anything A mints at T0
  const cursor = reader.mw.horizonCursor(T0 + HORIZON - 1);
  await reader.mw.ackIds(r, [b1], cursor);

  const a1 = await appendOne(a.inbox, s, 'a1', r); // lands after b1 was read and acked
  clockB += 1;
  const b2 = await appendOne(b.inbox, s, 'b2', r);
  assert.ok(a1 < b1 && b1 < b2, 'A minted the smallest id');
  assert.ok(cursor < a1, 'the verified cursor is below the late entry');

  assert.deepEqual((await reader.inbox.read(r, cursor, 100)).map((e) => e.clientMessageId), ['a1', 'b2'], 'the late entry is read above the cursor');
  assert.deepEqual(await idsFromStart(reader.inbox, r), [a1, b2], 'b1 alone was deleted');
  assert.equal(await reader.inbox.count(r), 2);

  clockA += 1;
  const a2 = await appendOne(a.inbox, s, 'a2', r);
  await reader.mw.ackIds(r, [b2, a1], cursor);
  assert.deepEqual(await idsFromStart(reader.inbox, r), [a2], 'exactly the un-acked entry is left, older than an acked one');
  await reader.mw.ackIds(r, [b2, a1], cursor); // idempotent
  const fresh = await openNode();
  assert.deepEqual(await idsFromStart(fresh.inbox, r), [a2], 'another node reads the same');
});

test('CassandraInboxStore multi-writer - ackIds never lowers the stored cursor; reads start above it', async () => {
  let now = T0;
  const { inbox, mw } = await openNode({ now: () => now });
  const r = device(newUserId(), 1);
  const s = device(newUserId(), 1);
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    ids.push(await appendOne(inbox, s, `m${i}`, r));
    now += 1000;
  }

  await mw.ackIds(r, [], ids[1]!); // cursor only: nothing deleted, m0 and m1 now lie at or below it
  assert.deepEqual(await idsFromStart(inbox, r), ids.slice(2));
  await mw.ackIds(r, [ids[2]!], ids[0]!); // a lower cursor: m2 is deleted, the cursor stays at m1
  assert.deepEqual(await idsFromStart(inbox, r), ids.slice(3));

  const other = await openNode();
  assert.deepEqual(await idsFromStart(other.inbox, r), ids.slice(3), 'a fresh store handle reads nothing at or below the stored cursor');
  assert.deepEqual((await other.inbox.read(r, ids[0]!, 100)).map((e) => e.id), ids.slice(3), 'a client cursor below it starts at it');

  await mw.ackIds(r, [ids[3]!], INBOX_CURSOR_START); // INBOX_CURSOR_START: delete only
  assert.deepEqual(await idsFromStart(other.inbox, r), []);
  now += 1000;
  const later = await appendOne(inbox, s, 'later', r);
  assert.deepEqual(await idsFromStart(other.inbox, r), [later]);
});

test('CassandraInboxStore multi-writer - ackIds deletes ids from several day buckets', async () => {
  let now = Date.UTC(2031, 0, 1, 23, 59, 59);
  const { inbox, mw } = await openNode({ now: () => now });
  const r = device(newUserId(), 1);
  const s = device(newUserId(), 1);
  const ids: string[] = [];
  for (let day = 0; day < 3; day++) {
    ids.push(await appendOne(inbox, s, `d${day}a`, r), await appendOne(inbox, s, `d${day}b`, r));
    now += 86_400_000;
  }
  await mw.ackIds(r, [ids[5]!, ids[0]!, ids[3]!], INBOX_CURSOR_START);
  assert.deepEqual(await idsFromStart(inbox, r), [ids[1]!, ids[2]!, ids[4]!]);
});

test('CassandraInboxStore multi-writer - horizonCursor(now) is the lowest id of the tick horizon ms before now', async () => {
  const { inbox, mw } = await openNode({ now: () => T0 });
  const r = device(newUserId(), 1);
  const id = await appendOne(inbox, device(newUserId(), 1), 'x', r);
  assert.ok(mw.horizonCursor(T0 + HORIZON - 1) < id);
  assert.ok(mw.horizonCursor(T0 + HORIZON) < id, 'same tick: the horizon cursor is below it');
  assert.ok(mw.horizonCursor(T0 + HORIZON + 1) > id, 'one ms later it is above it');
  // Cassandra agrees: the cursor is accepted by read, and compares the same way
  assert.deepEqual((await inbox.read(r, mw.horizonCursor(T0 + HORIZON), 10)).map((e) => e.id), [id]);
  assert.deepEqual(await inbox.read(r, mw.horizonCursor(T0 + HORIZON + 1), 10), []);
  assert.equal(mw.horizonMs, HORIZON);
  assert.throws(() => mw.horizonCursor(-1), (err: unknown) => isStoreError(err, 'PARLEY_ERR_STORE_INVALID_INPUT'));
});

test('CassandraInboxStore multi-writer - ids many writers mint in the same tick sort as strings exactly as Cassandra orders them', async () => {
  const c = await db.open();
  db.atEnd(() => c.close());
  // one client, sixteen stores: each has its own sequencers and id tail, like sixteen nodes
  const r = device(newUserId(), 1);
  const writers = Array.from({ length: 16 }, () => new CassandraInboxStore(c.client, { keyspace, commitHorizonMs: HORIZON, now: () => T0 }));
  for (const w of writers) await w.count(r); // every writer loads the device before any appends: all mint the tick of T0
  const ids = await Promise.all(writers.map((w, i) => appendOne(w, device(newUserId(), 1), `w${i}`, r)));
  assert.equal(new Set(ids.map((id) => id.slice(0, 16))).size, 1, 'one tick');
  const sorted = [...ids].sort();
  const reader = writers[0]!;
  assert.deepEqual(await idsFromStart(reader, r), sorted, 'Cassandra order = string order');
  assert.deepEqual((await reader.read(r, reader.multiWriter!.horizonCursor(T0 + HORIZON), 100)).map((e) => e.id), sorted, 'the horizon cursor of that tick is below all');
  for (let i = 0; i < sorted.length; i++) {
    assert.deepEqual((await reader.read(r, sorted[i]!, 100)).map((e) => e.id), sorted.slice(i + 1), `read after ${sorted[i]}`);
  }
});

test('CassandraInboxStore multi-writer - an append past the commit deadline is undone and rejected retryably; a retry stores it', async () => {
  // the store reads the clock when it mints and again before the dedup row; jump by `step` in between
  let step = HORIZON / 2 + 1;
  let t = T0;
  let calls = 0;
  const { inbox } = await openNode({ now: () => (++calls % 2 === 1 ? t : t + step) });
  const recipients = [device(newUserId(), 1), device(newUserId(), 2)];
  const s = device(newUserId(), 1);

  await assert.rejects(inbox.append(batch(s, 'slow', recipients)), (err: unknown) => {
    assert.ok(isStoreError(err, 'PARLEY_ERR_STORE_UNAVAILABLE'), `got ${String(err)}`);
    assert.equal(err.retryable, true);
    assert.match(err.message, /commit deadline/);
    assert.equal(err.details?.['operation'], 'inbox.append');
    return true;
  });
  for (const d of recipients) assert.deepEqual(await idsFromStart(inbox, d), [], 'no copy left');

  step = HORIZON / 2; // exactly at the deadline: accepted
  t += 1000;
  const retried = await inbox.append(batch(s, 'slow', recipients, { resend: true }));
  assert.equal(retried.duplicate, false, 'the rejected attempt left no dedup row');
  for (const d of recipients) assert.deepEqual((await inbox.read(d, INBOX_CURSOR_START, 10)).map((e) => e.clientMessageId), ['slow']);
});

test('CassandraInboxStore multi-writer - invalid ackIds input rejects PARLEY_ERR_STORE_INVALID_INPUT and deletes nothing', async () => {
  let now = T0;
  const { inbox, mw } = await openNode({ now: () => now });
  const r = device(newUserId(), 1);
  const s = device(newUserId(), 1);
  const first = await appendOne(inbox, s, 'm0', r);
  now += 1;
  const second = await appendOne(inbox, s, 'm1', r);
  const bad = 'PARLEY_ERR_STORE_INVALID_INPUT';
  await rejectsWith(mw.ackIds(r, [first, 'not-an-id'], second), bad);
  await rejectsWith(mw.ackIds(r, [first, INBOX_CURSOR_START], second), bad);
  await rejectsWith(mw.ackIds(r, [first, first.toUpperCase()], second), bad);
  await rejectsWith(mw.ackIds(r, [first], 'zz'), bad);
  await rejectsWith(mw.ackIds(device(newUserId(), 0), [first], second), bad);
  await rejectsWith(mw.ackIds({ userId: 'someone', deviceId: 1 }, [first], second), bad);
  await rejectsWith(mw.ackIds(r, first as unknown as string[], second), bad);
  assert.deepEqual(await idsFromStart(inbox, r), [first, second], 'nothing deleted, the cursor did not move');
  assert.deepEqual(await idsFromStart((await openNode()).inbox, r), [first, second], 'nor the stored cursor');
});

test('CassandraInboxStore multi-writer - without commitHorizonMs the store has no multiWriter; a bad horizon refuses to open', async () => {
  const single = await db.open();
  db.atEnd(() => single.close());
  assert.equal(single.inbox.multiWriter, undefined);
  for (const commitHorizonMs of [999, 1500.5, -1, Number.NaN]) {
    await rejectsWith(db.open({ commitHorizonMs }), 'PARLEY_ERR_STORE_INVALID_INPUT');
  }
});
