/**
 * The write half of SqliteInboxStore: append (dedup lookup for a batch
 * flagged `resend` only, one insert per copy, dedup insert, all in one
 * savepoint) and the cumulative range delete. Synchronous; runs on whichever
 * thread owns the write connection (the node's writer thread for a file
 * database, the caller's thread for ':memory:'). See sqlite-inbox-store.ts
 * for the data structures.
 *
 * A first transmission (no `resend`) is written without the lookup; the dedup
 * insert (ON CONFLICT DO NOTHING) is what notices a key that was stored after
 * all (a client reusing a message id without flagging it). Then the batch's
 * copies are rolled back with its savepoint and the original result is
 * returned as a duplicate, exactly as if the batch had been flagged: nothing
 * is stored twice and the original entries are untouched. That costs a
 * rollback on a path well-behaved clients never take; the common path pays
 * nothing over the plain insert.
 */
import type Database from 'better-sqlite3';
import type { AppendResult, AppendedCopy, InboxBatch } from '../types.ts';
import { encodeInboxId } from './inbox-id.ts';
import { dedupKeyOf, duplicateOf, encodeDedupResult } from '../dedup-result.ts';

/**
 * Thrown inside the append's savepoint when its dedup key turned out to be
 * stored already, so that better-sqlite3 rolls the batch's copies back. Not
 * an Error: no stack is captured, and it never leaves this file.
 */
class KeyAlreadyStored {}

/** One write, as queued (and, for the writer thread, posted between threads). */
export type InboxWrite =
  /**
   * Copy i gets id `firstId + i` (assigned by the store in call order; the
   * batch was checked there). Copies whose index is in `skip` are not written
   * (their device acknowledged them before the write: deferred-appends.ts)
   * but stay in the result, as the original append's.
   */
  | { readonly op: 'append'; readonly batch: InboxBatch; readonly firstId: number; readonly skip?: readonly number[] }
  | { readonly op: 'ack'; readonly userId: string; readonly deviceId: number; readonly upTo: number };

/** Executes inbox writes on one connection. */
export class SqliteInboxWriter {
  private readonly insertEntry: Database.Statement<[number, string, number, string, number, string, string, number, Uint8Array]>;
  private readonly getDedup: Database.Statement<[string, number, string], { server_ts: number; result: string }>;
  private readonly insertDedup: Database.Statement<[string, number, string, number, string]>;
  private readonly ackStmt: Database.Statement<[string, number, number]>;
  /** A nested transaction: a SAVEPOINT inside the group's transaction, so a bad batch rolls back alone. */
  private readonly appendTx: (batch: InboxBatch, firstId: number, skip: readonly number[] | undefined) => AppendResult;

  constructor(db: Database.Database) {
    this.insertEntry = db.prepare(
      `INSERT INTO inbox_entries
         (id, recipient_user, recipient_device, sender_user, sender_device, client_message_id, kind, server_ts, payload)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.getDedup = db.prepare('SELECT server_ts, result FROM inbox_dedup WHERE sender_user = ? AND sender_device = ? AND client_message_id = ?');
    this.insertDedup = db.prepare(
      `INSERT INTO inbox_dedup (sender_user, sender_device, client_message_id, server_ts, result) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    );
    this.ackStmt = db.prepare('DELETE FROM inbox_entries WHERE recipient_user = ? AND recipient_device = ? AND id <= ?');
    this.appendTx = db.transaction((batch: InboxBatch, firstId: number, skip: readonly number[] | undefined) => this.appendRows(batch, firstId, skip))
      .immediate as (batch: InboxBatch, firstId: number, skip: readonly number[] | undefined) => AppendResult;
  }

  /** Runs one write (atomic on its own). */
  run(write: InboxWrite): unknown {
    if (write.op === 'append') {
      try {
        return this.appendTx(write.batch, write.firstId, write.skip);
      } catch (err) {
        if (!(err instanceof KeyAlreadyStored)) throw err;
        // the savepoint is rolled back: this batch stored nothing; answer with the original
        return this.original(write.batch)!;
      }
    }
    this.ackStmt.run(write.userId, write.deviceId, write.upTo);
    return undefined;
  }

  /** The stored result of the batch's dedup key, as a duplicate; undefined when the key is not stored. */
  private original(batch: InboxBatch): AppendResult | undefined {
    const { sender } = batch;
    const dup = this.getDedup.get(sender.userId, sender.deviceId, dedupKeyOf(batch));
    return dup === undefined ? undefined : duplicateOf(dup.server_ts, dup.result);
  }

  private appendRows(batch: InboxBatch, firstId: number, skip: readonly number[] | undefined): AppendResult {
    const { sender, clientMessageId, kind, serverTimestamp, copies } = batch;
    if (batch.resend === true) {
      const original = this.original(batch);
      if (original !== undefined) return original;
    }
    const out: AppendedCopy[] = new Array<AppendedCopy>(copies.length);
    for (let i = 0; i < copies.length; i++) {
      const copy = copies[i]!;
      const { userId, deviceId } = copy.recipient;
      if (skip === undefined || !skip.includes(i)) this.insertEntry.run(firstId + i, userId, deviceId, sender.userId, sender.deviceId, clientMessageId, kind, serverTimestamp, copy.payload);
      out[i] = { recipient: { userId, deviceId }, id: encodeInboxId(firstId + i) };
    }
    const recorded = this.insertDedup.run(sender.userId, sender.deviceId, dedupKeyOf(batch), serverTimestamp, encodeDedupResult(out));
    // 0 changes: the key was stored already, so this unflagged batch is a repeat (see the header)
    if (recorded.changes === 0) throw new KeyAlreadyStored();
    return { duplicate: false, serverTimestamp, copies: out };
  }
}
