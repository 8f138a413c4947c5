/**
 * Forwarding: a cluster's "store or forward" for first transmissions
 * (several writers, the Cassandra inbox; `ChatSettings.forwardMs` > 0).
 *
 * A send whose every recipient device has a session somewhere in the cluster
 * is first handed to those sessions (a `forward` cast, across NATS when they
 * run on another node) instead of being stored. Each pushes it to its device
 * under a forward token instead of an inbox id and answers 'acked' (a
 * `forwarded` cast, the acks of one ack frame in one) when the device acks it.
 * Both go by `castSoon`: what one node sends another in one event-loop turn
 * shares one NATS message (at 5,000 msg/s a message per forward cost
 * nats-server 0.4 of a core on a slower 2-core bench box; batched, 0.1).
 * When every copy is acked, `sent` goes and the message is
 * never written: the recipient devices have it (ARCHITECTURE §4, "acknowledged
 * by the recipient device"). Any copy not acked within `forwardMs` (refused,
 * no answer in time: node gone, NATS away; session taken over; one node-wide
 * sweep marks overdue forwards instead of a timer each) is then stored like any send, and
 * `sent` waits for that. If the device got the forward and has not acked it
 * yet, the recipient session links the stored copy to it (acked with it, not
 * pushed twice); otherwise the SDK drops the repeat.
 *
 * Why each rule:
 * - Per-sender order at the device. Every message of a session to a device
 *   has a `SendLink` in send order. A recipient session pushes a forward, or
 *   a stored entry announced by a notify, directly only when its predecessor
 *   (`prev`: its token or stored id; `prevAlt`: its token when it was
 *   forwarded and then stored) was pushed on its current connection; else a
 *   notify starts a read and a forward is held (below) or refused. By
 *   induction every message pushed directly has every earlier one pushed
 *   before it. Reads push stored entries in id order, and one session's
 *   stores follow its send order (next rule), so a read never pushes a
 *   message before an earlier one that is stored or will be. (A message acked
 *   as a forward is never stored: the device has it.) Receipts chain their own
 *   `prev` (`lastReceiptTo`): they carry no order with messages.
 * - Per-sender order in the store. A send's fallback write, and every send of
 *   this session stored directly while forwards are out, go to the store in
 *   send order: `queue` releases them only from its head, once the head's
 *   outcomes are in. The next send does not wait for a forward's ack
 *   (forwards are pipelined); only the fallback writes wait behind one
 *   another, at most `forwardMs` each.
 * - Recovery. Once a forward was not acked, the ones after it are refused
 *   (their `prev` was not pushed), so the session stops forwarding
 *   (`storeMode`) and stores its sends in order until nothing is out; the
 *   next forward then chains to a stored id.
 * - Holding. A forward whose `prev` is a stored entry the recipient session is
 *   still reading, or a forward it holds, waits (at most `MAX_HELD`, until the
 *   caller's wait ends) instead of being refused: the first forward after a
 *   stored message is common (a session's first send to a device is stored:
 *   there is nothing to chain it to).
 * - A retransmission (`resend`) is never forwarded: it may be a duplicate and
 *   goes through the store's dedup lookup.
 *
 * What it gives up, as the embedded store's deferred appends do: a crash of
 * the sending node between the device's ack and `sent` means no `sent`; the
 * client retransmits, the store has no record of it, it is stored and
 * delivered again, and the SDK drops the repeat.
 */
import { randomBytes } from 'node:crypto';
import { castSoon } from '../supervisors/index.ts';
import type { DeviceAddress, InboxBatch, InboxEntry, InboxEntryId } from '../store/types.ts';
import { sessionName } from './chat-services.ts';
import type { ForwardOutcome, ForwardState, HeldForward, PendingSend, SendLink, SessionRef, SessionState } from './session-state.ts';
import { entryOf, inOrder } from './session-state.ts';

/** Tokens of this process: a random prefix and a counter (unique across processes and restarts); never an inbox id (those are hex). */
const TOKEN_PREFIX = `f.${randomBytes(9).toString('base64url')}.`;
let tokenCounter = 0;

/** Whether an id in the delivery window is a forward token (not an inbox id). */
export function isForwardToken(id: string): boolean {
  return id.charCodeAt(0) === 0x66; // 'f'; inbox ids are hex digits
}

