/**
 * A Session's delivery when several nodes append to its device's inbox
 * (a cluster: `InboxStore.multiWriter`). Each node mints ids with its own
 * sequencer, so an entry with a smaller id may become visible after the
 * session read a larger one, and the announcement (notify) of an entry may be
 * lost (a node died after committing, NATS was away). Single-node delivery
 * (push what is announced, read above the highest id pushed, cumulative range
 * acks) would skip, reorder or delete such an entry.
 *
 * Rules here (store/types.ts MultiWriterInbox gives the horizon guarantee:
 * every entry at or below horizonCursor(t) that will ever be visible is
 * visible at t):
 * - Entries reach the device through reads, pushed in id order. One
 *   sender's appends are serialised (each commits before the next is
 *   minted), so a read that sees a sender's entry sees its earlier ones:
 *   per-sender order holds whatever was announced. A notify pushes its entry
 *   at once only when it names the entry the same sending session stored
 *   for this device before (`prev`) and that one was pushed already; else it
 *   starts a read. So order holds by induction, and announcements lost on
 *   the way (a node died, NATS was away) cost a read, never order.
 * - Read rounds: a round starts at min(readCursor, lowWater), skips ids
 *   already pushed (`recent`), pages on while pages are full, and when it
 *   completes sets lowWater = horizonCursor(time the round started). So every
 *   entry at or below lowWater was visible to a completed round and pushed;
 *   anything above is read again by the next round.
 * - Acks delete exactly the acked ids (point deletes, after the coalesced
 *   receipts, as in single-node mode).
 * - Verification, every horizon/2 while the session is active: a read of
 *   (cursor, V] with V = min(readCursor, horizonCursor(now)) sees every entry
 *   that will ever commit there. The stored cursor then moves to the largest
 *   acked id below the first entry not acked (or to V when all are), so a
 *   restarted session reads from a cursor nothing unacked is below. An entry
 *   it finds that was never pushed (cannot happen by the rules above) is
 *   logged, and the next round rereads from the cursor.
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
  /** Everything at or below it was seen by a completed read round (see the header). */
  lowWater: InboxCursor;
  /** When the current read round started (ms), or undefined between rounds. */
  roundStartedAt: number | undefined;
  /** Where the next page of the current round starts (after a full page). */
  pageFrom: InboxCursor | undefined;
  /** The next round reads from the stored cursor (verification found an entry never pushed). */
  rereadFromCursor: boolean;
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
    inbox, recent: new Map(), lowWater: INBOX_CURSOR_START, roundStartedAt: undefined, pageFrom: undefined, rereadFromCursor: false,
    toDelete: [], cursor: INBOX_CURSOR_START,
    verifying: false, verifyTimer: undefined, activeUntil: now + 2 * inbox.horizonMs,
  };
}

/** Marks activity: verification runs for two more horizons. */
export function touch(mw: MultiWriterState, now: number): void {
  const until = now + 2 * mw.inbox.horizonMs;
  if (until > mw.activeUntil) mw.activeUntil = until;
}

/** Where the next read starts; records the start of a round. */
export function readStart(mw: MultiWriterState, readCursor: InboxCursor, now: number): InboxCursor {
  if (mw.pageFrom !== undefined) return mw.pageFrom;
  mw.roundStartedAt = now;
  let from = mw.rereadFromCursor ? mw.cursor : readCursor < mw.lowWater ? readCursor : mw.lowWater;
  if (from < mw.cursor) from = mw.cursor;
  return from;
}

/**
 * A read page came back: the entries to push (never pushed, in id order, as
 * many as `room`), and whether more may be waiting.
 */
export function takeRead(mw: MultiWriterState, entries: readonly InboxEntry[], limit: number, room: number): { push: InboxEntry[]; more: boolean } {
  const push: InboxEntry[] = [];
  for (const e of entries) {
    if (mw.recent.has(e.id)) continue;
    if (push.length >= room) {
      // Window full: this round ends incomplete; the next one starts low again.
      mw.pageFrom = undefined;
      mw.roundStartedAt = undefined;
      return { push, more: true };
    }
    push.push(e);
  }
  const last = entries[entries.length - 1];
  if (entries.length >= limit && last !== undefined) {
    mw.pageFrom = last.id;
    return { push, more: true };
  }
  // Round complete: everything visible when it started has been seen.
  if (mw.roundStartedAt !== undefined) {
    const h = mw.inbox.horizonCursor(mw.roundStartedAt);
    if (h > mw.lowWater) mw.lowWater = h;
  }
  mw.pageFrom = undefined;
  mw.roundStartedAt = undefined;
  mw.rereadFromCursor = false;
  return { push, more: false };
}

/**
 * What a notify does: 'push' (its `prev` was pushed, the entry was not;
 * `prevKnownPushed`: the caller knows, e.g. `prev` is a forward token it pushed),
 * 'skip' (already pushed or seen by a completed round), 'read'.
 */
export function directPush(mw: MultiWriterState, id: InboxEntryId, prev: InboxEntryId | undefined, hasRoom: boolean, prevKnownPushed = false): 'push' | 'skip' | 'read' {
  if (mw.recent.has(id) || id <= mw.cursor || id <= mw.lowWater) return 'skip';
  if (prev === undefined || !hasRoom) return 'read';
  return prevKnownPushed || mw.recent.has(prev) || prev <= mw.lowWater || prev <= mw.cursor ? 'push' : 'read';
}

/** Schedules the next verification if the session is active and none is pending. */
export function scheduleVerify(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  const mw = state.mw;
  if (mw === undefined || mw.verifyTimer !== undefined) return;
  const now = state.services.now();
  if (now >= mw.activeUntil && mw.recent.size === 0) return;
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
 * The verification read came back: the new cursor when it advanced, and the
 * ids it found that were never pushed (there should be none; see the header).
 */
export function applyVerified(mw: MultiWriterState, upTo: InboxEntryId, entries: readonly InboxEntry[]): { cursor: InboxCursor | undefined; unpushed: InboxEntryId[] } {
  mw.verifying = false;
  const unpushed: InboxEntryId[] = [];
  let firstUnacked: InboxEntryId | undefined;
  for (const e of entries) {
    const acked = mw.recent.get(e.id);
    if (acked === true) continue;
    firstUnacked ??= e.id;
    if (acked === undefined) unpushed.push(e.id);
  }
  if (unpushed.length > 0) mw.rereadFromCursor = true;
  let cursor: InboxEntryId | undefined;
  if (firstUnacked === undefined) {
    cursor = upTo;
  } else {
    for (const [id, acked] of mw.recent) {
      if (acked && id < firstUnacked && (cursor === undefined || id > cursor)) cursor = id;
    }
  }
  if (cursor === undefined || cursor <= mw.cursor) return { cursor: undefined, unpushed };
  mw.cursor = cursor;
  for (const id of mw.recent.keys()) if (id <= cursor) mw.recent.delete(id);
  return { cursor, unpushed };
}

/** After a takeover: what the old connection had not acked is read again (from the cursor); acked ids stay known. */
export function resetMultiWriter(mw: MultiWriterState): void {
  for (const [id, acked] of mw.recent) if (!acked) mw.recent.delete(id);
  mw.lowWater = INBOX_CURSOR_START;
  mw.pageFrom = undefined;
  mw.roundStartedAt = undefined;
}
