/**
 * Entry of the embedded store's writer thread. It owns the write connection
 * of a file database: every group the main thread posts runs in ONE immediate
 * transaction (one commit, one fsync with synchronous=FULL), then the results
 * go back. The fsync blocks this thread, not the node's event loop, and while
 * it runs the next group accumulates on the main thread: group commit sized
 * by the load itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { isStoreError } from '../errors.ts';
import { isParleyError } from '../../protocol/errors.ts';
import { SqliteInboxWriter, type InboxWrite } from './sqlite-inbox-writer.ts';
import { translateSqliteError } from './sqlite-errors.ts';

/** What the main thread passes at start. */
export interface WriterThreadData {
  readonly path: string;
  readonly synchronous: 'full' | 'normal';
  readonly busyTimeoutMs: number;
  /** wal_autocheckpoint of this connection (the checkpoint thread does the regular ones). @default 1000 (SQLite's) */
  readonly autocheckpointPages?: number;
}

/** A result as it crosses the thread boundary. */
export type WireResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: WireError };

/** An error as it crosses the thread boundary (StoreErrors keep code and details). */
export interface WireError {
  readonly store: boolean;
  readonly code: string | undefined;
  readonly message: string;
  readonly details: Record<string, unknown> | undefined;
}

function toWire(err: unknown): WireError {
  if (isStoreError(err)) return { store: true, code: err.code, message: err.message, details: err.details as Record<string, unknown> | undefined };
  const e = err as { code?: unknown; message?: unknown };
  return { store: false, code: typeof e?.code === 'string' ? e.code : undefined, message: String(e?.message ?? err), details: undefined };
}

const data = workerData as WriterThreadData;
const db = new Database(data.path, { timeout: data.busyTimeoutMs });
db.pragma('journal_mode = WAL');
db.pragma(`wal_autocheckpoint = ${data.autocheckpointPages ?? 1000}`);
db.pragma(`synchronous = ${data.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
const writer = new SqliteInboxWriter(db);
// Fail-stop: after a retryable failure nothing is attempted — the rest of the
// group and every later group — until the main thread, having heard of the
// failure, says 'resume' (a later write must not commit ahead of a failed one
// the caller will retry).
let stopped: WireError | undefined;
const group = db.transaction((writes: InboxWrite[]): WireResult[] => {
  return writes.map((w): WireResult => {
    if (stopped !== undefined) return { ok: false, error: stopped };
    try {
      return { ok: true, value: writer.run(w) };
    } catch (err) {
      const translated = translateSqliteError(err, db, 'inbox.write');
      const error = toWire(translated);
      if (isParleyError(translated) && translated.retryable) {
        stopped = { store: true, code: 'PARLEY_ERR_STORE_UNAVAILABLE', message: `inbox.write: not attempted, an earlier write failed (${error.message})`, details: undefined };
      }
      return { ok: false, error };
    }
  });
}).immediate as (writes: InboxWrite[]) => WireResult[];

parentPort!.on('message', (msg: { readonly writes: InboxWrite[] } | 'close' | 'resume') => {
  if (msg === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  if (msg === 'resume') {
    stopped = undefined;
    return;
  }
  let results: WireResult[];
  if (stopped !== undefined) {
    const notAttempted = stopped;
    results = msg.writes.map(() => ({ ok: false, error: notAttempted }));
  } else {
    try {
      results = group(msg.writes);
    } catch (err) {
      const translated = translateSqliteError(err, db, 'inbox.commit');
      const e = toWire(translated);
      if (isParleyError(translated) && translated.retryable) {
        stopped = { store: true, code: 'PARLEY_ERR_STORE_UNAVAILABLE', message: `inbox.write: not attempted, an earlier write failed (${e.message})`, details: undefined };
      }
      results = msg.writes.map(() => ({ ok: false, error: e }));
    }
  }
  parentPort!.postMessage(results);
});