export function newForwardState(): ForwardState {
  return { queue: [], out: new Map(), awaiting: new Map(), byMessage: new Map(), linked: new Map(), lastFrom: new Map(), idle: [], storeMode: false, held: [] };
}

/** `user:device`, the key of `lastSentTo` and `lastFrom`. */
export function deviceKey(d: DeviceAddress): string {
  return `${d.userId}:${d.deviceId}`;
}

/**
 * Devices remembered per session in `lastSentTo`, `lastReceiptTo` and
 * `lastFrom` (the oldest is forgotten: its next send has no `prev`, so it is
 * stored, or its next forward is refused and stored).
 */
const DEVICES_REMEMBERED = 1024;

/** `map.set(key, value)`, forgetting the oldest key first when a new one would pass DEVICES_REMEMBERED. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= DEVICES_REMEMBERED && !map.has(key)) map.delete(map.keys().next().value!);
  map.set(key, value);
}

// ---------------------------------------------------------------------------
// counters

/**
 * What forwarding came to in this process (one node per process, as `parley
 * start` runs it) since it started: the copies its
 * sessions forwarded and their outcomes (`lost`: no answer within the wait;
 * `lateAnswers`: answers that came after that), and what its sessions did with
 * the forwards they got (`refusedHere` includes held ones refused later and
 * those refused at a takeover). A node logs them when it stops
 * (`session.forward_stats`); the cluster-chat bench reports them.
 */
export interface ForwardStats {
  forwarded: number;
  acked: number;
  refused: number;
  lost: number;
  lateAnswers: number;
  received: number;
  pushed: number;
  held: number;
  refusedHere: number;
}

const stats: ForwardStats = { forwarded: 0, acked: 0, refused: 0, lost: 0, lateAnswers: 0, received: 0, pushed: 0, held: 0, refusedHere: 0 };

/** A copy of this node's forwarding counters. */
export function forwardStats(): ForwardStats {
  return { ...stats };
}

// ---------------------------------------------------------------------------
// sender side

/**
 * The link of one message (or receipt, by `kind`) to `recipient`, in send
 * order after the last message (receipt) this session sent that device
 * (several writers; see the header).
 */
export function linkTo(state: SessionState, kind: InboxEntry['kind'], recipient: DeviceAddress): SendLink {
  const last = kind === 'receipt' ? state.lastReceiptTo : state.lastSentTo;
  const key = deviceKey(recipient);
  const link: SendLink = { pred: last.get(key), token: undefined, id: undefined };
  remember(last, key, link);
  return link;
}

/** `prev` and `prevAlt` of a link: the names of its predecessor (none: it has none, or it is not forwarded or stored yet). */
export function prevOf(link: SendLink): { prev: string; prevAlt: string | undefined } | undefined {
  const p = link.pred;
  if (p === undefined) return undefined;
  if (p.id !== undefined) return { prev: p.id, prevAlt: p.token };
  if (p.token !== undefined) return { prev: p.token, prevAlt: undefined };
  return undefined;
}

/**
 * A message or receipt of a clustered session: forwarded when every copy's
 * device has a session in the cluster and `forwardMs` > 0 (never a
 * retransmission, which may be a duplicate), else stored by `store`; either
 * way after this session's earlier sends to the same devices. `onAcked` runs
 * when every copy is acked; `store` writes what must be stored, with its
 * copies' links.
 */
export function forwardOrStore(
  state: SessionState, self: SessionRef, batch: InboxBatch, resend: boolean,
  onAcked: () => void, store: (batch: InboxBatch, links: readonly SendLink[]) => void | Promise<void>,
): void {
  const links = batch.copies.map((c) => linkTo(state, batch.kind, c.recipient));
  const forwardMs = state.services.settings.forwardMs;
  const targets = forwardMs > 0 && !resend ? forwardTargets(state, batch, links) : undefined;
  if (targets !== undefined) forwardSend(state, self, batch, links, targets, forwardMs, onAcked, store);
  // Stored in send order, after the fallback writes of forwards still out (at once when none is). Always
  // through the queue: this step may run after an earlier send's fallback was decided but before it is
  // written, and only the queue's order is send order.
  else appendBehindForwards(state, () => store(batch, links));
}

