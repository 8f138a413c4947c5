/**
 * InboxStore on the embedded SQLite database (tables `inbox_entries`,
 * `inbox_dedup`, migration 2).
 *
 * Data structures:
 * - `inbox_entries`: one row per copy; id = global AUTOINCREMENT, assigned by
 *   this class when `append` is called (call order = commit order: the writes
 *   queue in order) and inserted explicitly, so ids are strictly increasing
 *   per device in commit order and known before the commit (InboxStore.early);
 *   sqlite_sequence keeps the highest, so a restart goes on above it. Index
 *   (recipient_user, recipient_device, id) serves read, ack (one range delete)
 *   and count; index (server_ts) serves purgeExpired.
 * - `inbox_dedup`: (sender_user, sender_device, client_message_id) → the
 *   original result as JSON, written in the same transaction as the copies.
 *   It outlives the copies (they may be acked long before a retry arrives).
 *
 * append = one IMMEDIATE transaction: dedup lookup (only for a batch flagged
 * `resend`), N inserts, dedup insert; a first transmission whose key was
 * stored after all is rolled back and answered with the original result
 * (sqlite-inbox-writer.ts). The batch is validated before it is queued; a
 * SQL failure on any copy rolls back the ones before it: all or none. The
 * transaction is durable when it commits (see `EmbeddedStoreOptions.synchronous`
 * in ./open.ts for what that covers).
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import {
  DEFAULT_INBOX_RETENTION,
  type AppendResult,
  type DeviceAddress,
  type EarlyIds,
  type InboxBatch,
  type InboxCursor,
  type InboxEntry,
  type InboxEntryId,
  type InboxEntryKind,
  type InboxRetention,
  type InboxStore,
  type PurgeResult,
} from '../types.ts';
import { checkBatch, checkDeviceAddress, checkReadLimit, checkTimestamp } from '../validate.ts';
import { decodeInboxId, encodeInboxId } from './inbox-id.ts';
import { translateSqliteError } from './sqlite-errors.ts';
import { SqliteWriteQueue } from './write-queue.ts';
import { SqliteInboxWriter, type InboxWrite } from './sqlite-inbox-writer.ts';
import { DeferredAppends, DeviceMap } from './deferred-appends.ts';

/** Executes inbox writes in commit groups; resolves once committed. */
export interface InboxWriteQueue {
  enqueue(write: InboxWrite): Promise<unknown>;
  /** Writes commit in enqueue order and a retryable failure fails every write enqueued before it was reported. */
  readonly failStop?: boolean;
}

/** Group commit on the caller's thread (':memory:' databases cannot be shared with a thread). */
export function inThreadQueue(db: Database.Database): InboxWriteQueue {
  const writer = new SqliteInboxWriter(db);
  const queue = new SqliteWriteQueue(db, (err) => translateSqliteError(err, db, 'inbox.write'));
  return { enqueue: (write) => queue.enqueue(() => writer.run(write)) };
}

interface EntryRow {
  id: number;
  sender_user: string;
  sender_device: number;
  client_message_id: string;
  kind: InboxEntryKind;
  server_ts: number;
  payload: Buffer;
}

const noop = (): void => {};

/** Devices remembered as swept (see `SqliteInboxStore.ack`); past it the set starts over. */
const MAX_SWEPT = 1_000_000;

/** Options of the inbox beyond retention. */
export interface SqliteInboxOptions {
  /**
   * How long an append flagged `defer` (EarlyIds.append) may wait on the
   * event loop for its devices' acks before it is written; 0 writes every
   * append at once (deferred-appends.ts). Only with a pipelined queue.
   * @default 0
   */
  readonly deferMs?: number;
}

/** Rows deleted per statement by purgeExpired; the event loop gets a turn between chunks. */
const PURGE_CHUNK = 5000;

export class SqliteInboxStore implements InboxStore {
  private readonly db: Database.Database;
  private readonly retention: InboxRetention;
  private readonly stmt: {
    read: Database.Statement<[string, number, number, number], EntryRow>;
    count: Database.Statement<[string, number], { n: number }>;
    purgeEntries: Database.Statement<[number, number]>;
    purgeDedup: Database.Statement<[number, number]>;
  };
  /** Group commit: appends and acks go through a queue that commits them in groups (writer thread or in-thread). */
  private readonly writes: InboxWriteQueue;

