/**
 * A Session's delivery to its device: pushing announced or read entries
 * through the delivery window, acks (cumulative inbox deletes behind the
 * coalesced "delivered" receipts), and restarting after a takeover.
 */
import { FrameKind, ReceiptStatus, type AckFrame, type ServerFrame } from '../protocol/index.ts';
import { send, type ActorContext } from '../supervisors/index.ts';
import type { InboxEntry, InboxEntryId } from '../store/types.ts';
import { INBOX_CURSOR_START } from '../store/types.ts';
import { decodeStoredMessage, decodeStoredReceipt } from './inbox-payload.ts';
import { outbound } from './connection-protocol.ts';
import { inOrder, type SessionProtocol, type SessionRef, type SessionState } from './session-state.ts';
import { removeOne } from './lists.ts';
import { ForwardReplies, admitForward, eitherPushed, forwardAcked, isForwardToken, linkStoredCopy, refuseAwaiting, retryHeld } from './session-forward.ts';
import { admitEarly, dropHeld, settled, type EarlyNotice, type EarlyState } from './session-early.ts';
import { storeReceipt } from './session-store.ts';
import { applyVerified, directPush, readStart, resetMultiWriter, scheduleVerify, takeRead, touch } from './session-multiwriter.ts';

// ---------------------------------------------------------------------------
// delivery

/**
 * An ack releases deliveries. The inbox delete is enqueued only after the
 * "delivered" receipts for those messages (same write order, so the same or
 * an earlier commit): a crash can lose neither the message nor its receipt.
 * Receipts are coalesced for `receiptFlushMs`, and the delete waits with them.
 */
export function onAck(state: SessionState, ctx: ActorContext<SessionProtocol>, frame: AckFrame): void {
  const { services, device } = state;
  const out = state.window.ack(frame.seqs);
  const mw = state.mw;
  if (mw !== undefined) {
    // Point deletes of exactly what was acked (a late entry may sit between them).
    touch(mw, services.now());
    let replies: ForwardReplies | undefined;
    for (const e of out.newlyAcked) {
      // A forwarded entry was never stored: its sender hears of the ack instead (session-forward.ts).
      if (isForwardToken(e.id)) {
        const stored = forwardAcked(state, e, (replies ??= new ForwardReplies()));
        if (stored !== undefined) {
          // Its stored copy (written when the sender's wait ran out) was linked to it, not pushed.
          mw.recent.set(stored, true);
          mw.toDelete.push(stored);
        }
        continue;
      }
      mw.recent.set(e.id, true);
      mw.toDelete.push(e.id);
    }
    replies?.send('acked');
  } else if (out.ackUpTo !== undefined) {
    state.pendingAck = out.ackUpTo;
    // The device has them: deferred appends settle (their `sent` may go); the delete waits for the receipts.
    services.inbox.early?.received(device, out.ackUpTo);
  }
  for (const e of out.newlyAcked) {
    if (e.kind !== 'message' || e.sender.userId === device.userId) continue;
    let ids = state.delivered.get(e.sender.userId);
    if (ids === undefined) state.delivered.set(e.sender.userId, (ids = []));
    ids.push(e.clientMessageId);
  }
  if (state.delivered.size === 0) commitAck(state, []);
  else if (state.receiptTimer === undefined) {
    const self = ctx.self;
    state.receiptTimer = setTimeout(() => send(self, { t: 'flush-receipts' }), services.settings.receiptFlushMs);
  }
  if (mw !== undefined) {
    scheduleVerify(state, ctx);
    pushHeld(state);
  }
  if (state.moreAvailable) pump(state, ctx);
}

/**
 * Enqueues the deletion of everything acked so far (several writers: exactly
 * those ids), once `receipts` (the "delivered" receipts of those messages,
 * session-store.ts storeReceipt) are safe.
 */
function commitAck(state: SessionState, receipts: readonly Promise<void>[]): void {
  const mw = state.mw;
  if (mw !== undefined) {
    if (mw.toDelete.length === 0) return;
    const ids = mw.toDelete;
    mw.toDelete = [];
    enqueueInboxDelete(state, 'session.ack_failed', () => mw.inbox.ackIds(state.device, ids, mw.cursor), receipts);
    return;
  }
  const upTo = state.pendingAck;
  if (upTo === undefined) return;
  state.pendingAck = undefined;
  enqueueInboxDelete(state, 'session.ack_failed', () => state.services.inbox.ack(state.device, upTo), receipts);
}

/**
 * Enqueues an inbox delete (or cursor move) on the session's write chain,
 * to run once `after` settled (without holding the session's later writes:
 * a deferred receipt may wait for its devices' ack). Skipped once a receipt
 * was lost (the acked messages must come back: see session-store.ts
 * receiptFailed). A failure is not fatal: the entries stay, are delivered
 * again later and dropped by the client.
 */
