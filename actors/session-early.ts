/**
 * A Session's bookkeeping for early notices: with a store that assigns ids
 * when an append is called (InboxStore.early, the embedded store), senders
 * announce an entry when it is enqueued, before it is durable, so an online
 * device gets a message without waiting for the commit. This module decides,
 * per notice, between pushing it at once, holding it until its append has
 * settled, and leaving it to a read; session-delivery.ts does the pushing,
 * reading and waiting.
 *
 * Why each rule (one writer: ids are assigned in call order, which is commit
 * order, and notices reach a session in that order):
 * - A read may only start once every append announced so far has settled:
 *   a read that runs while an announced entry is still being written misses
 *   it, and a later entry pushed directly would then overtake it for good.
 *   The same holds when a session starts (appends enqueued before it was
 *   registered were announced to nobody) and after a takeover (entries
 *   pushed to the old connection may still be in flight).
 * - A notice that may go before it is stored (`push`) goes at once when
 *   nothing is held, read or waiting for room.
 * - So does a receipt none of whose messages still waits for this device's
 *   `sent` (a receipt must never overtake the `sent` of its messages).
 * - Anything else (a receipt that would overtake a `sent`, a retransmission,
 *   which may be a duplicate) is held, and so is every notice after it (id
 *   order), until their appends settled; then the stored ones are pushed
 *   without a read. Too many held, or anything else in the way: everything
 *   goes through a (settled) read.
 */
import type { InboxEntry } from '../store/types.ts';
import { removeOne } from './lists.ts';

/** Set by the sender when the append settles: true = stored under the announced ids; false = not stored (failed, or a duplicate). */
export interface AppendFate {
  stored: boolean | undefined;
}

/** What a notice from an early append carries besides the entry. */
export interface EarlyNotice {
  /** May go to the device before it is stored (a first transmission: if it is then not stored, the sender gets no `sent` and retransmits, and the SDK drops the repeat). */
  readonly push: boolean;
  readonly fate: AppendFate;
  /**
   * A receipt's message ids (first attempts only): it may go before it is
   * stored when none of them still waits for this device's `sent` (so it
   * cannot overtake one). If it is then not stored, its retry (or, after a
   * crash, the acked messages, which stay in the inbox, come again and are
   * acked again) makes the same receipt again: a device may get a receipt
   * twice, never lose one.
   */
  readonly receiptFor?: readonly string[];
}

interface Held {
  readonly entry: InboxEntry;
  readonly fate: AppendFate;
}

export interface EarlyState {
  /** Reads wait until every append enqueued so far has settled. */
  pending: boolean;
  /** Bumped whenever something newly announced needs a settle: a wait that began before a bump does not clear `pending`. */
  mark: number;
  /** A wait for the store's appends to settle is in flight. */
  settling: boolean;
  /** How many of `held` (from the front) the wait in flight covers. */
  cover: number;
  /** Announced entries waiting for their appends to settle, in id order; while any are held nothing is pushed directly. */
  held: Held[];
  /**
   * Message ids this device sent whose `sent` has not been written yet, in
   * send order (an id in flight twice is here twice). An array, not a map
   * counting them: it changes at message rate (see SessionState.delivered),
   * holds at most the sends in flight, and `sent` mostly comes in send order.
   */
  readonly awaitingSent: string[];
}

/** Most entries held at once; past it they go through a read. */
export const MAX_HELD = 256;

/** A new session's state: its first read waits for appends enqueued before it was registered. */
export function newEarlyState(): EarlyState {
  return { pending: true, mark: 0, settling: false, cover: 0, held: [], awaitingSent: [] };
}

/**
 * Where an early notice goes. `free`: nothing is being read or waiting to be
 * read and the window has room (so every entry before this one was pushed).
 * 'held' and 'read' need a settle wait (the caller starts it, or pumps).
 */
export function admitEarly(es: EarlyState, entry: InboxEntry, notice: EarlyNotice, free: boolean): 'push' | 'held' | 'read' {
  if (free && es.held.length === 0 && (notice.push || (notice.receiptFor !== undefined && !notice.receiptFor.some((id) => es.awaitingSent.includes(id))))) {
    return 'push';
  }
  if (free && es.held.length < MAX_HELD) {
    es.held.push({ entry, fate: notice.fate });
    es.mark++;
    return 'held';
  }
  dropHeld(es);
  return 'read';
}

/** This device's send of `messageId` was enqueued: a receipt naming it waits until its `sent` is written. */
export function sendStarted(es: EarlyState, messageId: string): void {
  es.awaitingSent.push(messageId);
}

/** The send's outcome (`sent` or an error) is being written now. */
export function sendSettled(es: EarlyState, messageId: string): void {
  removeOne(es.awaitingSent, messageId);
}

/** Everything held goes through a read instead, after a settle. */
export function dropHeld(es: EarlyState): void {
  es.held = [];
  es.cover = 0;
  es.pending = true;
  es.mark++;
}

/**
 * A settle wait ended: the held entries it covered, in order, to push (the
 * caller stops at the first it cannot push and then drops the rest).
 */
export function settled(es: EarlyState, mark: number): Held[] {
  es.settling = false;
  if (mark === es.mark) es.pending = false;
  const covered = es.held.splice(0, es.cover);
  es.cover = 0;
  return covered;
}