  /** Highest id assigned so far (ids are assigned here, on the caller's thread, in call order: see EarlyIds). */
  private lastId: number;
  /** The promise of the latest append handed to the write queue (those settle in queue order). */
  private lastAppend: Promise<unknown> = Promise.resolve();
  /** Appends waiting for their devices' acks before they are written (deferMs > 0 with the writer thread). */
  private deferred: DeferredAppends | undefined;
  /** Ids at open: every entry stored before then has an id ≤ this. */
  private readonly idsAtOpen: number;
  /** Per device: the highest id written since the last delete that covered every id written before it. */
  private readonly unswept = new DeviceMap<number>();
  /** Devices whose every entry from before the open was deleted (an ack ≥ idsAtOpen): with no `unswept` id, they have no entry ≤ a later ack. */
  private readonly swept = new DeviceMap<true>();

  /** See InboxStore.pipelined: true with the writer thread (fail-stop queue). */
  get pipelined(): boolean {
    return this.writes.failStop === true;
  }

  /**
   * See InboxStore.early: with the writer thread (pipelined: what reaches the
   * queue settles in queue order; deferred appends may settle earlier, on
   * their devices' acks). Ids are assigned at every append either way, so a
   * caller may mix `append` and `early.append`.
   */
  readonly early: EarlyIds | undefined;

  /**
   * @param writes where appends and acks are executed; default: an in-thread
   *   group-commit queue on `db` (open.ts passes the writer thread for files)
   */
  constructor(db: Database.Database, retention: Partial<InboxRetention> = {}, writes?: InboxWriteQueue, options: SqliteInboxOptions = {}) {
    this.db = db;
    this.retention = { ...DEFAULT_INBOX_RETENTION, ...retention };
    this.writes = writes ?? inThreadQueue(db);
    checkTimestamp('inboxRetentionMs', this.retention.inboxRetentionMs);
    checkTimestamp('dedupRetentionMs', this.retention.dedupRetentionMs);
    // Ids continue after the highest ever assigned by a commit (AUTOINCREMENT's
    // sqlite_sequence, which explicit ids keep up to date) or present.
    this.lastId = (db.prepare(
      `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'inbox_entries'), 0),
                  coalesce((SELECT max(id) FROM inbox_entries), 0)) AS n`,
    ).get() as { n: number }).n;
    this.idsAtOpen = this.lastId;
    const deferMs = options.deferMs ?? 0;
    if (!Number.isFinite(deferMs) || deferMs < 0) throw new StoreError('PARLEY_ERR_STORE_INVALID_INPUT', `inbox: deferMs must be ≥ 0, got ${deferMs}`);
    this.deferred = this.pipelined && deferMs > 0 ? new DeferredAppends(deferMs, (write) => this.enqueueAppend(write)) : undefined;
    this.early = this.pipelined
      ? {
        append: (batch, opts) => this.appendEarly(batch, opts?.defer === true),
        received: (device, upTo) => {
          checkDeviceAddress('device', device);
          this.deferred?.received(device.userId, device.deviceId, decodeInboxId('upTo', upTo));
        },
        allSettled: (device) => {
          if (device === undefined) this.deferred?.flushAll();
          else this.deferred?.flushFor(device.userId, device.deviceId);
          return this.lastAppend.then(noop, noop);
        },
        stopDeferring: () => this.flushDeferred(),
      }
      : undefined;
    this.stmt = {
      read: db.prepare(
        `SELECT id, sender_user, sender_device, client_message_id, kind, server_ts, payload FROM inbox_entries
         WHERE recipient_user = ? AND recipient_device = ? AND id > ? ORDER BY id LIMIT ?`,
      ),
      count: db.prepare('SELECT count(*) AS n FROM inbox_entries WHERE recipient_user = ? AND recipient_device = ?'),
      purgeEntries: db.prepare(
        'DELETE FROM inbox_entries WHERE id IN (SELECT id FROM inbox_entries WHERE server_ts <= ? LIMIT ?)',
      ),
      purgeDedup: db.prepare(
        `DELETE FROM inbox_dedup WHERE (sender_user, sender_device, client_message_id) IN
           (SELECT sender_user, sender_device, client_message_id FROM inbox_dedup WHERE server_ts <= ? LIMIT ?)`,
      ),
    };
  }

  async append(batch: InboxBatch): Promise<AppendResult> {
    return this.appendEarly(batch, false).stored;
  }

  /** Writes parked appends now; later appends are written at once (the node stops, or the store closes). */
  flushDeferred(): void {
    this.deferred?.flushAll();
    this.deferred?.stop();
    this.deferred = undefined;
  }

