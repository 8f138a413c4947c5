/**
 * Deferred appends of the embedded SQLite inbox (store/embedded/deferred-appends.ts,
 * `EarlyIds.append(batch, { defer: true })`): a batch whose devices acknowledge
 * it first settles without a commit and, once acked, is never written; one
 * nobody acknowledges is written by its deadline, by `allSettled`, by a
 * non-deferred append (ahead of it, in id order) or by closing.
 *
 * Synchronisation is on promises and event-loop turns only: no sleeps, no
 * durations asserted.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { openEmbeddedStores, type EmbeddedStores } from '../../store/embedded/index.ts';
import { INBOX_CURSOR_START, type AppendResult, type DeviceAddress, type EarlyIds, type InboxBatch } from '../../store/types.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-sqlite-deferred-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const nextFile = () => path.join(dir, `deferred-${++seq}.db`);

/** A test that would otherwise hang (e.g. awaiting a settle that never comes) fails instead. */
const LIMIT = { timeout: 30_000 };

function device(userId: string, deviceId: number): DeviceAddress {
  return { userId, deviceId };
}

function newUserId(): string {
  return randomUUID();
}

/** A batch from `sender` with one copy per recipient; payload encodes the message id and recipient index. */
function batch(
  sender: DeviceAddress,
  clientMessageId: string,
  recipients: readonly DeviceAddress[],
  options: { serverTimestamp?: number; resend?: boolean } = {},
): InboxBatch {
  const b: InboxBatch = {
    sender,
    clientMessageId,
    kind: 'message',
    serverTimestamp: options.serverTimestamp ?? 1_700_000_000_000,
    copies: recipients.map((recipient, i) => ({ recipient, payload: new TextEncoder().encode(`${clientMessageId}#${i}`) })),
  };
  return options.resend === undefined ? b : { ...b, resend: options.resend };
}

/** One full event-loop turn (timers aside): lets already-settled work run its callbacks. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function earlyOf(stores: EmbeddedStores): EarlyIds {
  const early = stores.inbox.early;
  assert.ok(early !== undefined, 'a file database announces ids early');
  return early;
}

/** Rows of `inbox_dedup` for this key, read on a separate read-only connection. */
function dedupRows(file: string, sender: DeviceAddress, clientMessageId: string): number {
  const ro = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const row = ro.prepare('SELECT count(*) AS n FROM inbox_dedup WHERE sender_user = ? AND sender_device = ? AND client_message_id = ?')
      .get(sender.userId, sender.deviceId, clientMessageId) as { n: number };
    return row.n;
  } finally {
    ro.close();
  }
}

/** Tracks whether a promise has settled (and how), without awaiting it. */
function track<T>(promise: Promise<T>): { readonly settled: boolean } {
  const state = { settled: false };
  promise.then(() => { state.settled = true; }, () => { state.settled = true; });
  return state;
}

const ids = (r: AppendResult) => r.copies.map((c) => c.id);

/** Opens a store on a new file with `deferMs`, runs `body` with a sender `s` and a recipient device `d`, closes the store. */
async function withStore(
  deferMs: number,
  body: (x: { stores: EmbeddedStores; early: EarlyIds; s: DeviceAddress; d: DeviceAddress; file: string }) => Promise<void>,
): Promise<void> {
  const file = nextFile();
  const stores = await openEmbeddedStores({ path: file, deferMs });
  try {
    await body({ stores, early: earlyOf(stores), s: device(newUserId(), 1), d: device(newUserId(), 1), file });
  } finally {
    await stores.close();
  }
}

/**
 * A store (deferMs 60 s) whose file's write lock `body` can take from a second
 * connection (`lock()`; `unlock()` releases it; released at the end anyway).
 * A long busy timeout: appends wait for the lock instead of failing.
 */
async function withLockableStore(
  body: (x: { stores: EmbeddedStores; early: EarlyIds; s: DeviceAddress; lock(): void; unlock(): void }) => Promise<void>,
): Promise<void> {
  const file = nextFile();
  const stores = await openEmbeddedStores({ path: file, deferMs: 60_000, busyTimeoutMs: 60_000 });
  const db = new Database(file);
  let locked = false;
  const unlock = () => {
    if (locked) db.exec('ROLLBACK');
    locked = false;
  };
  try {
    await body({ stores, early: earlyOf(stores), s: device(newUserId(), 1), lock: () => { db.exec('BEGIN IMMEDIATE'); locked = true; }, unlock });
  } finally {
    unlock();
    db.close();
    await stores.close();
  }
}

