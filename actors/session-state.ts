/**
 * The messages a Session accepts and its state, declared in full in one
 * place; the behaviour (session.ts), its store helpers (session-store.ts)
 * and its delivery logic (session-delivery.ts) share them.
 */
import type { AckFrame, ReceiptFrame, SendFrame, ServerFrame } from '../protocol/index.ts';
import type { MonitorRef, Protocol, Ref } from '../supervisors/index.ts';
import type { DeviceAddress, InboxBatch, InboxEntry, InboxEntryId } from '../store/types.ts';
import type { MultiWriterState } from './session-multiwriter.ts';
import type { EarlyNotice, EarlyState } from './session-early.ts';
import { DeliveryWindow } from './delivery-window.ts';
import type { ChatServices } from './chat-services.ts';
import type { ConnectionRef } from './connection-protocol.ts';

/** Messages a session accepts. */
export type SessionCall = { readonly t: 'attach'; readonly conn: ConnectionRef };
/** How a forward ended at the recipient's session. */
export type ForwardOutcome = 'acked' | 'refused';
export type SessionCast =
  | { readonly t: 'frame'; readonly frame: SendFrame | AckFrame | ReceiptFrame }
  /**
   * (Several writers, a cluster) a first transmission handed over before it is
   * stored (session-forward.ts): `entry.id` is a forward token, not an inbox id;
   * `prev`/`prevAlt` name the sending session's previous message to this device.
   * Answered to `replyTo` with `forwarded`: 'acked' once the device acked it,
   * 'refused' when it was not pushed (or the session stopped or was taken over
   * before the ack). `deadline` (ms since the epoch): when the sender stops
   * waiting and stores it; a forward that arrives later (e.g. buffered while
   * NATS was away) is refused, never pushed.
   */
  | { readonly t: 'forward'; readonly entry: InboxEntry; readonly prev: string; readonly prevAlt?: string; readonly replyTo: SessionRef; readonly deadline: number }
  /** Outcomes of this session's forwards, by token. */
  | { readonly t: 'forwarded'; readonly tokens: readonly string[]; readonly outcome: ForwardOutcome }
  /**
   * A new entry for this device. `prev`: the id of the entry the same sending
   * session stored for this device just before (absent when unknown); with
   * several writers it lets the entry be pushed without a read when `prev`
   * was pushed already (session-multiwriter.ts).
   */
  | { readonly t: 'notify'; readonly entry: InboxEntry; readonly prev?: InboxEntryId; readonly prevAlt?: string; readonly early?: EarlyNotice };
// `prev` may also be a forward token; `prevAlt`: the same predecessor's other name (its token when `prev` is its
// stored id, after a forward that was then stored): it counts as pushed if either was (session-forward.ts).
// `early`: sent when the append was enqueued, before it settled (a store with InboxStore.early): session-early.ts.

export type SessionInfo =
  | { readonly t: 'append-failed'; readonly rid: number; readonly error: unknown }
  | { readonly t: 'read'; readonly entries: readonly InboxEntry[]; readonly asked: number; readonly generation: number }
  | { readonly t: 'read-failed'; readonly error: unknown; readonly generation: number }
  | { readonly t: 'mismatch'; readonly frame: ServerFrame }
  | { readonly t: 'reply'; readonly frame: ServerFrame }
  | { readonly t: 'flush-receipts' }
  /** Every append enqueued before the wait numbered `mark` began has settled (session-early.ts). */
  | { readonly t: 'settled'; readonly mark: number }
  // multi-writer (cluster) delivery: session-multiwriter.ts
  | { readonly t: 'verify' }
  | { readonly t: 'verified'; readonly upTo: InboxEntryId; readonly entries: readonly InboxEntry[]; readonly generation: number }
  | { readonly t: 'verify-failed'; readonly error: unknown }
  /** Notifies may have been lost (the cluster lost a node or this node's NATS link): look again. */
  | { readonly t: 'resync' };
export type SessionProtocol = Protocol<SessionCall, 'ok', SessionCast, SessionInfo>;
export type SessionRef = Ref<SessionProtocol>;