/**
 * Where each copy would be forwarded, or undefined when the message must be
 * stored: after a forward that was not acked (`storeMode`), or when a device
 * has no session, or its predecessor is neither forwarded nor stored yet.
 */
function forwardTargets(state: SessionState, batch: InboxBatch, links: readonly SendLink[]): SessionRef[] | undefined {
  if (state.fwd.storeMode) return undefined;
  const registry = state.services.system.registry;
  const targets: SessionRef[] = [];
  for (let i = 0; i < batch.copies.length; i++) {
    if (prevOf(links[i]!) === undefined) return undefined;
    const target = registry.whereis(sessionName(batch.copies[i]!.recipient)) as SessionRef | undefined;
    if (target === undefined) return undefined;
    targets.push(target);
  }
  return targets;
}

/**
 * Forwards every copy of `batch` (a cast to each device's session, which
 * answers with `forwarded`; an answer that has not come within `timeoutMs`
 * counts as lost). `onAcked` runs as soon as every copy is acked; otherwise
 * `fallback` runs with the copies not acked and their links, in send order
 * after every earlier send's fallback (see the header), on the write chain.
 */
function forwardSend(
  state: SessionState, self: SessionRef, batch: InboxBatch, links: readonly SendLink[], targets: readonly SessionRef[], timeoutMs: number,
  onAcked: () => void, fallback: (rest: InboxBatch, links: readonly SendLink[]) => void | Promise<void>,
): void {
  const n = batch.copies.length;
  const outcomes = new Array<ForwardOutcome | 'lost' | undefined>(n).fill(undefined);
  const pending: PendingSend = {
    outcomes,
    remaining: n,
    resolve: (i, outcome) => {
      if (outcomes[i] !== undefined) return;
      outcomes[i] = outcome;
      // Acked: never stored, the device has it. Otherwise the forwards after it are refused: store until none is out.
      if (outcome === 'acked') links[i]!.pred = undefined;
      else state.fwd.storeMode = true;
      if (--pending.remaining > 0) return;
      if (outcomes.every((o) => o === 'acked')) onAcked();
      drain(state);
    },
    settle: (acked) => {
      if (acked.every(Boolean)) return;
      const copies = batch.copies.filter((_, i) => !acked[i]);
      return fallback(copies.length === n ? batch : { ...batch, copies }, links.filter((_, i) => !acked[i]));
    },
  };
  state.fwd.queue.push(pending);
  stats.forwarded += n;
  const deadline = state.services.now() + timeoutMs;
  for (let i = 0; i < n; i++) {
    const link = links[i]!;
    const { prev, prevAlt } = prevOf(link)!;
    const token = TOKEN_PREFIX + (tokenCounter++).toString(36);
    link.token = token;
    state.fwd.out.set(token, { pending, copy: i });
    expireAt(deadline, state, token);
    const entry = entryOf(batch, i, token);
    castSoon(targets[i]!, prevAlt === undefined ? { t: 'forward', entry, prev, replyTo: self, deadline } : { t: 'forward', entry, prev, prevAlt, replyTo: self, deadline });
  }
}

/** Outcomes of this session's forwards came back (`forwarded`). */
export function onForwarded(state: SessionState, tokens: readonly string[], outcome: ForwardOutcome): void {
  const out = state.fwd.out;
  for (const token of tokens) {
    const o = out.get(token);
    if (o === undefined) {
      stats.lateAnswers++; // already counted as lost
      continue;
    }
    out.delete(token);
    if (outcome === 'acked') stats.acked++;
    else stats.refused++;
    o.pending.resolve(o.copy, outcome);
  }
}

// Deadlines of the forwards out on this node, in order (every session of a node waits as long): one
// sweep every SWEEP_MS marks the overdue ones lost, instead of a timer per forward.
const SWEEP_MS = 20;
const deadlines: Array<{ readonly at: number; readonly state: SessionState; readonly token: string }> = [];
let deadlineHead = 0;
let sweeper: NodeJS.Timeout | undefined;

function expireAt(at: number, state: SessionState, token: string): void {
  deadlines.push({ at, state, token });
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, SWEEP_MS);
    sweeper.unref();
  }
}

