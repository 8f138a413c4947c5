/**
 * The write half of SqliteInboxStore: append (dedup lookup, one insert per
 * copy, dedup insert, all in one transaction) and the cumulative range
 * delete. Synchronous; runs on whichever thread owns the write connection
 * (the node's writer thread for a file database, the caller's thread for
 * ':memory:'). See sqlite-inbox-store.ts for the data structures.
 */
import type Database from 'better-sqlite3';
import { invalidInput } from '../errors.ts';
import type { AppendResult, AppendedCopy, InboxBatch } from '../types.ts';
import { checkCopy } from '../validate.ts';
import { encodeInboxId } from './inbox-id.ts';

type StoredResult = [userId: string, deviceId: number, id: string][];

/** One write, as queued (and, for the writer thread, posted between threads). */
export type InboxWrite =
  | { readonly op: 'append'; readonly batch: InboxBatch }
  | { readonly op: 'ack'; readonly userId: string; readonly deviceId: number; readonly upTo: number };

/** Executes inbox writes on one connection. */
export class SqliteInboxWriter {
  private readonly insertEntry: Database.Statement<[string, number, string, number, string, string, number, Uint8Array]>;
  private readonly getDedup: Database.Statement<[string, number, string], { server_ts: number; result: string }>;
  private readonly insertDedup: Database.Statement<[string, number, string, number, string]>;
  private readonly ackStmt: Database.Statement<[string, number, number]>;
  /** A nested transaction: a SAVEPOINT inside the group's transaction, so a bad batch rolls back alone. */
  private readonly appendTx: (batch: InboxBatch) => AppendResult;

  constructor(db: Database.Database) {
    this.insertEntry = db.prepare(
      `INSERT INTO inbox_entries
         (recipient_user, recipient_device, sender_user, sender_device, client_message_id, kind, server_ts, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.getDedup = db.prepare('SELECT server_ts, result FROM inbox_dedup WHERE sender_user = ? AND sender_device = ? AND client_message_id = ?');
    this.insertDedup = db.prepare('INSERT INTO inbox_dedup (sender_user, sender_device, client_message_id, server_ts, result) VALUES (?, ?, ?, ?, ?)');
    this.ackStmt = db.prepare('DELETE FROM inbox_entries WHERE recipient_user = ? AND recipient_device = ? AND id <= ?');
    this.appendTx = db.transaction((batch: InboxBatch) => this.appendRows(batch)).immediate as (batch: InboxBatch) => AppendResult;
  }

  /** Runs one write (atomic on its own). */
  run(write: InboxWrite): unknown {
    if (write.op === 'append') return this.appendTx(write.batch);
    this.ackStmt.run(write.userId, write.deviceId, write.upTo);
    return undefined;
  }

  private appendRows(batch: InboxBatch): AppendResult {
    const { sender, clientMessageId, kind, serverTimestamp, copies } = batch;
    const dup = this.getDedup.get(sender.userId, sender.deviceId, clientMessageId);
    if (dup) {
      const stored = JSON.parse(dup.result) as StoredResult;
      return {
        duplicate: true,
        serverTimestamp: dup.server_ts,
        copies: stored.map(([userId, deviceId, id]) => ({ recipient: { userId, deviceId }, id })),
      };
    }
    const out: AppendedCopy[] = new Array<AppendedCopy>(copies.length);
    const stored: StoredResult = new Array(copies.length);
    const seen = new Set<string>();
    for (let i = 0; i < copies.length; i++) {
      const copy = copies[i]!;
      checkCopy(copy, i);
      const { userId, deviceId } = copy.recipient;
      const key = `${userId}:${deviceId}`;
      if (seen.has(key)) throw invalidInput(`batch.copies[${i}].recipient`, 'device appears twice in one batch');
      seen.add(key);
      const rowid = Number(
        this.insertEntry.run(userId, deviceId, sender.userId, sender.deviceId, clientMessageId, kind, serverTimestamp, copy.payload).lastInsertRowid,
      );
      const id = encodeInboxId(rowid);
      out[i] = { recipient: { userId, deviceId }, id };
      stored[i] = [userId, deviceId, id];
    }
    this.insertDedup.run(sender.userId, sender.deviceId, clientMessageId, serverTimestamp, JSON.stringify(stored));
    return { duplicate: false, serverTimestamp, copies: out };
  }
}
