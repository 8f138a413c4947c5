/**
 * Maps better-sqlite3 failures to StoreError where the caller can act on them.
 * Busy/locked, I/O, full disk, read-only and a closed handle are
 * PARLEY_ERR_STORE_UNAVAILABLE (retryable). Anything else is a bug in the
 * adapter or the schema and is returned unchanged, to crash the caller loudly.
 */
import type Database from 'better-sqlite3';
import { StoreError, isStoreError } from '../errors.ts';

const UNAVAILABLE_PREFIXES = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_PROTOCOL'];

export function translateSqliteError(err: unknown, db: Database.Database, operation: string): unknown {
  if (isStoreError(err)) return err;
  if (!db.open) {
    return new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: the embedded store is closed`, { cause: err, details: { operation } });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_PREFIXES.some((p) => code.startsWith(p))) {
    return new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: ${code}`, { cause: err, details: { operation, sqlite: code } });
  }
  return err;
}