function enqueueInboxDelete(state: SessionState, failedEvent: string, write: () => Promise<void>, after: readonly Promise<void>[] = []): void {
  const { services, device } = state;
  const run = (): void => {
    if (state.receiptLost) return;
    write().catch((err: unknown) => {
      services.log.warn({ event: failedEvent, user: device.userId, device: device.deviceId, code: (err as { code?: string }).code });
    });
  };
  inOrder(state, () => {
    if (after.length === 0) return run();
    const waiting = Promise.all(after).then(run);
    state.waitingDeletes.push(waiting);
    void waiting.then(() => removeOne(state.waitingDeletes, waiting));
  });
}

/** Stores the coalesced "delivered" receipts. */
export function flushDelivered(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  clearTimeout(state.receiptTimer);
  state.receiptTimer = undefined;
  const max = state.services.limits.maxIdsPerReceipt;
  const receipts: Promise<void>[] = [];
  for (const [to, ids] of state.delivered) {
    for (let i = 0; i < ids.length; i += max) receipts.push(storeReceipt(state, ctx, to, ReceiptStatus.Delivered, ids.slice(i, i + max), undefined));
  }
  // A new map, not `clear()`: see SessionState.delivered.
  state.delivered = new Map();
  commitAck(state, receipts);
}

export function onNotify(state: SessionState, ctx: ActorContext<SessionProtocol>, entry: InboxEntry, prev?: InboxEntryId, prevAlt?: string, early?: EarlyNotice): void {
  const mw = state.mw;
  if (mw !== undefined) {
    // Several writers: pushed at once only when the sender's previous entry was (per-sender
    // order); otherwise a read pushes it, in id order (session-multiwriter.ts).
    touch(mw, state.services.now());
    scheduleVerify(state, ctx);
    // `prev` may be a forward token, and may have a second name (`prevAlt`): session-forward.ts.
    const known = prev !== undefined && eitherPushed(state, entry.sender, entry.kind, prev, prevAlt);
    const direct = directPush(mw, entry.id, prev, state.window.hasRoom, known);
    if (direct === 'push') {
      push(state, entry);
      pushHeld(state);
    } else if (direct === 'read') {
      state.moreAvailable = true;
      pump(state, ctx);
    }
    return;
  }
  if (entry.id <= state.readCursor) return; // already pushed (the read saw it first)
  // In id order: everything before this entry was pushed (nothing is waiting
  // to be read), so it goes now. With one writer, ids follow commit order and
  // notices arrive in that order.
  const free = !state.reading && !state.moreAvailable && state.window.hasRoom;
  const es = state.early;
  if (es !== undefined && early !== undefined) {
    switch (admitEarly(es, entry, early, free)) {
      case 'push':
        push(state, entry);
        return;
      case 'held':
        awaitSettled(state, ctx, es);
        return;
      case 'read':
        state.moreAvailable = true;
        pump(state, ctx);
        return;
    }
  }
  if (free) {
    push(state, entry);
    return;
  }
  state.moreAvailable = true;
  pump(state, ctx);
}

/** Waits (once at a time) until every append enqueued so far has settled; then `settled` comes back. */
function awaitSettled(state: SessionState, ctx: ActorContext<SessionProtocol>, es: EarlyState): void {
  const early = state.services.inbox.early;
  if (es.settling || early === undefined) return;
  es.settling = true;
  es.cover = es.held.length;
  const mark = es.mark;
  const self = ctx.self;
  // Parked appends to this device are written first (those to other devices may stay parked).
  void early.allSettled(state.device).then(() => send(self, { t: 'settled', mark }));
}

/** A settle wait ended: the held entries it covered go out in order (the stored ones), then reads may go on. */
export function onSettled(state: SessionState, ctx: ActorContext<SessionProtocol>, mark: number): void {
  const es = state.early;
  if (es === undefined) return;
  for (const h of settled(es, mark)) {
    if (h.entry.id <= state.readCursor || h.fate.stored === false) continue;
    if (h.fate.stored === undefined || !state.window.hasRoom) {
      // Not pushable now: this one and everything after it come from a read.
      state.moreAvailable = true;
      dropHeld(es);
      break;
    }
    push(state, h.entry);
  }
  if (es.held.length > 0) awaitSettled(state, ctx, es);
  pump(state, ctx);
}

/** (Cluster) a send handed over before it is stored: pushed now or refused (session-forward.ts). */
export function onForward(state: SessionState, ctx: ActorContext<SessionProtocol>, entry: InboxEntry, prev: string, prevAlt: string | undefined, replyTo: SessionRef, deadline: number): void {
  if (admitForward(state, entry, prev, prevAlt, replyTo, deadline) !== 'push') return;
  pushToDevice(state, entry);
  touch(state.mw!, state.services.now());
  scheduleVerify(state, ctx);
}

/** Into the delivery window and out to the device. */
function pushToDevice(state: SessionState, entry: InboxEntry): void {
  const seq = state.window.push(entry.id, entry);
  outbound(state.conn, toFrame(seq, entry));
}