/** The whole state of a session. */
export interface SessionState {
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
  /** Present when the store assigns ids early and senders announce entries before they are stored (session-early.ts). */
  readonly early: EarlyState | undefined;
  /** Bumped on takeover: completions of reads started for an older connection are ignored. */
  generation: number;
  /** Serialises the part of each write that must stay in order (planning and enqueueing appends, receipts, deletes): see `inOrder`. */
  sendChain: Promise<void>;
  /** Steps chained on `sendChain` and not finished; 0 = the next step may run at once. */
  chainPending: number;
  /** Inbox deletes enqueued on the chain and waiting for their receipts to be safe (outside the chain: session-delivery.ts); an array, not a set (see `delivered`). */
  readonly waitingDeletes: Promise<void>[];
  /** The first send that failed with a retryable store error; later sends wait for its resend. */
  readonly gate: { blockedOn: string | undefined };
  /**
   * Message ids acked by this device and not yet reported "delivered", per
   * original sender user. Replaced by a new map at each flush, not cleared:
   * `Map.prototype.clear` (like a rehash) leaves a link from the old table to
   * the new one, and an old table promoted out of the young generation, dead
   * or not, keeps the next one and the ids it holds alive through
   * young-generation GCs, which then promote them too (frame-writer.ts
   * measured this). Lists that change at message rate are arrays for the
   * same reason (`waitingDeletes`, EarlyState.awaitingSent).
   */
  delivered: Map<string, string[]>;
  receiptTimer: NodeJS.Timeout | undefined;
  /** Highest inbox id whose deletion waits for the coalesced receipts. */
  pendingAck: InboxEntryId | undefined;
  /** Present when several nodes append to this device's inbox (a cluster). */
  readonly mw: MultiWriterState | undefined;
  /** A "delivered" receipt could not be stored: nothing is deleted from the inbox any more (session-store.ts). */
  receiptLost: boolean;
  /** The last message this session sent to each recipient device (`user:device`), in send order: `prev` of the next (session-forward.ts). */
  readonly lastSentTo: Map<string, SendLink>;
  /** The last receipt this session sent to each recipient device: receipts chain their own `prev` (no order with messages). */
  readonly lastReceiptTo: Map<string, SendLink>;
  /** (Cluster) forwarding of this session's sends and of forwards to its device: session-forward.ts. */
  readonly fwd: ForwardState;
}

/**
 * One message of this session to one device, in send order (several writers):
 * what the device's session must have pushed before it may push the next one
 * directly (`prev`). Named by its forward token and/or, once stored, its id.
 */
export interface SendLink {
  /** The message before it to the same device, kept until this one is acked or stored. */
  pred: SendLink | undefined;
  token: string | undefined;
  id: InboxEntryId | undefined;
}

/** Both sides of forwarding (session-forward.ts). */
export interface ForwardState {
  /** Sender side: sends handed over or waiting behind one, in send order (their fallback appends keep it). */
  readonly queue: PendingSend[];
  /** Sender side: forwards out, by token → their send and copy. */
  readonly out: Map<string, { readonly pending: PendingSend; readonly copy: number }>;
  /** Recipient side: forwards pushed to the device and not acked, by token → whom to tell. */
  readonly awaiting: Map<string, SessionRef>;
  /** Recipient side: the token of each forward awaiting its ack, by `user:device:messageId` (its stored copy is linked to it, not pushed). */
  readonly byMessage: Map<string, string>;
  /** Recipient side: the stored copy of a forward awaiting its ack (stored after the sender's wait), by token: acked with it. */
  readonly linked: Map<string, InboxEntryId>;
  /** Recipient side: the token last pushed from each sending device (`user:device`, `…#r` for receipts) on this connection. */
  readonly lastFrom: Map<string, string>;
  /** Called once `queue` is empty (a stopping session waits for its fallback writes). */
  readonly idle: Array<() => void>;
  /** Sender side: a forward was not acked; sends are stored (in order) until `queue` is empty, then forwarding resumes from a stored id. */
  storeMode: boolean;
  /** Recipient side: forwards whose `prev` is not pushed yet but may be soon (a read or an earlier forward is pending), in arrival order. */
  readonly held: HeldForward[];
}

export interface HeldForward {
  readonly entry: InboxEntry;
  readonly prev: string;
  readonly prevAlt: string | undefined;
  readonly replyTo: SessionRef;
  /** When its sender stops waiting (ms): past it, it is refused (the sender stores it anyway). */
  readonly deadline: number;
}

/** A send of this session whose store write waits for the outcome of forwards (session-forward.ts). */
export interface PendingSend {
  /** Per copy: undefined while its forward is out; a plain append has none. */
  readonly outcomes: (ForwardOutcome | 'lost' | undefined)[];
  remaining: number;
  /** Called with each copy's outcome as it comes in. */
  readonly resolve: (copy: number, outcome: ForwardOutcome | 'lost') => void;
  /** Runs once every outcome is in and the send is at the head of the queue. */
  readonly settle: (acked: readonly boolean[]) => void | Promise<void>;
}

/**
 * Runs `step` after every step queued before it (sends, receipts, inbox
 * deletes of this session keep their order into the store). With nothing
 * pending it runs at once, synchronously — the common case, no promise
 * hop; a step that returns a promise holds later steps until it settles.
 * `step` must not throw or reject (each caller handles its own failures).
 */
export function inOrder(state: SessionState, step: () => void | Promise<void>): void {
  if (state.chainPending === 0) {
    const running = step();
    if (running === undefined) return;
    state.chainPending++;
    state.sendChain = running.then(() => { state.chainPending--; });
    return;
  }
  state.chainPending++;
  state.sendChain = state.sendChain.then(step).then(() => { state.chainPending--; });
}

/** The entry copy `i` of `batch` is (or will be) under `id` (an inbox id, or a forward token). */
export function entryOf(batch: InboxBatch, i: number, id: InboxEntryId): InboxEntry {
  return {
    id, sender: batch.sender, clientMessageId: batch.clientMessageId, kind: batch.kind,
    serverTimestamp: batch.serverTimestamp, payload: batch.copies[i]!.payload,
  };
}
