/**
 * The embedded inbox's writer thread is fail-stop (InboxStore.pipelined): a
 * retryable failure of one write fails every write queued before the caller
 * hears of it, so a sender with several appends in flight never has a later
 * one committed ahead of a failed one. The failure is real: another
 * connection holds the database's write lock (SQLITE_BUSY with no wait).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { openEmbeddedStores } from '../../store/embedded/index.ts';
import { WriterThreadQueue } from '../../store/embedded/writer-thread-queue.ts';
import { isParleyError } from '../../protocol/errors.ts';
import type { InboxBatch } from '../../store/types.ts';

function batch(sender: string, recipient: string, messageId: string): InboxBatch {
  return {
    sender: { userId: sender, deviceId: 1 }, clientMessageId: messageId, kind: 'message', serverTimestamp: Date.now(),
    copies: [{ recipient: { userId: recipient, deviceId: 1 }, payload: new Uint8Array([1, 2, 3]) }],
  };
}

test('sqlite writer thread - a retryable failure fails every write queued behind it; later writes commit again', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-failstop-'));
  const file = path.join(dir, 'parley.db');
  const stores = await openEmbeddedStores({ path: file });
  assert.equal(stores.inbox.pipelined, true, 'the file store declares pipelined appends');
  // One write per group, so b and c wait in the queue while a is in the thread; no busy wait.
  const queue = new WriterThreadQueue({ path: file, synchronous: 'normal', busyTimeoutMs: 0 }, 1);
  const locker = new Database(file);
  try {
    const sender = randomUUID();
    const recipient = randomUUID();
    locker.exec('BEGIN IMMEDIATE'); // holds the write lock
    const a = queue.enqueue({ op: 'append', batch: batch(sender, recipient, 'a'), firstId: 1 });
    const b = queue.enqueue({ op: 'append', batch: batch(sender, recipient, 'b'), firstId: 2 });
    const c = queue.enqueue({ op: 'append', batch: batch(sender, recipient, 'c'), firstId: 3 });
    const outcomes = await Promise.allSettled([a, b, c]);
    locker.exec('ROLLBACK');
    for (const [i, o] of outcomes.entries()) {
      assert.equal(o.status, 'rejected', `write ${'abc'[i]} failed`);
      const err = (o as PromiseRejectedResult).reason;
      assert.ok(isParleyError(err) && err.code === 'PARLEY_ERR_STORE_UNAVAILABLE' && err.retryable, `write ${'abc'[i]}: retryable unavailable`);
    }
    assert.match(String((outcomes[1] as PromiseRejectedResult).reason.message), /not attempted, an earlier write failed/);
    // nothing of a, b, c was stored; a write issued after the failure commits
    const d = (await queue.enqueue({ op: 'append', batch: batch(sender, recipient, 'd'), firstId: 4 })) as { copies: { id: string }[] };
    const stored = await stores.inbox.read({ userId: recipient, deviceId: 1 }, '', 10);
    assert.deepEqual(stored.map((e) => e.clientMessageId), ['d']);
    assert.equal(stored[0]!.id, d.copies[0]!.id);
  } finally {
    locker.close();
    await queue.close();
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
