/**
 * Session: one process per connected device, registered as
 * `session/<user>/<device>`. It owns the device's messaging state: what was
 * pushed and not yet acked, where the inbox cursor is, and the sends in flight.
 *
 * | message                      | what happens                                                   |
 * | ---------------------------- | -------------------------------------------------------------- |
 * | call attach(conn)            | a (new) connection takes over; the old one is closed 4409      |
 * | cast frame(send)             | plan fan-out → inbox append → notify peers, `sent` when durable |
 * | cast frame(ack)              | release acked deliveries → inbox ack (range) → delivered receipts |
 * | cast frame(receipt)          | read receipt → stored for every device of the sender → `ok`    |
 * | cast notify(entry)           | a new entry for this device: push it now, hold it or read it later |
 * | cast forward / forwarded     | (cluster) a send handed over before it is stored, and its answer: session-forward.ts |
 * | info read/append-failed/…    | completions of store calls, back in the mailbox                |
 * | DOWN of its connection       | stop `normal`, writing last seen                                |
 * | EXIT {shutdown: {nameLost}}  | (cluster) the device logged in on another node: close 4409, stop |
 * | info verify/verified/resync  | (cluster) multi-writer inbox upkeep: session-multiwriter.ts     |
 *
 * Guarantees (ARCHITECTURE §4): `sent` only after the append committed; a
 * device gets each sender's entries in that sender's send order; an entry
 * leaves the inbox only after the device acked it (single node: it and every
 * entry before it, a cumulative range delete; cluster: exactly the acked
 * ids, session-multiwriter.ts). Store calls run outside the callback and
 * report back as messages, so the mailbox never waits on I/O: sends from one
 * device are enqueued into the store in order, several in flight when the
 * store is pipelined (fail-stop, InboxStore.pipelined), else one at a time.
 * With a store that assigns ids at the call (InboxStore.early, the embedded
 * store) recipients are told when the append is enqueued and an online
 * device may get a message before it is durable (session-early.ts); `sent`
 * waits for the commit, or for every recipient device's ack when the store
 * deferred the write (EarlyIds.append `defer`: acked first, never written).
 */

import { createHash } from 'node:crypto';
import { FrameKind, errorFrame, type ReceiptFrame, type SendFrame, type ServerFrame } from '../protocol/index.ts';
import { isNormalExit, sameRef, send, type ActorContext, type Behaviour, type CallResult, type ExitReason, type NoReplyResult, type SystemMessage } from '../supervisors/index.ts';
import type { AppendResult, Device, DeviceAddress, InboxBatch, InboxEntry } from '../store/types.ts';
import { INBOX_CURSOR_START } from '../store/types.ts';
import { isParleyError } from '../protocol/errors.ts';
import { DeliveryWindow } from './delivery-window.ts';
import { planFanout } from './fanout.ts';
import { encodeStoredMessage } from './inbox-payload.ts';
import { sessionName, type ChatServices } from './chat-services.ts';
import type { ConnectionRef } from './connection-protocol.ts';
import { outbound, closeConnection } from './connection-protocol.ts';
import { inOrder, type SendLink, type SessionInfo, type SessionProtocol, type SessionRef, type SessionState } from './session-state.ts';
import { appendAndNotify, appendThen, storeReceipt } from './session-store.ts';
import { flushDelivered, onAck, onForward, onNotify, onRead, onSettled, onVerified, pump, restartDelivery } from './session-delivery.ts';
import { forwardOrStore, forwardsSettled, newForwardState, onForwarded, refuseAwaiting } from './session-forward.ts';
import { newMultiWriterState, scheduleVerify, startVerify, touch } from './session-multiwriter.ts';
import { newEarlyState, sendSettled, sendStarted } from './session-early.ts';

export type { SessionCall, SessionCast, SessionProtocol, SessionRef } from './session-state.ts';
/** Arguments of `init`. */
export interface SessionArgs {
  readonly device: DeviceAddress;
  readonly conn: ConnectionRef;
  readonly services: ChatServices;
}

