/**
 * Forwarding: a cluster's "store or forward" for first transmissions
 * (several writers, the Cassandra inbox; `ChatSettings.forwardMs` > 0).
 *
 * A send whose every recipient device has a session somewhere in the cluster
 * is first handed to those sessions (a `forward` call, across NATS when they
 * run on another node) instead of being stored. Each pushes it to its device
 * under a forward token instead of an inbox id and answers 'acked' when the
 * device acks it. When every copy is acked, `sent` goes and the message is
 * never written: the recipient devices have it (ARCHITECTURE §4, "acknowledged
 * by the recipient device"). Any copy not acked within `forwardMs` (refused,
 * timed out, node gone, session taken over) is then stored like any send, and
 * `sent` waits for that; a device that got it forwarded gets it again from the
 * store and the SDK drops the repeat.
 *
 * Why each rule:
 * - Per-sender order at the device. A recipient session pushes a forward only
 *   when `prev` (what the sending session last stored or forwarded for this
 *   device) was pushed on its current connection, exactly as a notify's `prev`
 *   (session-multiwriter.ts): a token is checked against the last token it
 *   pushed from that sending device (forgotten on a takeover), a stored id
 *   against what it pushed or read. So every forward it pushes has everything
 *   the sender sent before it pushed first, on the same connection.
 * - Per-sender order in the store. A send's fallback write, and every send
 *   of this session stored directly while forwards are out, go to the store in
 *   send order: `queue` releases them only from its head, once the head's
 *   outcomes are in. The next send does not wait for a forward's ack
 *   (forwards are pipelined); only the fallback writes wait behind one
 *   another, at most `forwardMs` each.
 * - A retransmission (`resend`) is never forwarded: it may be a duplicate and
 *   goes through the store's dedup lookup.
 * - Nothing to forward without a `prev` (a session's first send to a device):
 *   stored, so the chain starts from a stored id.
 *
 * What it gives up, as the embedded store's deferred appends do: a crash of
 * the sending node between the device's ack and `sent` means no `sent`; the
 * client retransmits, the store has no record of it, it is stored and
 * delivered again, and the SDK drops the repeat. The "delivered" receipts of
 * forwarded messages are stored as every receipt is.
 */
import { randomBytes } from 'node:crypto';
import { call, reply, type From } from '../supervisors/index.ts';
import type { DeviceAddress, InboxBatch, InboxEntry, InboxEntryId } from '../store/types.ts';
import { sessionName } from './chat-services.ts';
import type { ForwardOutcome, ForwardState, PendingSend, SessionRef, SessionState } from './session-state.ts';
import { inOrder } from './session-state.ts';

/** Tokens of this process: a random prefix and a counter (unique across processes and restarts); never an inbox id (those are hex). */
const TOKEN_PREFIX = `f.${randomBytes(9).toString('base64url')}.`;
let tokenCounter = 0;

/** Whether an id in the delivery window is a forward token (not an inbox id). */
export function isForwardToken(id: string): boolean {
  return id.charCodeAt(0) === 0x66; // 'f'; inbox ids are hex digits
}

export function newForwardState(): ForwardState {
  return { queue: [], awaiting: new Map(), byMessage: new Map(), linked: new Map(), lastFrom: new Map(), idle: [] };
}

/** `user:device`, the key of `lastSentTo` and `lastFrom`. */
export function deviceKey(d: DeviceAddress): string {
  return `${d.userId}:${d.deviceId}`;
}

/** Sending devices remembered per session (a forgotten one's next forward is refused and stored instead). */
const LAST_FROM_MAX = 1024;

// ---------------------------------------------------------------------------
// sender side

/** Where each copy of `batch` would be forwarded, or undefined when one of its devices has no session or no `prev`. */
export function forwardTargets(state: SessionState, batch: InboxBatch): { targets: SessionRef[]; prevs: string[] } | undefined {
  const registry = state.services.system.registry;
  const targets: SessionRef[] = [];
  const prevs: string[] = [];
  for (const c of batch.copies) {
    const prev = state.lastSentTo.get(deviceKey(c.recipient));
    if (prev === undefined) return undefined;
    const target = registry.whereis(sessionName(c.recipient)) as SessionRef | undefined;
    if (target === undefined) return undefined;
    targets.push(target);
    prevs.push(prev);
  }
  return { targets, prevs };
}

/**
 * Forwards every copy of `batch`. `onAcked` runs as soon as every copy is
 * acked; otherwise `fallback` runs with the copies not acked, in send order
 * after every earlier send's fallback (see the header), on the write chain.
 */
