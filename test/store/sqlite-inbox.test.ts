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

test('SqliteInboxStore - a SQL failure on the last copy rolls back the whole batch', async () => {
  const file = nextFile();
  await (await openEmbeddedStores({ path: file })).close();
  // inject a failure the validator cannot see: a trigger that aborts the insert for device 99
  const raw = new Database(file);
  raw.exec(`CREATE TRIGGER fail_device_99 BEFORE INSERT ON inbox_entries WHEN NEW.recipient_device = 99
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
  raw.close();

  const stores = await openEmbeddedStores({ path: file });
  try {
    const u = newUserId();
    const sender = device(newUserId(), 1);
    const good = [device(u, 1), device(u, 2), device(sender.userId, 2)];
    await assert.rejects(stores.inbox.append(batch(sender, 'tx-1', [...good, device(u, 99)])), /injected failure/);
    for (const d of good) assert.equal(await stores.inbox.count(d), 0, 'no copy survives the failed batch');
    const ok = await stores.inbox.append(batch(sender, 'tx-1', good));
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
    const retry = await second.inbox.append(batch(s, 'r4', [r]));
    assert.equal(retry.duplicate, true);
    assert.equal(retry.copies[0]!.id, ids[4]);
    const next = await second.inbox.append(batch(s, 'r5', [r]));
    assert.ok(next.copies[0]!.id > ids[4]!);
  } finally {
    await second.close();
  }
});
