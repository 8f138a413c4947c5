/**
 * Session: one process per connected device, registered as
 * `session/<user>/<device>`. It owns the device's messaging state: what was
 * pushed and not yet acked, where the inbox cursor is, and the sends in flight.
 *
 * | message                      | what happens                                                   |
 * | ---------------------------- | -------------------------------------------------------------- |
 * | call attach(conn)            | a (new) connection takes over; the old one is closed 4409      |
 * | cast frame(send)             | plan fan-out → inbox append (durable) → `sent` → notify peers  |
 * | cast frame(ack)              | release acked deliveries → inbox ack (range) → delivered receipts |
 * | cast frame(receipt)          | read receipt → stored for every device of the sender → `ok`    |
 * | cast notify(entry)           | a new entry for this device: push it now or read it later      |
 * | info appended/read/…         | completions of store calls, back in the mailbox                |
 * | DOWN of its connection       | stop `normal`, writing last seen                                |
 *
 * Guarantees (ARCHITECTURE §4): `sent` only after the append committed; a
 * device gets entries in inbox-id order, which is per-sender send order; an
 * entry leaves the inbox only after the device acked it and every entry
 * before it (cumulative range delete). Store calls run outside the callback
 * and report back as messages, so the mailbox never waits on I/O: sends from
 * one device are *enqueued* into the store in order (the embedded store
 * commits them in that order), while many are in flight.
 */
import { randomUUID } from 'node:crypto';
import {
  FrameKind, ReceiptStatus, errorFrame, type AckFrame, type ReceiptFrame, type SendFrame, type ServerFrame,
} from '../protocol/index.ts';
import {
  cast, isNormalExit, sameRef, send,
  type ActorContext, type Behaviour, type CallResult, type ExitReason, type MonitorRef, type NoReplyResult, type Protocol, type Ref, type SystemMessage,
} from '../supervisors/index.ts';
import type { AppendResult, Device, DeviceAddress, InboxBatch, InboxEntry, InboxEntryId } from '../store/types.ts';
import { INBOX_CURSOR_START } from '../store/types.ts';
import { isParleyError } from '../protocol/errors.ts';
import { DeliveryWindow } from './delivery-window.ts';
import { planFanout } from './fanout.ts';
import { decodeStoredMessage, decodeStoredReceipt, encodeStoredMessage, encodeStoredReceipt } from './inbox-payload.ts';
import { sessionName, type ChatServices } from './chat-services.ts';
import type { ConnectionRef } from './connection-protocol.ts';
import { outbound, closeConnection } from './connection-protocol.ts';

/** Messages a session accepts. */
export type SessionCall = { readonly t: 'attach'; readonly conn: ConnectionRef };
export type SessionCast =
  | { readonly t: 'frame'; readonly frame: SendFrame | AckFrame | ReceiptFrame }
  | { readonly t: 'notify'; readonly entry: InboxEntry };
type SessionInfo =
  | { readonly t: 'appended'; readonly frame: SendFrame; readonly result: AppendResult }
  | { readonly t: 'append-failed'; readonly rid: number; readonly error: unknown }
  | { readonly t: 'read'; readonly entries: readonly InboxEntry[]; readonly asked: number; readonly generation: number }
  | { readonly t: 'read-failed'; readonly error: unknown; readonly generation: number }
  | { readonly t: 'mismatch'; readonly frame: ServerFrame }
  | { readonly t: 'reply'; readonly frame: ServerFrame }
  | { readonly t: 'flush-receipts' };
export type SessionProtocol = Protocol<SessionCall, 'ok', SessionCast, SessionInfo>;
export type SessionRef = Ref<SessionProtocol>;

interface NotifyTarget {
  readonly recipient: DeviceAddress;
  readonly entry: Omit<InboxEntry, 'id'>;
}