export const SESSION: Behaviour<SessionState, SessionArgs, SessionProtocol> = {
  name: 'Session',

  init({ device, conn, services }, ctx) {
    // Trap exits: on a supervisor shutdown `terminate` still flushes receipts and writes last seen.
    ctx.trapExit(true);
    const state: SessionState = {
      device, services, conn, connMonitor: ctx.monitor(conn),
      window: new DeliveryWindow<InboxEntry>(services.settings.deliveryWindow),
      readCursor: INBOX_CURSOR_START, reading: false, moreAvailable: true, generation: 0,
      early: services.inbox.early === undefined ? undefined : newEarlyState(),
      sendChain: Promise.resolve(), chainPending: 0, waitingDeletes: [], gate: { blockedOn: undefined },
      delivered: new Map(), receiptTimer: undefined, pendingAck: undefined,
      mw: services.inbox.multiWriter === undefined ? undefined : newMultiWriterState(services.inbox.multiWriter, services.now()),
      lastSentTo: new Map(), lastReceiptTo: new Map(), receiptLost: false, fwd: newForwardState(),
    };
    services.localSessions.add(ctx.self);
    pump(state, ctx);
    scheduleVerify(state, ctx);
    return { ok: state };
  },

  handleCall(request, _from, state, ctx): CallResult<SessionState, 'ok'> {
    // attach: a second login of the same device. The older socket is closed
    // with 4409; everything it had not acked is delivered again on the new one.
    ctx.demonitor(state.connMonitor);
    closeConnection(state.conn, 'PARLEY_ERR_CONNECTED_ELSEWHERE', 'this device logged in on another connection');
    state.conn = request.conn;
    state.connMonitor = ctx.monitor(request.conn);
    restartDelivery(state, ctx);
    return { reply: 'ok', state };
  },

  handleCast(message, state, ctx): NoReplyResult<SessionState> {
    if (message.t === 'forward') {
      onForward(state, ctx, message.entry, message.prev, message.prevAlt, message.replyTo, message.deadline);
      return { noreply: state };
    }
    if (message.t === 'forwarded') {
      onForwarded(state, message.tokens, message.outcome);
      return { noreply: state };
    }
    if (message.t === 'notify') {
      onNotify(state, ctx, message.entry, message.prev, message.prevAlt, message.early);
      return { noreply: state };
    }
    const frame = message.frame;
    switch (frame.kind) {
      case FrameKind.Send:
        onSend(state, ctx, frame);
        break;
      case FrameKind.Ack:
        onAck(state, ctx, frame);
        break;
      case FrameKind.Receipt:
        onReadReceipt(state, ctx, frame);
        break;
    }
    return { noreply: state };
  },

  handleInfo(message, state, ctx): NoReplyResult<SessionState> {
    const m = message as SessionInfo | SystemMessage;
    if ('type' in m) {
      if (m.type === 'DOWN' && sameRef(m.monitor, state.connMonitor)) return { stop: 'normal', state };
      if (m.type === 'EXIT' && isNameLost(m.reason)) {
        // The device logged in on another node: that node's session now owns it.
        closeConnection(state.conn, 'PARLEY_ERR_CONNECTED_ELSEWHERE', 'this device logged in on another connection');
        return { stop: m.reason, state };
      }
      return { noreply: state };
    }
    switch (m.t) {
      case 'append-failed':
        outbound(state.conn, errorFor(m.rid, m.error));
        if (!isParleyError(m.error)) return { stop: { exit: 'inbox_append_failed' }, state };
        return { noreply: state };
      case 'mismatch':
      case 'reply':
        outbound(state.conn, m.frame);
        return { noreply: state };
      case 'read':
        onRead(state, ctx, m);
        return { noreply: state };
      case 'flush-receipts':
        flushDelivered(state, ctx);
        return { noreply: state };
      case 'settled':
        onSettled(state, ctx, m.mark);
        return { noreply: state };
      case 'verify':
        startVerify(state, ctx);
        return { noreply: state };
      case 'verified':
        onVerified(state, ctx, m);
        return { noreply: state };
      case 'verify-failed':
        if (state.mw !== undefined) state.mw.verifying = false;
        state.services.log.warn({ event: 'session.verify_failed', user: state.device.userId, device: state.device.deviceId, code: (m.error as { code?: string }).code });
        scheduleVerify(state, ctx);
        return { noreply: state };
      case 'resync':
        if (state.mw !== undefined) {
          touch(state.mw, state.services.now());
          startVerify(state, ctx);
        }
        state.moreAvailable = true;
        pump(state, ctx);
        return { noreply: state };
      case 'read-failed':
        if (m.generation !== state.generation) return { noreply: state };
        // The inbox is unreachable: let it crash; the connection closes and the client reconnects.
        return { stop: { exit: 'inbox_read_failed' }, state };
    }
  },

  terminate(reason: ExitReason, state, ctx) {
    const { services, device } = state;
    // Forwards the device did not ack: their senders store them now.
    refuseAwaiting(state);
    flushDelivered(state, ctx);
    clearTimeout(state.mw?.verifyTimer);
    services.localSessions.delete(ctx.self);
    // Only our own name: after a takeover it belongs to the new session.
    const name = sessionName(device);
    if (sameRef(services.system.registry.whereis(name), ctx.self)) services.system.registry.unregister(name);
    if (!isNormalExit(reason)) closeConnection(state.conn, 'PARLEY_ERR_INTERNAL', 'session failed');
    const lastSeen = services.accounts.setLastSeen(device.userId, services.now()).catch((err: unknown) => {
      services.log.warn({ event: 'session.last_seen_failed', user: device.userId, device: device.deviceId, code: (err as { code?: string }).code });
    });
    // The receipts and deletes just flushed wait in the write chain (a delete then maybe for its
    // receipts, outside it): the node closes its stores after them.
    // Sends handed over by forwards and not settled yet are stored (or acked) within forwardMs.
    const last = Promise.allSettled([...(state.chainPending > 0 || state.fwd.queue.length > 0 ? [forwardsSettled(state)] : []), lastSeen])
      .then(() => Promise.allSettled(state.waitingDeletes));
    services.finalWrites.add(last);
    void last.then(() => services.finalWrites.delete(last));
  },
};