test('deferred append: received by every device settles without a commit (the write lock is held elsewhere)', LIMIT, () => withLockableStore(async ({ early, s, lock, unlock }) => {
  const u = newUserId();
  const d1 = device(u, 1);
  const d2 = device(u, 2);
  const other = device(newUserId(), 1);
  lock();

  // Issued while nothing can commit: it must stay pending until the lock is released.
  const b = early.append(batch(s, 'plain', [other]));
  const bState = track(b.stored);

  const a = early.append(batch(s, 'deferred', [d1, d2]), { defer: true });
  assert.equal(a.ids.length, 2);
  const aState = track(a.stored);
  early.received(d1, a.ids[0]!);
  await turn();
  assert.equal(aState.settled, false, 'one copy is not acknowledged yet (nor committed)');
  early.received(d2, a.ids[1]!);
  await turn();
  // (checked after a turn rather than only awaited: if it waited for a commit, it would wait for the lock)
  assert.equal(aState.settled, true, 'settled once every copy was acknowledged');
  const result = await a.stored;
  assert.equal(result.duplicate, false);
  assert.equal(result.serverTimestamp, 1_700_000_000_000);
  assert.deepEqual(ids(result), a.ids, 'settled with the ids append gave');
  assert.deepEqual(result.copies.map((c) => c.recipient), [d1, d2]);

  await turn();
  assert.equal(bState.settled, false, 'the non-deferred append is still waiting for the lock: nothing committed, so the deferred one needed no commit');

  unlock();
  const plain = await b.stored;
  assert.equal(plain.duplicate, false);
  assert.deepEqual(ids(plain), b.ids);
}));

test('deferred append: received then acked before the deadline is never written, yet a resend is a duplicate', LIMIT, () => withStore(60_000, async ({ stores, early, s, d, file }) => {
  const a = early.append(batch(s, 'elided', [d], { serverTimestamp: 1_700_000_000_123 }), { defer: true });
  early.received(d, a.ids[0]!);
  const original = await a.stored;
  assert.deepEqual([original.duplicate, ids(original)], [false, a.ids]);
  await stores.inbox.ack(d, a.ids[0]!);
  await early.allSettled();

  assert.equal(await stores.inbox.count(d), 0, 'no entry written');
  assert.deepEqual(await stores.inbox.read(d, INBOX_CURSOR_START, 10), []);
  assert.equal(dedupRows(file, s, 'elided'), 0, 'no de-duplication row written either: the batch never reached the writer');

  // The key is remembered in memory: a retransmission (with its own, later timestamp) is answered with the original.
  const retry = await stores.inbox.append(batch(s, 'elided', [d], { serverTimestamp: 1_700_000_999_999, resend: true }));
  assert.equal(retry.duplicate, true);
  assert.equal(retry.serverTimestamp, 1_700_000_000_123, 'the original timestamp');
  assert.deepEqual(ids(retry), a.ids, 'the original ids');
  assert.deepEqual(retry.copies.map((c) => c.recipient), [d]);

  await early.allSettled();
  assert.equal(await stores.inbox.count(d), 0, 'the retransmission stored nothing either');
  assert.equal(dedupRows(file, s, 'elided'), 0);
}));

test('deferred append: allSettled writes what is parked', LIMIT, () => withStore(60_000, async ({ stores, early, s, d, file }) => {
  const a = early.append(batch(s, 'parked', [d]), { defer: true });
  await early.allSettled();
  const entries = await stores.inbox.read(d, INBOX_CURSOR_START, 10);
  assert.deepEqual(entries.map((e) => [e.id, e.clientMessageId]), [[a.ids[0], 'parked']]);
  assert.equal(new TextDecoder().decode(entries[0]!.payload), 'parked#0');
  const result = await a.stored;
  assert.deepEqual([result.duplicate, ids(result)], [false, a.ids]);
}));

test('deferred append: the deadline writes an append nobody acknowledged', LIMIT, () => withStore(5, async ({ stores, early, s, d, file }) => {
  const a = early.append(batch(s, 'unacked', [d]), { defer: true });
  // Nobody calls received: `stored` can only resolve through the commit the deadline triggers.
  const result = await a.stored;
  assert.deepEqual([result.duplicate, ids(result)], [false, a.ids]);
  assert.deepEqual((await stores.inbox.read(d, INBOX_CURSOR_START, 10)).map((e) => e.id), a.ids, 'committed by the time stored resolved');
}));