export function forwardSend(
  state: SessionState, batch: InboxBatch, to: { targets: readonly SessionRef[]; prevs: readonly string[] }, timeoutMs: number,
  onAcked: () => void, fallback: (rest: InboxBatch) => void | Promise<void>,
): void {
  const token = TOKEN_PREFIX + (tokenCounter++).toString(36);
  const n = batch.copies.length;
  const pending: PendingSend = {
    outcomes: new Array<ForwardOutcome | 'lost' | undefined>(n).fill(undefined),
    remaining: n,
    settle: (acked) => {
      if (acked.every(Boolean)) return;
      const copies = batch.copies.filter((_, i) => !acked[i]);
      return fallback(copies.length === n ? batch : { ...batch, copies });
    },
  };
  state.fwd.queue.push(pending);
  const resolve = (i: number, outcome: ForwardOutcome | 'lost'): void => {
    pending.outcomes[i] = outcome;
    if (--pending.remaining > 0) return;
    if (pending.outcomes.every((o) => o === 'acked')) onAcked();
    drain(state);
  };
  for (let i = 0; i < n; i++) {
    const copy = batch.copies[i]!;
    state.lastSentTo.set(deviceKey(copy.recipient), token);
    const entry: InboxEntry = {
      id: token, sender: batch.sender, clientMessageId: batch.clientMessageId, kind: batch.kind,
      serverTimestamp: batch.serverTimestamp, payload: copy.payload,
    };
    call(to.targets[i]!, { t: 'forward', entry, prev: to.prevs[i]! }, timeoutMs).then(
      (r) => resolve(i, r === 'acked' ? 'acked' : 'refused'),
      () => resolve(i, 'lost'),
    );
  }
}

/** A send stored directly while forwards are out: `write` runs after their fallbacks, in send order. */
export function appendBehindForwards(state: SessionState, write: () => void | Promise<void>): void {
  state.fwd.queue.push({ outcomes: [], remaining: 0, settle: () => write() });
  drain(state);
}

/** Releases the head of the queue while its outcomes are in. */
function drain(state: SessionState): void {
  const q = state.fwd.queue;
  while (q.length > 0 && q[0]!.remaining === 0) {
    const head = q.shift()!;
    const acked = head.outcomes.map((o) => o === 'acked');
    inOrder(state, () => head.settle(acked));
  }
  if (q.length === 0 && state.fwd.idle.length > 0) for (const done of state.fwd.idle.splice(0)) done();
}

/** Settles once every send handed over so far is acked or written (the write chain included). */
export function forwardsSettled(state: SessionState): Promise<void> {
  const empty = state.fwd.queue.length === 0 ? Promise.resolve() : new Promise<void>((resolve) => state.fwd.idle.push(resolve));
  return empty.then(() => state.sendChain);
}

// ---------------------------------------------------------------------------
// recipient side

/** Whether `prev` (a sender's last stored id or forward token for this device) was pushed on this connection, or read. */
export function prevPushed(state: SessionState, sender: DeviceAddress, prev: string): boolean {
  if (isForwardToken(prev)) return state.fwd.lastFrom.get(deviceKey(sender)) === prev;
  const mw = state.mw;
  if (mw === undefined) return false;
  return mw.recent.has(prev) || prev <= mw.lowWater || prev <= mw.cursor;
}

/**
 * A forward arrived: pushed now when its `prev` was and the window has room
 * (its answer then waits for the device's ack), else refused at once.
 * Returns the entry to push, or undefined.
 */
export function admitForward(state: SessionState, entry: InboxEntry, prev: string, from: From<'ok' | ForwardOutcome>): boolean {
  if (state.mw === undefined || !state.window.hasRoom || !prevPushed(state, entry.sender, prev)) {
    reply(from, 'refused');
    return false;
  }
  const { lastFrom } = state.fwd;
  const key = deviceKey(entry.sender);
  if (lastFrom.size >= LAST_FROM_MAX && !lastFrom.has(key)) lastFrom.delete(lastFrom.keys().next().value!);
  lastFrom.set(key, entry.id);
  state.fwd.awaiting.set(entry.id, from);
  state.fwd.byMessage.set(messageKey(entry), entry.id);
  return true;
}

function messageKey(e: InboxEntry): string {
  return `${e.sender.userId}:${e.sender.deviceId}:${e.clientMessageId}`;
}

/**
 * A stored entry about to be pushed: when it is the stored copy of a forward
 * still awaiting its ack on this connection (the sender's wait ran out first),
 * it is linked to that forward instead (acked with it) and not pushed again.
 */
export function linkStoredCopy(state: SessionState, entry: InboxEntry): boolean {
  const { byMessage, linked } = state.fwd;
  if (byMessage.size === 0 || entry.kind !== 'message') return false;
  const token = byMessage.get(messageKey(entry));
  if (token === undefined || linked.has(token)) return false;
  linked.set(token, entry.id);
  return true;
}

/**
 * The device acked a forwarded entry: its sender hears 'acked'. Returns the
 * id of its stored copy when one was linked to it (to be deleted as acked).
 */
export function forwardAcked(state: SessionState, entry: InboxEntry): InboxEntryId | undefined {
  const { awaiting, byMessage, linked } = state.fwd;
  const token = entry.id;
  const from = awaiting.get(token);
  if (from !== undefined) {
    awaiting.delete(token);
    reply(from, 'acked');
  }
  const key = messageKey(entry);
  if (byMessage.get(key) === token) byMessage.delete(key);
  const stored = linked.get(token);
  if (stored !== undefined) linked.delete(token);
  return stored;
}

/**
 * The connection is replaced or the session stops: forwards not acked are
 * refused (their senders store them; the next connection reads them), and
 * tokens pushed on the old connection no longer count as pushed.
 */
export function refuseAwaiting(state: SessionState): void {
  const { awaiting, byMessage, linked, lastFrom } = state.fwd;
  for (const from of awaiting.values()) reply(from, 'refused');
  awaiting.clear();
  byMessage.clear();
  // Linked stored copies were never pushed: the next connection reads them (resetMultiWriter forgets them).
  linked.clear();
  lastFrom.clear();
}