/** The whole state of a session. */
interface SessionState {
  readonly device: DeviceAddress;
  readonly services: ChatServices;
  conn: ConnectionRef;
  connMonitor: MonitorRef;
  readonly window: DeliveryWindow<InboxEntry>;
  /** Highest inbox id pushed to the device (or skipped as already seen). */
  readCursor: InboxEntryId;
  /** A read from the store is in flight. */
  reading: boolean;
  /** Entries may exist past readCursor that were not pushed (window full, or notified during a read). */
  moreAvailable: boolean;
  /** Bumped on takeover: completions of reads started for an older connection are ignored. */
  generation: number;
  /** Serialises the part of each send that must stay in order: planning and enqueueing the append. */
  sendChain: Promise<void>;
  /** The first send that failed with a retryable store error; later sends wait for its resend. */
  readonly gate: { blockedOn: string | undefined };
  /** Message ids acked by this device and not yet reported "delivered", per original sender user. */
  readonly delivered: Map<string, string[]>;
  receiptTimer: NodeJS.Timeout | undefined;
  /** Highest inbox id whose deletion waits for the coalesced receipts. */
  pendingAck: InboxEntryId | undefined;
}

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
      sendChain: Promise.resolve(), gate: { blockedOn: undefined },
      delivered: new Map(), receiptTimer: undefined, pendingAck: undefined,
    };
    pump(state, ctx);
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
    if (message.t === 'notify') {
      onNotify(state, ctx, message.entry);
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
      return { noreply: state };
    }
    switch (m.t) {
      case 'appended':
        onAppended(state, m);
        return { noreply: state };
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
      case 'read-failed':
        if (m.generation !== state.generation) return { noreply: state };
        // The inbox is unreachable: let it crash; the connection closes and the client reconnects.
        return { stop: { exit: 'inbox_read_failed' }, state };
    }
  },

  terminate(reason: ExitReason, state, ctx) {
    const { services, device } = state;
    flushDelivered(state, ctx);
    services.system.registry.unregister(sessionName(device));
    if (!isNormalExit(reason)) closeConnection(state.conn, 'PARLEY_ERR_INTERNAL', 'session failed');
    services.accounts.setLastSeen(device.userId, services.now()).catch((err: unknown) => {
      services.log.warn({ event: 'session.last_seen_failed', user: device.userId, device: device.deviceId, code: (err as { code?: string }).code });
    });
  },
};

// ---------------------------------------------------------------------------
// sending

function onSend(state: SessionState, ctx: ActorContext<SessionProtocol>, frame: SendFrame): void {
  const { services, device } = state;
  const self = ctx.self;
  const gate = state.gate;
  state.sendChain = state.sendChain.then(async () => {
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
    const recipients = await devicesOf(services, frame.to);
    if (recipients.length === 0) {
      send(self, { t: 'reply', frame: errorFrame('PARLEY_ERR_UNKNOWN_USER', frame.rid, `unknown user ${frame.to}`) });
      return;
    }
    const own = frame.to === device.userId ? recipients : await devicesOf(services, device.userId);
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
      copies: plan.copies.map((c) => ({ recipient: c.recipient, payload: encodeStoredMessage({ type: c.type, ciphertext: c.ciphertext }) })),
    };
    const entries: NotifyTarget[] = batch.copies.map((c) => ({
      recipient: c.recipient,
      entry: { sender: device, clientMessageId: frame.messageId, kind: 'message', serverTimestamp, payload: c.payload },
    }));
    // One append of this device at a time: the next send waits for this one's
    // outcome, so a failed send can never be overtaken by a later one that a
    // recovering store accepted (per-sender order), whatever the backend.
    // Other devices' appends still share each commit (group commit).
    // Recipients are told in the continuation, not by this process, so every
    // committed entry is announced exactly once, in commit order, even if this
    // session exits first (a recipient pushes an announced entry only when
    // nothing older can be missing; see onNotify).
    await services.inbox.append(batch).then(
      (result) => {
        if (!result.duplicate) notifyCopies(services, result, entries);
        send(self, { t: 'appended', frame, result });
      },
      (error: unknown) => {
        if (isParleyError(error) && error.retryable) gate.blockedOn = frame.messageId;
        send(self, { t: 'append-failed', rid: frame.rid, error });
      },
    );
  }).catch((error: unknown) => send(self, { t: 'append-failed', rid: frame.rid, error }));
}

function onAppended(state: SessionState, m: { frame: SendFrame; result: AppendResult }): void {
  outbound(state.conn, { kind: FrameKind.Sent, rid: m.frame.rid, messageId: m.frame.messageId, serverTime: m.result.serverTimestamp });
}