// ---------------------------------------------------------------------------
// sending

function onSend(state: SessionState, ctx: ActorContext<SessionProtocol>, frame: SendFrame): void {
  const self = ctx.self;
  inOrder(state, () => sendStep(state, self, frame));
}

/**
 * Plans and enqueues one send, after every earlier write of this session.
 * Synchronous when both device lists are cached (the common case); awaits
 * the directory otherwise, and awaits the append itself when the store is
 * not pipelined. Never throws or rejects: failures go back to the client.
 */
function sendStep(state: SessionState, self: SessionRef, frame: SendFrame): void | Promise<void> {
  try {
    const { services, device } = state;
    const gate = state.gate;
    if (gate.blockedOn !== undefined) {
      // Per-sender order: after a send failed with a retryable store error,
      // later sends are refused until the client resends the failed one
      // (it resends in order, so nothing overtakes it).
      if (frame.messageId !== gate.blockedOn) {
        send(self, { t: 'reply', frame: errorFrame('PARLEY_ERR_STORE_UNAVAILABLE', frame.rid, `waiting for the resend of ${gate.blockedOn}`) });
        return;
      }
      gate.blockedOn = undefined;
    }
    const recipients = services.directory.cached(frame.to);
    const own = frame.to === device.userId ? recipients : services.directory.cached(device.userId);
    if (recipients !== undefined && own !== undefined) return planAndAppend(state, self, frame, recipients, own);
    return (async () => {
      const r = await services.directory.devicesOf(frame.to);
      const o = frame.to === device.userId ? r : await services.directory.devicesOf(device.userId);
      await planAndAppend(state, self, frame, r, o);
    })().catch((error: unknown) => send(self, { t: 'append-failed', rid: frame.rid, error }));
  } catch (error) {
    send(self, { t: 'append-failed', rid: frame.rid, error });
  }
}