function sweep(): void {
  const now = Date.now();
  while (deadlineHead < deadlines.length && deadlines[deadlineHead]!.at <= now) {
    const { state, token } = deadlines[deadlineHead]!;
    deadlines[deadlineHead++] = undefined as never;
    const o = state.fwd.out.get(token);
    if (o === undefined) continue;
    state.fwd.out.delete(token);
    stats.lost++;
    o.pending.resolve(o.copy, 'lost');
  }
  if (deadlineHead === deadlines.length) {
    deadlines.length = 0;
    deadlineHead = 0;
    clearInterval(sweeper);
    sweeper = undefined;
  } else if (deadlineHead > 4096 && deadlineHead * 2 > deadlines.length) {
    deadlines.splice(0, deadlineHead);
    deadlineHead = 0;
  }
}

/** A send stored directly while forwards are out: `write` runs after their fallbacks, in send order. */
function appendBehindForwards(state: SessionState, write: () => void | Promise<void>): void {
  state.fwd.queue.push({ outcomes: [], remaining: 0, resolve: () => {}, settle: () => write() });
  drain(state);
}

/** Releases the head of the queue while its outcomes are in; with nothing out, forwarding may resume. */
function drain(state: SessionState): void {
  const fwd = state.fwd;
  const q = fwd.queue;
  while (q.length > 0 && q[0]!.remaining === 0) {
    const head = q.shift()!;
    const acked = head.outcomes.map((o) => o === 'acked');
    inOrder(state, () => head.settle(acked));
  }
  if (q.length > 0) return;
  // Forwarding resumes once the sends released here are stored (the next one chains to a stored id).
  if (fwd.storeMode) inOrder(state, () => { if (fwd.queue.length === 0) fwd.storeMode = false; });
  if (fwd.idle.length > 0) for (const done of fwd.idle.splice(0)) done();
}

/** Settles once every send handed over so far is acked or written (the write chain included). */
export function forwardsSettled(state: SessionState): Promise<void> {
  const empty = state.fwd.queue.length === 0 ? Promise.resolve() : new Promise<void>((resolve) => state.fwd.idle.push(resolve));
  return empty.then(() => state.sendChain);
}

// ---------------------------------------------------------------------------
// recipient side

/** Whether `prev` (a predecessor's forward token or stored id) was pushed on this connection, or read. */
export function prevPushed(state: SessionState, sender: DeviceAddress, kind: InboxEntry['kind'], prev: string): boolean {
  if (isForwardToken(prev)) return state.fwd.lastFrom.get(fromKey(sender, kind)) === prev;
  const mw = state.mw;
  if (mw === undefined) return false;
  return mw.recent.has(prev) || prev <= mw.lowWater || prev <= mw.cursor;
}

/** `prevPushed` for either name of the predecessor. */
export function eitherPushed(state: SessionState, sender: DeviceAddress, kind: InboxEntry['kind'], prev: string, prevAlt: string | undefined): boolean {
  return prevPushed(state, sender, kind, prev) || (prevAlt !== undefined && prevPushed(state, sender, kind, prevAlt));
}

/** `lastFrom`'s key: messages and receipts of one sending device are two chains. */
function fromKey(sender: DeviceAddress, kind: InboxEntry['kind']): string {
  return kind === 'receipt' ? `${deviceKey(sender)}#r` : deviceKey(sender);
}

/** Most forwards held per session; past it they are refused. */
const MAX_HELD = 256;

/** What to do with a forward now: push it, hold it (its predecessor may be pushed soon), or refuse it. */
function verdict(state: SessionState, h: HeldForward): 'push' | 'hold' | 'refuse' {
  if (state.mw === undefined) return 'refuse';
  const { entry, prev, prevAlt } = h;
  // Past the sender's wait it is stored anyway: pushed then, it could arrive after later messages.
  if (state.services.now() >= h.deadline) return 'refuse';
  if (eitherPushed(state, entry.sender, entry.kind, prev, prevAlt)) return state.window.hasRoom ? 'push' : 'hold';
  // An earlier forward of the same sender is held, or the predecessor is a stored entry still to be read.
  if (isForwardToken(prev)) return state.fwd.held.some((o) => o.entry.id === prev) ? 'hold' : 'refuse';
  return state.reading || state.moreAvailable ? 'hold' : 'refuse';
}

/**
 * A forward arrived: 'push' when its predecessor was pushed and the window
 * has room (the caller pushes it; its answer waits for the device's ack),
 * 'held' when its predecessor may be pushed soon (`retryHeld` decides later),
 * else refused at once.
 */