function notifyCopies(services: ChatServices, result: AppendResult, entries: readonly NotifyTarget[]): void {
  const registry = services.system.registry;
  for (let i = 0; i < result.copies.length; i++) {
    const copy = result.copies[i]!;
    const target = registry.whereis(sessionName(copy.recipient)) as SessionRef | undefined;
    if (target !== undefined) cast(target, { t: 'notify', entry: { ...entries[i]!.entry, id: copy.id } });
  }
}

// ---------------------------------------------------------------------------
// receipts

function onReadReceipt(state: SessionState, ctx: ActorContext<SessionProtocol>, frame: ReceiptFrame): void {
  // "delivered" goes before "read" for the same messages: flush the coalesced ones first.
  if (state.delivered.size > 0) flushDelivered(state, ctx);
  storeReceipt(state, ctx, frame.to, frame.status, frame.messageIds, frame.rid);
}

/** Stores a receipt for every device of `to` (the original sender) and notifies the online ones. */
function storeReceipt(state: SessionState, ctx: ActorContext<SessionProtocol>, to: string, status: ReceiptStatus, messageIds: readonly string[], rid: number | undefined): void {
  const { services, device } = state;
  const self = ctx.self;
  state.sendChain = state.sendChain.then(async () => {
    const devices = await devicesOf(services, to);
    if (devices.length === 0) {
      if (rid !== undefined) send(self, { t: 'reply', frame: errorFrame('PARLEY_ERR_UNKNOWN_USER', rid, `unknown user ${to}`) });
      return;
    }
    const serverTimestamp = services.now();
    const payload = encodeStoredReceipt({ status, messageIds });
    const clientMessageId = `rcpt.${randomUUID()}`;
    const batch: InboxBatch = {
      sender: device, clientMessageId, kind: 'receipt', serverTimestamp,
      copies: devices.map((d) => ({ recipient: { userId: to, deviceId: d.deviceId }, payload })),
    };
    const entries = batch.copies.map((c) => ({ recipient: c.recipient, entry: { sender: device, clientMessageId, kind: 'receipt' as const, serverTimestamp, payload } }));
    await services.inbox.append(batch).then(
      (result) => {
        notifyCopies(services, result, entries);
        if (rid !== undefined) send(self, { t: 'reply', frame: { kind: FrameKind.Ok, rid } });
      },
      (error: unknown) => receiptFailed(state, self, rid, error),
    );
    // Without this catch a failed device lookup was an unhandled rejection (which ends
    // the node process) and left sendChain rejected, so every later send of this
    // device skipped its work and was answered with that stale error.
  }).catch((error: unknown) => receiptFailed(state, self, rid, error));
}

function receiptFailed(state: SessionState, self: SessionRef, rid: number | undefined, error: unknown): void {
  const { services, device } = state;
  if (rid !== undefined) send(self, { t: 'append-failed', rid, error });
  else services.log.warn({ event: 'session.receipt_store_failed', user: device.userId, device: device.deviceId, code: (error as { code?: string }).code });
}

/**
 * The devices of `userId`; empty for an unknown user. A well-formed wire id
 * (`[A-Za-z0-9._-]{1,64}`) that the account store refuses as input (it keys
 * users by UUID) names nobody: an unknown user, not a store failure.
 */
async function devicesOf(services: ChatServices, userId: string): Promise<readonly Device[]> {
  try {
    return services.directory.cached(userId) ?? await services.directory.devicesOf(userId);
  } catch (err) {
    if (isParleyError(err) && err.code === 'PARLEY_ERR_STORE_INVALID_INPUT') return [];
    throw err;
  }
}

// ---------------------------------------------------------------------------
// delivery

/**
 * An ack releases deliveries. The inbox delete is enqueued only after the
 * "delivered" receipts for those messages (same write order, so the same or
 * an earlier commit): a crash can lose neither the message nor its receipt.
 * Receipts are coalesced for `receiptFlushMs`, and the delete waits with them.
 */