function planAndAppend(state: SessionState, self: SessionRef, frame: SendFrame, recipients: readonly Device[], own: readonly Device[]): void | Promise<void> {
  const { services, device } = state;
  if (recipients.length === 0) {
    send(self, { t: 'reply', frame: errorFrame('PARLEY_ERR_UNKNOWN_USER', frame.rid, `unknown user ${frame.to}`) });
    return;
  }
  const plan = planFanout(device, frame.to, frame.envelopes, recipients, own);
  if (!plan.ok) {
    send(self, { t: 'mismatch', frame: { kind: FrameKind.MismatchedDevices, rid: frame.rid, userId: frame.to, missing: plan.missing, extra: plan.extra, stale: plan.stale } });
    return;
  }
  if (plan.copies.length === 0) {
    // Writing to oneself with no other device: nothing to store, but the send is accepted.
    send(self, { t: 'reply', frame: { kind: FrameKind.Sent, rid: frame.rid, messageId: frame.messageId, serverTime: services.now() } });
    return;
  }
  const serverTimestamp = services.now();
  const batch: InboxBatch = {
    sender: device, clientMessageId: frame.messageId, kind: 'message', serverTimestamp,
    // Only a retransmission needs the duplicate lookup (store/types.ts InboxBatch.resend).
    ...(frame.resend === true ? { resend: true } : {}),
    copies: plan.copies.map((c) => ({ recipient: c.recipient, payload: encodeStoredMessage({ type: c.type, ciphertext: c.ciphertext }) })),
  };
  // A failed send must never be overtaken by a later one that a recovering
  // store accepted (per-sender order). A pipelined store (fail-stop, in-order
  // commits: InboxStore.pipelined) guarantees that itself, so this device's
  // next send is enqueued at once; any other store gets one append of this
  // device at a time (the next send waits for this one's outcome). Other
  // devices' appends share each commit either way (group commit).
  // Recipients are told by the store's continuation, not by this process, so
  // every committed entry is announced exactly once, in commit order, even if
  // this session exits first (a recipient pushes an announced entry only when
  // nothing older can be missing; see onNotify) — or, with early ids, when the
  // append is enqueued, so a first transmission may reach an online device
  // before it is durable (session-early.ts; a retransmission may be a
  // duplicate: held until stored). `sent` waits for the commit (or, for a
  // deferred write, the recipient devices' acks) and goes straight to the
  // connection (no hop through this mailbox).
  const es = state.early;
  // Until its `sent` is written, no receipt naming it goes to this device early.
  if (es !== undefined) sendStarted(es, frame.messageId);
  // A duplicate is announced again in a cluster: the node that stored it may have died before announcing.
  const announceDuplicate = services.inbox.multiWriter !== undefined;
  const onSent = (result: Pick<AppendResult, 'serverTimestamp'>): void => {
    if (es !== undefined) sendSettled(es, frame.messageId);
    outbound(state.conn, { kind: FrameKind.Sent, rid: frame.rid, messageId: frame.messageId, serverTime: result.serverTimestamp });
  };
  const onFailed = (error: unknown): void => {
    if (es !== undefined) sendSettled(es, frame.messageId);
    // Pipelined: later sends already enqueued fail too (fail-stop); the client resends from here.
    if (isParleyError(error) && error.retryable) state.gate.blockedOn ??= frame.messageId;
    send(self, { t: 'append-failed', rid: frame.rid, error });
  };
  const append = (b: InboxBatch, links?: readonly SendLink[]): Promise<void> => appendThen(state, b, { push: frame.resend !== true }, announceDuplicate, (result) => {
    // A retransmission of a send stored before the recipient added a device: the new devices get it too.
    const supplement = result.duplicate ? supplementOf(b, result) : undefined;
    if (supplement === undefined) return onSent(result);
    return appendAndNotify(state, supplement, { push: false }, announceDuplicate).then(() => onSent(result), onFailed);
  }, onFailed, links);
  if (state.mw !== undefined) {
    // Several writers: a first transmission to devices online in the cluster is handed over before it is
    // stored, and stored only if not acked in time; either way in send order (session-forward.ts).
    forwardOrStore(state, self, batch, frame.resend === true, () => onSent({ serverTimestamp }), append);
    return;
  }
  const appended = append(batch);
  if (services.inbox.pipelined !== true) return appended;
}

/**
 * The copies of `batch` for devices the original send (`original`, a
 * duplicate's result) did not address, as a batch of their own: same message
 * id and server time, its own dedup key (derived from the devices, so a
 * further retransmission finds it), flagged `resend`. Undefined when the
 * original addressed every device `batch` does.
 */
function supplementOf(batch: InboxBatch, original: AppendResult): InboxBatch | undefined {
  const had = new Set(original.copies.map((c) => `${c.recipient.userId}/${c.recipient.deviceId}`));
  const copies = batch.copies.filter((c) => !had.has(`${c.recipient.userId}/${c.recipient.deviceId}`));
  if (copies.length === 0) return undefined;
  const devices = copies.map((c) => `${c.recipient.userId}/${c.recipient.deviceId}`).sort().join(',');
  const dedupKey = `${batch.clientMessageId}\u0000+${createHash('sha256').update(devices).digest('base64url')}`;
  return { ...batch, copies, dedupKey, serverTimestamp: original.serverTimestamp, resend: true };
}

// ---------------------------------------------------------------------------
// read receipts

function onReadReceipt(state: SessionState, ctx: ActorContext<SessionProtocol>, frame: ReceiptFrame): void {
  // "delivered" goes before "read" for the same messages: flush the coalesced ones first.
  if (state.delivered.size > 0) flushDelivered(state, ctx);
  void storeReceipt(state, ctx, frame.to, frame.status, frame.messageIds, frame.rid);
}

function isNameLost(reason: unknown): boolean {
  if (typeof reason !== 'object' || reason === null || !('shutdown' in reason)) return false;
  const s = (reason as { shutdown: unknown }).shutdown;
  return typeof s === 'object' && s !== null && 'nameLost' in s;
}

function errorFor(rid: number, error: unknown): ServerFrame {
  if (isParleyError(error) && error.code === 'PARLEY_ERR_STORE_UNAVAILABLE') {
    return errorFrame('PARLEY_ERR_STORE_UNAVAILABLE', rid, 'message store unavailable, retry');
  }
  return errorFrame('PARLEY_ERR_INTERNAL', rid, 'internal error');
}

