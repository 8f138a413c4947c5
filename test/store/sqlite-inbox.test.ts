/**
 * SqliteInboxStore against the InboxStore contract (file and :memory:), plus
 * what only SQLite can show: a real SQL failure mid-batch rolls back the
 * copies before it, and entries survive close/reopen.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { openEmbeddedStores } from '../../store/embedded/index.ts';
import { INBOX_CURSOR_START } from '../../store/types.ts';
import { batch, device, newUserId } from './contracts/helpers.ts';
import { inboxContract } from './contracts/inbox-contract.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-sqlite-inbox-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const nextFile = () => path.join(dir, `inbox-${++seq}.db`);

inboxContract('SqliteInboxStore (file)', async ({ retention }) => {
  const stores = await openEmbeddedStores({ path: nextFile(), retention });
  return { inbox: stores.inbox, close: () => stores.close() };
});

inboxContract('SqliteInboxStore (:memory:)', async ({ retention }) => {
  const stores = await openEmbeddedStores({ path: ':memory:', retention });
  return { inbox: stores.inbox, close: () => stores.close() };
});

/**
 * A migrated database file whose inserts for device 99 fail in SQL (a trigger):
 * a failure the validator cannot see.
 */
async function fileFailingDevice99(): Promise<string> {
  const file = nextFile();
  await (await openEmbeddedStores({ path: file })).close();
  const raw = new Database(file);
  raw.exec(`CREATE TRIGGER fail_device_99 BEFORE INSERT ON inbox_entries WHEN NEW.recipient_device = 99
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
  raw.close();
  return file;
}

test('SqliteInboxStore - a SQL failure on the last copy rolls back the whole batch', async () => {
  const file = await fileFailingDevice99();

  const stores = await openEmbeddedStores({ path: file });
  try {
    const u = newUserId();
    const sender = device(newUserId(), 1);
    const good = [device(u, 1), device(u, 2), device(sender.userId, 2)];
    await assert.rejects(stores.inbox.append(batch(sender, 'tx-1', [...good, device(u, 99)])), /injected failure/);
    for (const d of good) assert.equal(await stores.inbox.count(d), 0, 'no copy survives the failed batch');
    const ok = await stores.inbox.append(batch(sender, 'tx-1', good, { resend: true }));
    assert.equal(ok.duplicate, false, 'no dedup key survives the failed batch');
    for (const d of good) assert.equal(await stores.inbox.count(d), 1);
  } finally {
    await stores.close();
  }
});

test('SqliteInboxStore - entries, acks and dedup keys survive close and reopen', async () => {
  const file = nextFile();
  const r = device(newUserId(), 1);
  const s = device(newUserId(), 1);
  const first = await openEmbeddedStores({ path: file });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await first.inbox.append(batch(s, `r${i}`, [r]))).copies[0]!.id);
  await first.inbox.ack(r, ids[1]!);
  await first.close();

  const second = await openEmbeddedStores({ path: file });
  try {
    assert.deepEqual((await second.inbox.read(r, INBOX_CURSOR_START, 10)).map((e) => e.id), ids.slice(2));
    const retry = await second.inbox.append(batch(s, 'r4', [r], { resend: true }));
    assert.equal(retry.duplicate, true);
    assert.equal(retry.copies[0]!.id, ids[4]);
    const unflagged = await second.inbox.append(batch(s, 'r3', [r]));
    assert.deepEqual([unflagged.duplicate, unflagged.copies[0]!.id], [true, ids[3]], 'a reused key without resend is noticed at the key insert');
    const next = await second.inbox.append(batch(s, 'r5', [r]));
    assert.ok(next.copies[0]!.id > ids[4]!);
  } finally {
    await second.close();
  }
});

test('SqliteInboxStore - group commit: appends of one turn share a transaction, and a failing one rejects alone', async () => {
  const file = await fileFailingDevice99();
  const stores = await openEmbeddedStores({ path: file });
  try {
    const r = device(newUserId(), 1);
    const s = device(newUserId(), 1);
    // All issued in the same turn: one group. The 50th also addresses device 99 and fails.
    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) =>
      stores.inbox.append(batch(s, `g${i}`, i === 50 ? [r, device(r.userId, 99)] : [r]))));
    assert.equal(results.filter((x) => x.status === 'rejected').length, 1);
    assert.equal(results[50]!.status, 'rejected');
    const entries = await stores.inbox.read(r, INBOX_CURSOR_START, 1000);
    assert.deepEqual(entries.map((e) => e.clientMessageId), Array.from({ length: 100 }, (_, i) => `g${i}`).filter((_, i) => i !== 50),
      'the others committed, in issue order');
    const ids = entries.map((e) => e.id);
    assert.deepEqual([...ids].sort(), ids, 'ids increase in issue order');
    // acks are grouped too, and interleave correctly with appends issued in the same turn
    const [, appended] = await Promise.all([stores.inbox.ack(r, ids[98]!), stores.inbox.append(batch(s, 'late', [r]))]);
    assert.deepEqual((await stores.inbox.read(r, INBOX_CURSOR_START, 10)).map((e) => e.id), [appended.copies[0]!.id]);
  } finally {
    await stores.close();
  }
});

test('SqliteInboxStore - a key reused without resend inside one commit group rolls back only its own copies', async () => {
  const stores = await openEmbeddedStores({ path: nextFile() });
  try {
    const u = newUserId();
    const recipients = [device(u, 1), device(u, 2), device(newUserId(), 1)];
    const s = device(newUserId(), 1);
    // one turn, one group: every third append repeats the key of the one before it, unflagged, with other bytes
    const keys = Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? `k${i - 1}` : `k${i}`));
    const results = await Promise.all(keys.map((k, i) =>
      stores.inbox.append(batch(s, k, recipients, { serverTimestamp: 1000 + i, payload: () => Uint8Array.of(i) }))));
    for (const [i, res] of results.entries()) {
      if (i % 3 !== 2) {
        assert.equal(res.duplicate, false, `#${i} stored`);
        continue;
      }
      assert.deepEqual(res, { ...results[i - 1]!, duplicate: true }, `#${i} answers with the original of ${keys[i]}`);
    }
    for (const [j, d] of recipients.entries()) {
      const entries = await stores.inbox.read(d, INBOX_CURSOR_START, 100);
      const stored = results.filter((_, i) => i % 3 !== 2);
      assert.deepEqual(entries.map((e) => e.id), stored.map((res) => res.copies[j]!.id), 'only the first of each key, in issue order');
      assert.deepEqual(entries.map((e) => e.payload[0]), keys.map((_, i) => i).filter((i) => i % 3 !== 2), 'original bytes');
    }
    const next = await stores.inbox.append(batch(s, 'next', recipients));
    assert.ok(next.copies[0]!.id > results.at(-2)!.copies[0]!.id, 'ids keep increasing');
  } finally {
    await stores.close();
  }
});

