/**
 * WAL checkpoints of the embedded store run on their own thread: the writer
 * thread (and the event loop's connection) keep auto-checkpoint only as a
 * far-off backstop, so no commit pays for copying the log into the database
 * file. Observed through the file itself: a copy of the database file alone
 * (without its -wal) holds a row only once a checkpoint has copied it there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { openEmbeddedStores } from '../../store/embedded/index.ts';
import type { CheckpointReport } from '../../store/embedded/sqlite-checkpoint-thread.ts';
import type { InboxBatch } from '../../store/types.ts';

const PAGE = 4096;

function batch(sender: string, recipient: string, messageId: string, bytes: number): InboxBatch {
  return {
    sender: { userId: sender, deviceId: 1 }, clientMessageId: messageId, kind: 'message', serverTimestamp: Date.now(),
    copies: [{ recipient: { userId: recipient, deviceId: 1 }, payload: new Uint8Array(bytes).fill(7) }],
  };
}

/** Rows of `recipient` in a copy of the database file taken without its WAL. */
function rowsInMainFile(file: string, dir: string, recipient: string): number {
  const copy = path.join(dir, `copy-${randomUUID()}.db`);
  copyFileSync(file, copy);
  const db = new Database(copy, { readonly: true });
  try {
    // Before the first checkpoint even the schema lives only in the WAL.
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'inbox_entries'").get() !== undefined;
    if (!hasTable) return 0;
    return (db.prepare('SELECT count(*) AS n FROM inbox_entries WHERE recipient_user = ?').get(recipient) as { n: number }).n;
  } finally {
    db.close();
  }
}

test('embedded store - the checkpoint thread copies committed entries into the database file', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-ckpt-'));
  const file = path.join(dir, 'parley.db');
  const reports = new EventEmitter<{ report: [CheckpointReport] }>();
  const stores = await openEmbeddedStores({ path: file, checkpointIntervalMs: 20, onCheckpoint: (r) => reports.emit('report', r) });
  try {
    const sender = randomUUID();
    const recipient = randomUUID();
    assert.equal(rowsInMainFile(file, dir, recipient), 0);
    await Promise.all(Array.from({ length: 50 }, (_, i) => stores.inbox.append(batch(sender, recipient, `m${i}`, 2000))));
    // Wait for a report of a complete checkpoint that covers at least these commits.
    const framesNow = Math.floor((statSync(`${file}-wal`).size - 32) / (PAGE + 24));
    for (;;) {
      const [r] = (await once(reports, 'report')) as [CheckpointReport];
      assert.ok(r.ok, `checkpoint failed: ${r.ok ? '' : r.message}`);
      if (r.logFrames >= framesNow && r.checkpointedFrames === r.logFrames) break;
    }
    assert.equal(rowsInMainFile(file, dir, recipient), 50, 'every committed row is in the database file itself');
  } finally {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('embedded store - commits do not checkpoint at SQLite\'s default 1,000 pages (the thread does it)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-ckpt-'));
  const file = path.join(dir, 'parley.db');
  const reports: CheckpointReport[] = [];
  // The thread's first tick is an hour away: only an auto-checkpoint by a committing connection could copy rows.
  const stores = await openEmbeddedStores({ path: file, checkpointIntervalMs: 3_600_000, onCheckpoint: (r) => reports.push(r) });
  try {
    const sender = randomUUID();
    const recipient = randomUUID();
    // ~6 MB of WAL in commits of 100 entries: well past 1,000 pages, below the backstop.
    for (let round = 0; round < 15; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => stores.inbox.append(batch(sender, recipient, `r${round}.${i}`, 4000))));
    }
    const walPages = (statSync(`${file}-wal`).size - 32) / (PAGE + 24);
    assert.ok(walPages > 1000, `the WAL holds ${walPages} pages`);
    assert.equal(rowsInMainFile(file, dir, recipient), 0, 'no commit checkpointed the log into the database file');
    assert.deepEqual(reports, []);
  } finally {
    await stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
