/**
 * `openEmbeddedStores`: the embedded default. One better-sqlite3 database file
 * holds accounts and inboxes; schema migrations run on open.
 *
 * Durability: WAL journal, and `synchronous = FULL` by default.
 * - Against kill -9 of the node, NORMAL would already be enough: in WAL mode a
 *   commit has write()n its frames to the -wal file before it returns, and the
 *   OS page cache outlives the process; the next open replays the WAL.
 * - Against power loss or a kernel crash it is not: NORMAL fsyncs the WAL only
 *   at checkpoints, so the last commits before the crash can vanish (the file
 *   stays consistent). ARCHITECTURE §4 acks a send to its sender only when "a
 *   single crash can no longer lose it", and the embedded node has no replica,
 *   so a host crash counts: FULL fsyncs the WAL on every commit.
 * The cost is one fsync per append; batching concurrent appends into one
 * transaction (group commit) is the lever if it shows in a bench, not NORMAL.
 */
import Database from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import type { AccountStore, InboxRetention, InboxStore } from '../types.ts';
import { EMBEDDED_MIGRATIONS, migrate } from './migrations.ts';
import { SqliteAccountStore } from './sqlite-account-store.ts';
import { SqliteInboxStore } from './sqlite-inbox-store.ts';
import { WriterThreadQueue } from './writer-thread-queue.ts';
import { BACKSTOP_AUTOCHECKPOINT_PAGES, Checkpointer, DEFAULT_CHECKPOINT_INTERVAL_MS } from './checkpointer.ts';
import type { CheckpointReport } from './sqlite-checkpoint-thread.ts';
import type { PreKeyRetention, PreKeyStore } from '../prekeys.ts';
import { SqlitePreKeyStore } from './sqlite-prekey-store.ts';

export interface EmbeddedStoreOptions {
  /** Database file, or ':memory:' (tests: nothing survives close). */
  readonly path: string;
  /**
   * `full`: survives process kill and power loss. `normal`: survives process kill only.
   * @default 'full'
   */
  readonly synchronous?: 'full' | 'normal';
  /** @default DEFAULT_INBOX_RETENTION (30 days / 7 days) */
  readonly retention?: Partial<InboxRetention>;
  /** @default DEFAULT_PREKEY_RETENTION (replaced signed keys kept 30 days) */
  readonly prekeyRetention?: Partial<PreKeyRetention>;
  /**
   * How long a statement waits for a lock held by another connection before
   * failing with PARLEY_ERR_STORE_UNAVAILABLE.
   * @default 5000
   */
  readonly busyTimeoutMs?: number;
  /**
   * Period of the checkpoint thread (file databases): WAL checkpoints run
   * there, not inside a commit on the writer thread or the event loop.
   * @default DEFAULT_CHECKPOINT_INTERVAL_MS (100)
   */
  readonly checkpointIntervalMs?: number;
  /** Called with each report of the checkpoint thread (work done, or a failure). */
  readonly onCheckpoint?: (report: CheckpointReport) => void;
  /**
   * How long an append whose devices are online may wait for their acks
   * before it is written (a message acked first is never written:
   * store/embedded/deferred-appends.ts). 0: every append is written at once.
   * File databases only (the writer thread).
   * @default 0
   */
  readonly deferMs?: number;
  /** Clock for created-at times. @default Date.now */
  readonly now?: () => number;
}

export interface EmbeddedStores {
  readonly accounts: AccountStore;
  readonly inbox: InboxStore;
  readonly prekeys: PreKeyStore;
  /** Closes the database; idempotent. Later calls on the stores reject PARLEY_ERR_STORE_UNAVAILABLE. */
  close(): Promise<void>;
}

export const DEFAULT_EMBEDDED_STORE_OPTIONS = {
  synchronous: 'full',
  busyTimeoutMs: 5000,
} as const satisfies Partial<EmbeddedStoreOptions>;

export async function openEmbeddedStores(options: EmbeddedStoreOptions): Promise<EmbeddedStores> {
  const synchronous = options.synchronous ?? DEFAULT_EMBEDDED_STORE_OPTIONS.synchronous;
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_EMBEDDED_STORE_OPTIONS.busyTimeoutMs;
  const now = options.now ?? Date.now;
  let db: Database.Database;
  try {
    db = new Database(options.path, { timeout: busyTimeoutMs });
  } catch (cause) {
    throw new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `cannot open embedded database ${options.path}`, { cause, details: { path: options.path } });
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    // keep the -wal file from staying at its high-water mark after a burst
    db.pragma('journal_size_limit = 67108864');
    migrate(db, EMBEDDED_MIGRATIONS, now());
    const accounts = new SqliteAccountStore(db, now);
    // A file database gets a writer thread for the inbox: commits (and their
    // fsyncs) leave the event loop. ':memory:' cannot be shared with a thread.
    const file = options.path !== ':memory:';
    // Checkpoints leave the commit path: a thread of their own runs them; the
    // committing connections keep auto-checkpoint only as a backstop.
    if (file) db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
    const writer = file ? new WriterThreadQueue({ path: options.path, synchronous, busyTimeoutMs, autocheckpointPages: BACKSTOP_AUTOCHECKPOINT_PAGES }) : undefined;
    const checkpointer = file
      ? new Checkpointer({ path: options.path, busyTimeoutMs, intervalMs: options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS })
      : undefined;
    if (checkpointer !== undefined && options.onCheckpoint !== undefined) checkpointer.on('checkpoint', options.onCheckpoint);
    const inbox = new SqliteInboxStore(db, options.retention, writer, { deferMs: options.deferMs ?? 0 });
    const prekeys = new SqlitePreKeyStore(db, options.prekeyRetention);
    return {
      accounts,
      inbox,
      prekeys,
      async close() {
        inbox.flushDeferred();
        await writer?.close();
        await checkpointer?.close();
        if (db.open) db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
