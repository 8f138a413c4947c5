/**
 * The SQLite encoding of `InboxEntryId`: the AUTOINCREMENT integer as exactly
 * 16 lower-case hex digits, so string order = numeric order (the contract in
 * store/types.ts). 16 digits hold any SQLite rowid; we stay below 2^53 so the
 * value round-trips through a JS number.
 */
import { invalidInput } from '../errors.ts';
import { INBOX_CURSOR_START } from '../types.ts';

const ID_RE = /^[0-9a-f]{16}$/;

export function encodeInboxId(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** Parses an id or cursor; `INBOX_CURSOR_START` is 0 (before every id, since ids start at 1). */
export function decodeInboxId(field: string, id: unknown): number {
  if (id === INBOX_CURSOR_START) return 0;
  if (typeof id !== 'string' || !ID_RE.test(id)) throw invalidInput(field, 'not an inbox id of this store');
  const n = Number.parseInt(id, 16);
  if (!Number.isSafeInteger(n)) throw invalidInput(field, 'inbox id out of range');
  return n;
}