  /** Checks the batch, assigns its ids and parks (`defer`) or enqueues it (EarlyIds.append). */
  private appendEarly(batch: InboxBatch, defer: boolean): { ids: InboxEntryId[]; stored: Promise<AppendResult> } {
    checkBatch(batch);
    const n = batch.copies.length;
    if (this.lastId + n > Number.MAX_SAFE_INTEGER) throw new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', 'inbox.append: inbox ids exhausted');
    const first = this.lastId + 1;
    this.lastId += n;
    const ids = new Array<InboxEntryId>(n);
    for (let i = 0; i < n; i++) ids[i] = encodeInboxId(first + i);
    const deferred = this.deferred;
    if (deferred !== undefined) {
      // The key of a batch parked or never written is known only here.
      const duplicate = deferred.duplicateOf(batch);
      if (duplicate !== undefined) return { ids, stored: duplicate };
      if (defer) return { ids, stored: deferred.park(batch, first, ids) };
      // Commit order stays id order: what is parked goes first.
      deferred.flushAll();
    }
    return { ids, stored: this.enqueueAppend({ op: 'append', batch, firstId: first }) };
  }

  /** Hands an append to the write queue, noting which devices may now have entries. */
  private enqueueAppend(write: Extract<InboxWrite, { op: 'append' }>): Promise<AppendResult> {
    const { batch, firstId, skip } = write;
    for (let i = 0; i < batch.copies.length; i++) {
      if (skip !== undefined && skip.includes(i)) continue;
      const { userId, deviceId } = batch.copies[i]!.recipient;
      const id = firstId + i;
      if ((this.unswept.get(userId, deviceId) ?? 0) < id) this.unswept.set(userId, deviceId, id);
    }
    const stored = this.writes.enqueue(write) as Promise<AppendResult>;
    this.lastAppend = stored;
    return stored;
  }

  async read(device: DeviceAddress, after: InboxCursor, limit: number): Promise<InboxEntry[]> {
    checkDeviceAddress('device', device);
    const afterN = decodeInboxId('after', after);
    checkReadLimit(limit);
    let rows: EntryRow[];
    try {
      rows = this.stmt.read.all(device.userId, device.deviceId, afterN, limit);
    } catch (err) {
      throw translateSqliteError(err, this.db, 'inbox.read');
    }
    const out = new Array<InboxEntry>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out[i] = {
        id: encodeInboxId(r.id),
        sender: { userId: r.sender_user, deviceId: r.sender_device },
        clientMessageId: r.client_message_id,
        kind: r.kind,
        serverTimestamp: r.server_ts,
        payload: r.payload,
      };
    }
    return out;
  }

  /**
   * Parked copies ≤ upTo are never written (deferred-appends.ts). The range
   * delete is skipped when it cannot find anything: nothing was written for
   * the device since a delete covered everything written before it, and no
   * entry from before the open is left (a delete ≥ idsAtOpen ran).
   */
  async ack(device: DeviceAddress, upTo: InboxEntryId): Promise<void> {
    checkDeviceAddress('device', device);
    const upToN = decodeInboxId('upTo', upTo);
    const { userId, deviceId } = device;
    this.deferred?.drop(userId, deviceId, upToN);
    const written = this.unswept.get(userId, deviceId);
    if (written === undefined && this.swept.get(userId, deviceId) === true) return;
    if (written !== undefined && written <= upToN) this.unswept.delete(userId, deviceId);
    if (upToN >= this.idsAtOpen) {
      if (this.swept.size >= MAX_SWEPT) this.swept.clear();
      this.swept.set(userId, deviceId, true);
    }
    try {
      await this.writes.enqueue({ op: 'ack', userId, deviceId, upTo: upToN });
    } catch (err) {
      // Not deleted: the next ack must not skip its delete.
      this.swept.delete(userId, deviceId);
      if ((this.unswept.get(userId, deviceId) ?? 0) < upToN) this.unswept.set(userId, deviceId, upToN);
      throw err;
    }
  }

  async count(device: DeviceAddress): Promise<number> {
    checkDeviceAddress('device', device);
    try {
      return this.stmt.count.get(device.userId, device.deviceId)!.n;
    } catch (err) {
      throw translateSqliteError(err, this.db, 'inbox.count');
    }
  }

  async purgeExpired(now: number): Promise<PurgeResult> {
    checkTimestamp('now', now);
    const entries = await this.purgeInChunks(this.stmt.purgeEntries, now - this.retention.inboxRetentionMs);
    const dedupKeys = await this.purgeInChunks(this.stmt.purgeDedup, now - this.retention.dedupRetentionMs);
    return { entries, dedupKeys };
  }

  /** Deletes in chunks so a large purge never blocks the event loop (and every session on it) for long. */
  private async purgeInChunks(stmt: Database.Statement<[number, number]>, cutoff: number): Promise<number> {
    let total = 0;
    for (;;) {
      let changes: number;
      try {
        changes = stmt.run(cutoff, PURGE_CHUNK).changes;
      } catch (err) {
        throw translateSqliteError(err, this.db, 'inbox.purgeExpired');
      }
      total += changes;
      if (changes < PURGE_CHUNK) return total;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