function onAck(state: SessionState, ctx: ActorContext<SessionProtocol>, frame: AckFrame): void {
  const { services, device } = state;
  const out = state.window.ack(frame.seqs);
  if (out.ackUpTo !== undefined) state.pendingAck = out.ackUpTo;
  for (const e of out.newlyAcked) {
    if (e.kind !== 'message' || e.sender.userId === device.userId) continue;
    let ids = state.delivered.get(e.sender.userId);
    if (ids === undefined) state.delivered.set(e.sender.userId, (ids = []));
    ids.push(e.clientMessageId);
  }
  if (state.delivered.size === 0) commitAck(state);
  else if (state.receiptTimer === undefined) {
    const self = ctx.self;
    state.receiptTimer = setTimeout(() => send(self, { t: 'flush-receipts' }), services.settings.receiptFlushMs);
  }
  if (state.moreAvailable) pump(state, ctx);
}

/** Enqueues the range delete of everything acked so far, behind any receipt already enqueued. */
function commitAck(state: SessionState): void {
  const upTo = state.pendingAck;
  if (upTo === undefined) return;
  state.pendingAck = undefined;
  const { services, device } = state;
  state.sendChain = state.sendChain.then(() => {
    services.inbox.ack(device, upTo).catch((err: unknown) => {
      // Not fatal: the entries stay and are delivered again later, then dropped by the client.
      services.log.warn({ event: 'session.ack_failed', user: device.userId, device: device.deviceId, code: (err as { code?: string }).code });
    });
  });
}

/** Stores the coalesced "delivered" receipts. */
function flushDelivered(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  clearTimeout(state.receiptTimer);
  state.receiptTimer = undefined;
  const max = state.services.limits.maxIdsPerReceipt;
  for (const [to, ids] of state.delivered) {
    for (let i = 0; i < ids.length; i += max) storeReceipt(state, ctx, to, ReceiptStatus.Delivered, ids.slice(i, i + max), undefined);
  }
  state.delivered.clear();
  commitAck(state);
}

function onNotify(state: SessionState, ctx: ActorContext<SessionProtocol>, entry: InboxEntry): void {
  if (entry.id <= state.readCursor) return; // already pushed (the read saw it first)
  if (!state.reading && !state.moreAvailable && state.window.hasRoom) {
    push(state, entry);
    return;
  }
  state.moreAvailable = true;
  pump(state, ctx);
}

function push(state: SessionState, entry: InboxEntry): void {
  const seq = state.window.push(entry.id, entry);
  state.readCursor = entry.id;
  outbound(state.conn, toFrame(seq, entry));
}

/** Starts a store read when entries may be waiting and the window has room. */
function pump(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  if (state.reading || !state.moreAvailable || !state.window.hasRoom) return;
  const { services, device } = state;
  const asked = Math.min(services.settings.readBatch, state.window.capacity - state.window.size);
  const generation = state.generation;
  const self = ctx.self;
  state.reading = true;
  state.moreAvailable = false;
  services.inbox.read(device, state.readCursor, asked).then(
    (entries) => send(self, { t: 'read', entries, asked, generation }),
    (error: unknown) => send(self, { t: 'read-failed', error, generation }),
  );
}

function onRead(state: SessionState, ctx: ActorContext<SessionProtocol>, m: { entries: readonly InboxEntry[]; asked: number; generation: number }): void {
  if (m.generation !== state.generation) return;
  state.reading = false;
  for (const entry of m.entries) {
    if (entry.id > state.readCursor) push(state, entry);
  }
  if (m.entries.length === m.asked) state.moreAvailable = true;
  pump(state, ctx);
}

/** After a takeover: forget what the old connection had not acked and read again from the inbox. */
function restartDelivery(state: SessionState, ctx: ActorContext<SessionProtocol>): void {
  state.window.clear();
  state.generation++;
  state.reading = false;
  state.readCursor = INBOX_CURSOR_START;
  state.moreAvailable = true;
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

function errorFor(rid: number, error: unknown): ServerFrame {
  if (isParleyError(error) && error.code === 'PARLEY_ERR_STORE_UNAVAILABLE') {
    return errorFrame('PARLEY_ERR_STORE_UNAVAILABLE', rid, 'message store unavailable, retry');
  }
  return errorFrame('PARLEY_ERR_INTERNAL', rid, 'internal error');
}