test('deferred append: a non-deferred append sends the parked one ahead of it (commit order = id order)', LIMIT, () => withStore(60_000, async ({ stores, early, s, d, file }) => {
  const a = early.append(batch(s, 'A', [d]), { defer: true });
  const b = early.append(batch(s, 'B', [d]));
  assert.ok(a.ids[0]! < b.ids[0]!);
  const rb = await b.stored;
  assert.deepEqual([rb.duplicate, ids(rb)], [false, b.ids]);
  const entries = await stores.inbox.read(d, INBOX_CURSOR_START, 10);
  assert.deepEqual(entries.map((e) => [e.id, e.clientMessageId]), [[a.ids[0], 'A'], [b.ids[0], 'B']], 'A was written ahead of B');
  const ra = await a.stored;
  assert.deepEqual([ra.duplicate, ids(ra)], [false, a.ids]);
}));

test('deferred append: copies acked by one device only; the other device\'s copy is written, a resend names both', LIMIT, () => withStore(60_000, async ({ stores, early, s, d, file }) => {
  const d1 = device(newUserId(), 1);
  const d2 = device(newUserId(), 3);
  const a = early.append(batch(s, 'partial', [d1, d2]), { defer: true });
  early.received(d1, a.ids[0]!);
  await stores.inbox.ack(d1, a.ids[0]!);
  await early.allSettled();

  assert.deepEqual(await stores.inbox.read(d1, INBOX_CURSOR_START, 10), [], 'the acked copy was never written');
  assert.equal(await stores.inbox.count(d1), 0);
  const e2 = await stores.inbox.read(d2, INBOX_CURSOR_START, 10);
  assert.deepEqual(e2.map((e) => [e.id, e.clientMessageId]), [[a.ids[1], 'partial']]);
  assert.equal(new TextDecoder().decode(e2[0]!.payload), 'partial#1', 'd2 got its own copy');

  const result = await a.stored;
  assert.deepEqual([result.duplicate, ids(result)], [false, a.ids], 'the batch settled with both ids');
  const retry = await stores.inbox.append(batch(s, 'partial', [d1, d2], { resend: true }));
  assert.equal(retry.duplicate, true);
  assert.deepEqual(ids(retry), a.ids, 'both original ids');
  assert.deepEqual(retry.copies.map((c) => c.recipient), [d1, d2]);
  assert.equal(await stores.inbox.count(d1), 0);
  assert.equal(await stores.inbox.count(d2), 1, 'nothing stored twice');
}));

test('deferred append: a resend of a parked batch is its duplicate once it settles; nothing is stored twice', LIMIT, () => withStore(60_000, async ({ stores, early, s, d, file }) => {
  const a = early.append(batch(s, 'twice', [d], { serverTimestamp: 1_700_000_000_500 }), { defer: true });
  const r = early.append(batch(s, 'twice', [d], { serverTimestamp: 1_700_000_000_900, resend: true }));
  assert.notDeepEqual(r.ids, a.ids, 'the resend got ids of its own at the call (a gap)');
  const rState = track(r.stored);
  await turn();
  assert.equal(rState.settled, false, 'the resend waits for the original');

  early.received(d, a.ids[0]!);
  const [original, retry] = await Promise.all([a.stored, r.stored]);
  assert.deepEqual([original.duplicate, ids(original)], [false, a.ids]);
  assert.equal(retry.duplicate, true);
  assert.deepEqual(ids(retry), a.ids, 'the original ids');
  assert.equal(retry.serverTimestamp, 1_700_000_000_500, 'the original timestamp');

  await stores.inbox.ack(d, a.ids[0]!);
  await early.allSettled();
  assert.equal(await stores.inbox.count(d), 0, 'neither the original nor the resend was written');
  assert.equal(dedupRows(file, s, 'twice'), 0);
}));

test('deferred append: closing the stores writes what is parked', LIMIT, async () => {
  const file = nextFile();
  const s = device(newUserId(), 1);
  const d = device(newUserId(), 1);
  const first = await openEmbeddedStores({ path: file, deferMs: 60_000 });
  let a: ReturnType<EarlyIds['append']>;
  try {
    a = earlyOf(first).append(batch(s, 'at-close', [d]), { defer: true });
  } finally {
    await first.close();
  }
  const second = await openEmbeddedStores({ path: file, deferMs: 60_000 });
  try {
    const entries = await second.inbox.read(d, INBOX_CURSOR_START, 10);
    assert.deepEqual(entries.map((e) => [e.id, e.clientMessageId]), [[a.ids[0], 'at-close']]);
    const result = await a.stored;
    assert.deepEqual([result.duplicate, ids(result)], [false, a.ids], 'settled by the commit at close');
  } finally {
    await second.close();
  }
});