/** Held forwards whose predecessor is now pushed go out (after reads, pushes and acks). */
function pushHeld(state: SessionState): void {
  if (state.fwd.held.length === 0) return;
  for (const entry of retryHeld(state)) pushToDevice(state, entry);
}

function push(state: SessionState, entry: InboxEntry): void {
  if (entry.id > state.readCursor) state.readCursor = entry.id;
  state.mw?.recent.set(entry.id, false);
  // The stored copy of a forward the device has and has not acked yet: acked with it (session-forward.ts).
  if (state.mw !== undefined && linkStoredCopy(state, entry)) return;
  pushToDevice(state, entry);
}

/** Verification results: late entries pushed or queued, the stored cursor advanced. */
export function onVerified(state: SessionState, ctx: ActorContext<SessionProtocol>, m: { upTo: string; entries: readonly InboxEntry[]; generation: number }): void {
  const mw = state.mw;
  if (mw === undefined) return;
  if (m.generation !== state.generation) {
    mw.verifying = false;
  } else {
    const { services, device } = state;
    const { cursor, unpushed } = applyVerified(mw, m.upTo, m.entries);
    if (unpushed.length > 0) {
      services.log.error({ event: 'session.verify_found_unpushed', user: device.userId, device: device.deviceId, count: unpushed.length }, 'entries below the read position were never pushed; reading again from the cursor');
    }
    if (cursor !== undefined) enqueueInboxDelete(state, 'session.cursor_failed', () => mw.inbox.ackIds(device, [], cursor));
  }
  // A lost notify above readCursor is found by reading on.
  state.moreAvailable = true;
  pump(state, ctx);
  scheduleVerify(state, ctx);
}

/** Starts a store read when entries may be waiting and the window has room. */
export function pump(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  if (state.reading || !state.moreAvailable || !state.window.hasRoom) return;
  const { services, device } = state;
  if (state.early?.pending === true) {
    // A read now could miss an announced entry that is still being written.
    awaitSettled(state, ctx, state.early);
    return;
  }
  const mw = state.mw;
  // Several writers: a round reads from below what was pushed, and pages of known ids are skipped.
  const asked = mw !== undefined ? services.settings.readBatch : Math.min(services.settings.readBatch, state.window.capacity - state.window.size);
  const from = mw !== undefined ? readStart(mw, state.readCursor, services.now()) : state.readCursor;
  const generation = state.generation;
  const self = ctx.self;
  state.reading = true;
  state.moreAvailable = false;
  services.inbox.read(device, from, asked).then(
    (entries) => send(self, { t: 'read', entries, asked, generation }),
    (error: unknown) => send(self, { t: 'read-failed', error, generation }),
  );
}

export function onRead(state: SessionState, ctx: ActorContext<SessionProtocol>, m: { entries: readonly InboxEntry[]; asked: number; generation: number }): void {
  if (m.generation !== state.generation) return;
  state.reading = false;
  const mw = state.mw;
  if (mw !== undefined) {
    const { push: fresh, more } = takeRead(mw, m.entries, m.asked, state.window.capacity - state.window.size);
    for (const entry of fresh) push(state, entry);
    if (more) state.moreAvailable = true;
    pump(state, ctx);
    // Held forwards waiting for this read: pushed if their predecessor now is, refused if no read is left to find it.
    pushHeld(state);
    return;
  }
  for (const entry of m.entries) {
    if (entry.id > state.readCursor) push(state, entry);
  }
  if (m.entries.length === m.asked) state.moreAvailable = true;
  pump(state, ctx);
}

/** After a takeover: forget what the old connection had not acked and read again from the inbox. */
export function restartDelivery(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  // Forwards pushed to the old connection and not acked: their senders store them; the new one reads them.
  refuseAwaiting(state);
  state.window.clear();
  state.generation++;
  state.reading = false;
  state.readCursor = INBOX_CURSOR_START;
  state.moreAvailable = true;
  // Entries pushed to the old connection before they were stored must be stored before the read.
  if (state.early !== undefined) dropHeld(state.early);
  if (state.mw !== undefined) resetMultiWriter(state.mw);
  pump(state, ctx);
}

function toFrame(seq: number, e: InboxEntry): ServerFrame {
  if (e.kind === 'receipt') {
    const r = decodeStoredReceipt(e.payload);
    return { kind: FrameKind.ReceiptNotice, seq, status: r.status, by: e.sender.userId, byDevice: e.sender.deviceId, serverTime: e.serverTimestamp, messageIds: [...r.messageIds] };
  }
  const m = decodeStoredMessage(e.payload);
  return {
    kind: FrameKind.Deliver, seq, from: e.sender.userId, fromDevice: e.sender.deviceId, messageId: e.clientMessageId,
    serverTime: e.serverTimestamp, type: m.type, ciphertext: m.ciphertext,
  };
}