test('SqliteInboxStore - early ids: known at the call, in call order, the ids stored; an unused one (failed, duplicate) is a gap; after reopening, ids go on above every stored one', async () => {
  const file = await fileFailingDevice99();
  const memory = await openEmbeddedStores({ path: ':memory:' });
  assert.equal(memory.inbox.early, undefined, 'only the pipelined (writer thread) store announces ids early');
  await memory.close();

  const r = device(newUserId(), 1);
  const s = device(newUserId(), 1);
  const first = await openEmbeddedStores({ path: file });
  let last: string;
  try {
    const early = first.inbox.early;
    assert.ok(early !== undefined);
    assert.throws(() => early.append(batch(s, 'bad', [r, r])), /appears twice/, 'a batch invalid on its face throws at the call');
    const a = early.append(batch(s, 'e1', [r]));
    const b = early.append(batch(s, 'e2', [r, device(r.userId, 99)])); // fails in SQL
    const c = early.append(batch(s, 'e1', [r])); // the key of `a`, unflagged: a duplicate
    const d = early.append(batch(s, 'e3', [r, device(r.userId, 2)]));
    const ids = [a, b, c, d].flatMap((x) => x.ids);
    assert.deepEqual([...ids].sort(), ids, 'assigned in call order');
    assert.equal(new Set(ids).size, ids.length, 'each id once');
    assert.equal(Number.parseInt(ids[0]!, 16), 1, 'the invalid batch used no id');
    const settled: string[] = [];
    for (const [name, x] of Object.entries({ a, b, c, d })) x.stored.then(() => settled.push(name), () => settled.push(name));
    await early.allSettled();
    assert.deepEqual(settled.sort(), ['a', 'b', 'c', 'd'], 'allSettled waits for every append called before it, failed ones included');
    assert.deepEqual((await a.stored).copies.map((x) => x.id), a.ids, 'stored under the announced ids');
    await assert.rejects(b.stored, /injected failure/);
    const dup = await c.stored;
    assert.deepEqual([dup.duplicate, dup.copies.map((x) => x.id)], [true, a.ids], 'a duplicate answers with the original ids');
    assert.deepEqual((await d.stored).copies.map((x) => x.id), d.ids);
    assert.deepEqual((await first.inbox.read(r, INBOX_CURSOR_START, 10)).map((e) => e.id), [a.ids[0], d.ids[0]], 'the unused ids are gaps');
    last = d.ids[1]!;
    await first.inbox.ack(r, d.ids[0]!);
    await first.inbox.ack(device(r.userId, 2), last);
  } finally {
    await first.close();
  }
  const second = await openEmbeddedStores({ path: file });
  try {
    const e = second.inbox.early!.append(batch(s, 'e4', [r]));
    assert.ok(e.ids[0]! > last, 'after everything was acked and the store reopened, ids go on above the last one stored');
    assert.deepEqual((await e.stored).copies.map((x) => x.id), e.ids);
  } finally {
    await second.close();
  }
});