export function admitForward(state: SessionState, entry: InboxEntry, prev: string, prevAlt: string | undefined, replyTo: SessionRef, deadline: number): 'push' | 'held' | 'refused' {
  const h: HeldForward = { entry, prev, prevAlt, replyTo, deadline };
  stats.received++;
  switch (verdict(state, h)) {
    case 'push':
      admitted(state, h);
      return 'push';
    case 'hold':
      if (state.fwd.held.length < MAX_HELD) {
        stats.held++;
        state.fwd.held.push(h);
        return 'held';
      }
      break;
    case 'refuse':
      break;
  }
  stats.refusedHere++;
  castSoon(replyTo, { t: 'forwarded', tokens: [entry.id], outcome: 'refused' });
  return 'refused';
}

/**
 * After reads, pushes and acks: held forwards that may go now, in arrival
 * order (the caller pushes them); those that cannot be pushed any more are
 * refused.
 */
export function retryHeld(state: SessionState): InboxEntry[] {
  const held = state.fwd.held;
  const out: InboxEntry[] = [];
  for (let changed = true; changed && held.length > 0;) {
    changed = false;
    for (let i = 0; i < held.length; i++) {
      const h = held[i]!;
      const v = verdict(state, h);
      if (v === 'hold') continue;
      held.splice(i--, 1);
      changed = true;
      if (v === 'refuse') {
        stats.refusedHere++;
        castSoon(h.replyTo, { t: 'forwarded', tokens: [h.entry.id], outcome: 'refused' });
        continue;
      }
      admitted(state, h);
      out.push(h.entry);
    }
  }
  return out;
}

/** Records a forward about to be pushed (the caller pushes it). */
function admitted(state: SessionState, h: HeldForward): void {
  const { entry } = h;
  const { lastFrom } = state.fwd;
  stats.pushed++;
  remember(lastFrom, fromKey(entry.sender, entry.kind), entry.id);
  state.fwd.awaiting.set(entry.id, h.replyTo);
  if (entry.kind === 'message') state.fwd.byMessage.set(messageKey(entry), entry.id);
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

/** Answers to the senders of forwards, grouped by sending session (one `forwarded` each). */
export class ForwardReplies {
  private readonly by = new Map<string, { readonly to: SessionRef; readonly tokens: string[] }>();

  add(to: SessionRef, token: string): void {
    const key = `${to.node}/${to.id}`;
    const r = this.by.get(key);
    if (r === undefined) this.by.set(key, { to, tokens: [token] });
    else r.tokens.push(token);
  }

  send(outcome: ForwardOutcome): void {
    for (const { to, tokens } of this.by.values()) castSoon(to, { t: 'forwarded', tokens, outcome });
  }
}

/**
 * The device acked a forwarded entry: its sender is told (through
 * `replies`). Returns the id of its stored copy when one was linked to it
 * (to be deleted as acked).
 */
export function forwardAcked(state: SessionState, entry: InboxEntry, replies: ForwardReplies): InboxEntryId | undefined {
  const { awaiting, byMessage, linked } = state.fwd;
  const token = entry.id;
  const to = awaiting.get(token);
  if (to !== undefined) {
    awaiting.delete(token);
    replies.add(to, token);
  }
  const key = messageKey(entry);
  if (byMessage.get(key) === token) byMessage.delete(key);
  const stored = linked.get(token);
  if (stored !== undefined) linked.delete(token);
  return stored;
}

/**
 * The connection is replaced or the session stops: forwards held or not
 * acked are refused (their senders store them; the next connection reads them), and
 * tokens pushed on the old connection no longer count as pushed.
 */
export function refuseAwaiting(state: SessionState): void {
  const { awaiting, byMessage, linked, lastFrom, held } = state.fwd;
  const replies = new ForwardReplies();
  for (const [token, to] of awaiting) replies.add(to, token);
  for (const h of held) replies.add(h.replyTo, h.entry.id);
  stats.refusedHere += awaiting.size + held.length;
  replies.send('refused');
  awaiting.clear();
  held.length = 0;
  byMessage.clear();
  // Linked stored copies were never pushed: the next connection reads them (resetMultiWriter forgets them).
  linked.clear();
  lastFrom.clear();
}