test('deferred store: acks after reopening delete entries from before the open though nothing was written since', LIMIT, async () => {
  const file = nextFile();
  const s = device(newUserId(), 1);
  const d = device(newUserId(), 1);
  const first = await openEmbeddedStores({ path: file, deferMs: 0 });
  const written: string[] = [];
  try {
    for (let i = 0; i < 4; i++) written.push((await first.inbox.append(batch(s, `old-${i}`, [d]))).copies[0]!.id);
    assert.equal(await first.inbox.count(d), 4);
  } finally {
    await first.close();
  }

  const second = await openEmbeddedStores({ path: file, deferMs: 60_000 });
  try {
    assert.equal(await second.inbox.count(d), 4);
    await second.inbox.ack(d, written[0]!);
    assert.deepEqual((await second.inbox.read(d, INBOX_CURSOR_START, 10)).map((e) => e.id), written.slice(1));
    await second.inbox.ack(d, written.at(-1)!);
    assert.equal(await second.inbox.count(d), 0, 'every entry from before the open was deleted');
    // and later entries are still deleted by later acks
    const next = await second.inbox.append(batch(s, 'new', [d]));
    assert.equal(await second.inbox.count(d), 1);
    await second.inbox.ack(d, next.copies[0]!.id);
    assert.equal(await second.inbox.count(d), 0);
  } finally {
    await second.close();
  }
});

// ---------------------------------------------------------------------------
// Beyond the cases above: deadlines of both kinds at once.
// ---------------------------------------------------------------------------

test('deferred append: a batch nobody acknowledges is written by its own deadline while an acknowledged one is held', LIMIT, () => withStore(5, async ({ stores, early, s, d, file }) => {
  // deferMs (5) is shorter than the hold of an acknowledged batch that waits for its delete (DEFAULT_HOLD_MS, 5 s),
  // as in the server's default config (inboxDeferMs 200).
  const da = device(newUserId(), 1);
  const db = device(newUserId(), 1);
  const dc = device(newUserId(), 1);
  // A: acknowledged, not deleted: held until its hold deadline (seconds away).
  const a = early.append(batch(s, 'held', [da]), { defer: true });
  early.received(da, a.ids[0]!);
  await a.stored;
  // C: written by its deadline; after that the only pending deadline is A's hold.
  const c = early.append(batch(s, 'first-unacked', [dc]), { defer: true });
  assert.deepEqual(ids(await c.stored), c.ids);
  // B: nobody acknowledges it; its deadline is milliseconds away, long before A's hold ends.
  const b = early.append(batch(s, 'second-unacked', [db]), { defer: true });
  assert.deepEqual(ids(await b.stored), b.ids);
  assert.deepEqual((await stores.inbox.read(db, INBOX_CURSOR_START, 10)).map((e) => e.id), b.ids);
  assert.deepEqual(await stores.inbox.read(da, INBOX_CURSOR_START, 10), [],
    'B was written by its own deadline, before A\'s hold ended (not together with A when the hold timer fired)');
}));

test('deferred append: a batch sent to the writer ahead of a non-deferred append still settles when its device acknowledges it', LIMIT, () => withLockableStore(async ({ early, s, lock }) => {
  const da = device(newUserId(), 1);
  const db = device(newUserId(), 1);
  lock();
  const a = early.append(batch(s, 'deferred', [da]), { defer: true });
  const aState = track(a.stored);
  const b = early.append(batch(s, 'plain', [db])); // sends A to the writer ahead of it; neither can commit
  const bState = track(b.stored);
  early.received(da, a.ids[0]!);
  await turn();
  assert.equal(bState.settled, false, 'nothing committed');
  assert.equal(aState.settled, true, 'the device has it: A settles without waiting for its commit');
}));

test('deferred append: allSettled(device) writes what is parked for that device and what was parked before it, nothing after', LIMIT, () => withStore(60_000, async ({ stores, early, s, d }) => {
  const other = device(newUserId(), 1);
  const a = early.append(batch(s, 'A', [other]), { defer: true });
  const b = early.append(batch(s, 'B', [d]), { defer: true });
  const c = early.append(batch(s, 'C', [other]), { defer: true });
  await early.allSettled(d);
  assert.deepEqual((await stores.inbox.read(d, INBOX_CURSOR_START, 10)).map((e) => e.id), b.ids, 'the device\'s own parked entry');
  assert.deepEqual((await stores.inbox.read(other, INBOX_CURSOR_START, 10)).map((e) => e.id), a.ids, 'A went ahead of B (id order); C stays parked');
  const cState = track(c.stored);
  await turn();
  assert.equal(cState.settled, false, 'C is still parked');
  early.received(other, c.ids[0]!);
  await c.stored;
}));
