/**
 * A Session's delivery when several nodes append to its device's inbox
 * (a cluster: `InboxStore.multiWriter`). Each node mints ids with its own
 * sequencer, so an entry with a smaller id may become visible after the
 * session read and pushed a larger one. Single-node delivery (read above a
 * cursor, cumulative range acks) would skip or delete such a late entry.
 *
 * Rules here (store/types.ts MultiWriterInbox gives the horizon guarantee):
 * - `recent` holds every id pushed above the stored cursor (acked or not).
 * - A notify for an id at or below readCursor that is not in `recent` is a
 *   late commit: it is pushed (or queued in `late` until the window has room).
 * - Acks delete exactly the acked ids (point deletes, after the coalesced
 *   receipts, as in single-node mode).
 * - Verification, every horizon/2 while the session is active: a read of
 *   (cursor, V] with V = min(readCursor, horizonCursor(now)) sees every entry
 *   that will ever commit there. Entries it finds that were never pushed are
 *   late (lost notify): pushed. The cursor then moves to the largest acked id
 *   below the first unacked one (or to V when all are acked), and only then
 *   is it stored: a restarted session reads from a cursor nothing unacked is
 *   below. A verification also reads past readCursor (a lost notify above it).
 */
import { send, type ActorContext } from '../supervisors/index.ts';
import type { InboxCursor, InboxEntry, InboxEntryId, MultiWriterInbox } from '../store/types.ts';
import { INBOX_CURSOR_START } from '../store/types.ts';
import type { SessionProtocol, SessionState } from './session-state.ts';

/** Delivery state kept only in multi-writer mode. */
export interface MultiWriterState {
  readonly inbox: MultiWriterInbox;
  /** Ids pushed above the stored cursor → acked yet. */
  readonly recent: Map<InboxEntryId, boolean>;
  /** Late entries (below readCursor, never pushed) waiting for window room, in arrival order. */
  late: InboxEntry[];
  /** Acked ids whose deletion waits for the coalesced receipts. */
  toDelete: InboxEntryId[];
  /** The stored cursor as this session last set it (reads of a new session start above it). */
  cursor: InboxCursor;
  verifying: boolean;
  verifyTimer: NodeJS.Timeout | undefined;
  /** Verification keeps running until this time (ms since epoch); activity extends it. */
  activeUntil: number;
}

export function newMultiWriterState(inbox: MultiWriterInbox, now: number): MultiWriterState {
  return {
    inbox, recent: new Map(), late: [], toDelete: [], cursor: INBOX_CURSOR_START,
    verifying: false, verifyTimer: undefined, activeUntil: now + 2 * inbox.horizonMs,
  };
}

/** Marks activity: verification runs for two more horizons. */
export function touch(mw: MultiWriterState, now: number): void {
  const until = now + 2 * mw.inbox.horizonMs;
  if (until > mw.activeUntil) mw.activeUntil = until;
}

/**
 * A notified entry at or below readCursor: pushed when it was never seen
 * (late commit), ignored when it was. Returns the entry to push now, if any.
 */
export function lateNotify(mw: MultiWriterState, entry: InboxEntry, hasRoom: boolean): InboxEntry | undefined {
  if (entry.id <= mw.cursor || mw.recent.has(entry.id) || mw.late.some((e) => e.id === entry.id)) return undefined;
  if (hasRoom && mw.late.length === 0) return entry;
  mw.late.push(entry);
  return undefined;
}

/** Schedules the next verification if the session is active and none is pending. */
export function scheduleVerify(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  const mw = state.mw;
  if (mw === undefined || mw.verifyTimer !== undefined) return;
  const now = state.services.now();
  if (now >= mw.activeUntil && mw.recent.size === 0 && mw.late.length === 0) return;
  const self = ctx.self;
  mw.verifyTimer = setTimeout(() => send(self, { t: 'verify' }), Math.ceil(mw.inbox.horizonMs / 2));
}

/** Starts a verification read of (cursor, V]; its result comes back as `verified`. */
export function startVerify(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  const mw = state.mw;
  if (mw === undefined) return;
  mw.verifyTimer = undefined;
  if (mw.verifying) return;
  const h = mw.inbox.horizonCursor(state.services.now());
  const upTo = state.readCursor < h ? state.readCursor : h;
  const self = ctx.self;
  const generation = state.generation;
  if (upTo <= mw.cursor) {
    send(self, { t: 'verified', upTo, entries: [], generation });
    return;
  }
  mw.verifying = true;
  const { device, services } = state;
  const batch = services.settings.readBatch;
  void (async () => {
    const entries: InboxEntry[] = [];
    let after = mw.cursor;
    for (;;) {
      const page = await services.inbox.read(device, after, batch);
      for (const e of page) if (e.id <= upTo) entries.push(e);
      const last = page[page.length - 1];
      if (page.length < batch || last === undefined || last.id >= upTo) break;
      after = last.id;
    }
    return entries;
  })().then(
    (entries) => send(self, { t: 'verified', upTo, entries, generation }),
    (error: unknown) => send(self, { t: 'verify-failed', error }),
  );
}

/**
 * The verification read came back: returns the entries never pushed (to push
 * as late ones) and the new cursor when it advanced.
 */
export function applyVerified(mw: MultiWriterState, upTo: InboxEntryId, entries: readonly InboxEntry[]): { late: InboxEntry[]; cursor: InboxCursor | undefined } {
  mw.verifying = false;
  const late: InboxEntry[] = [];
  let firstUnacked: InboxEntryId | undefined;
  for (const e of entries) {
    const acked = mw.recent.get(e.id);
    if (acked === true) continue;
    firstUnacked ??= e.id;
    if (acked === undefined && !mw.late.some((l) => l.id === e.id)) late.push(e);
  }
  let cursor: InboxEntryId | undefined;
  if (firstUnacked === undefined) {
    cursor = upTo;
  } else {
    for (const [id, acked] of mw.recent) {
      if (acked && id < firstUnacked && (cursor === undefined || id > cursor)) cursor = id;
    }
  }
  if (cursor === undefined || cursor <= mw.cursor) return { late, cursor: undefined };
  mw.cursor = cursor;
  for (const id of mw.recent.keys()) if (id <= cursor) mw.recent.delete(id);
  return { late, cursor };
}

/** After a takeover: what the old connection had not acked is read again; acked ids stay known. */
export function resetMultiWriter(mw: MultiWriterState): void {
  for (const [id, acked] of mw.recent) if (!acked) mw.recent.delete(id);
  mw.late = [];
}
