/**
 * Appends parked on the event loop before they go to the writer thread, so
 * that a message its device acknowledges quickly is never written at all
 * (ARCHITECTURE §6 "store or forward"; the seed design: online recipients get
 * messages pushed directly, only offline ones are queued in the inbox).
 *
 * An append the caller flags `defer` (every recipient device is online on
 * this node and is being pushed the entry) waits here for up to `deferMs`:
 * - `received(device, upTo)`: the device acknowledged its copies ≤ upTo. Once
 *   every copy of a batch is acknowledged, its `stored` promise resolves, as a
 *   commit would: ARCHITECTURE §4 accepts "acknowledged by the recipient
 *   device" in place of "durably in the inbox". The write stays parked
 *   (for at most `holdMs`, then it is written after all: the deletes that
 *   should follow never came, e.g. a receipt could not be stored).
 * - `drop(device, upTo)` (the inbox delete, which the session issues only
 *   after the "delivered" receipts for those copies were stored or acked in
 *   turn): the copies are removed; a batch with no copy left is never written.
 *   Its de-duplication key is remembered in memory (`DEFAULT_ELIDED_KEYS`
 *   most recent), so a retransmission is still answered as a duplicate.
 * - Its deadline passes, or anything needs the store to be complete (a read
 *   waits for `allSettled`, an append that is not deferred, closing): the
 *   parked batches go to the writer in id order with the copies still wanted
 *   (a batch already sent there still settles on its devices' acks).
 *
 * Order: parked batches leave in the order their ids were assigned, and an
 * append that is not deferred first sends every parked one ahead of it, so
 * the writer still commits each device's entries in id order. Copies dropped
 * before they were written leave gaps in the ids, as failed appends do.
 *
 * What a crash loses that a commit would have kept: nothing a device has not
 * acknowledged (unacknowledged copies are written by the deadline, and their
 * `sent` waits for that commit). A message acknowledged by its device but not
 * yet dropped is not in the inbox after a crash, so the "delivered" receipt
 * that the session would have made from it may be lost if it was itself still
 * parked (the window between the recipient's ack and the sender's ack of the
 * receipt: the session's receipt coalescing delay plus at most `deferMs`).
 * Its de-duplication key is lost too (and forgotten anyway after
 * `DEFAULT_ELIDED_KEYS` more): a sender
 * that never got `sent` retransmits, and the device drops the repeat as it
 * does after any crash (protocol/README.md).
 */
import type { AppendResult, DeviceAddress, InboxBatch, InboxEntryId } from '../types.ts';
import { encodeInboxId } from './inbox-id.ts';
import { dedupKeyOf } from '../dedup-result.ts';

/**
 * Most de-duplication keys of never-written batches kept in memory. A
 * retransmission of an older one is stored and delivered again, and the
 * device drops the repeat (protocol/README.md). 100,000 cost the event loop
 * GC pauses that multiplied the p99 at 5,000 msg/s (BENCHMARKS.md); writing
 * the keys to the database instead cost a third of a core at that rate.
 */
export const DEFAULT_ELIDED_KEYS = 10_000;
/** Devices with (possibly empty) slot lists kept before empty ones are swept. */
const MAX_IDLE_DEVICES = 10_000;
/** See DeferredAppends `holdMs`. */
export const DEFAULT_HOLD_MS = 5_000;
/** Most batches parked at once; past it the oldest go to the writer early. */
export const MAX_PARKED = 50_000;

/** An append as the writer takes it: copy i gets id `firstId + i`; copies in `skip` are not written (still in the result). */
export interface ParkedWrite {
  readonly op: 'append';
  readonly batch: InboxBatch;
  readonly firstId: number;
  readonly skip?: readonly number[];
}

interface Parked {
  readonly batch: InboxBatch;
  readonly firstId: number;
  readonly ids: readonly InboxEntryId[] | undefined;
  /** Written at this time unless every copy was acknowledged by then. */
  readonly deadline: number;
  /** Once every copy is acknowledged: written at this time unless dropped by then (see `holdMs`). */
  holdDeadline: number;
  /** Copies whose device has not acknowledged them yet. */
  unreceived: number;
  /** Copies not dropped (written if the batch is flushed). */
  live: number;
  /** Indexes of the copies dropped before the batch was written (allocated at the first). */
  dropped: number[] | undefined;
  /** parked → flushed (went to the writer) or elided (no copy left, never written). */
  phase: 'parked' | 'flushed' | 'elided';
  /** The caller's promise has settled (received, or the write's outcome). */
  settled: boolean;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (err: unknown) => void;
  /** The caller's `stored` (a retransmission of this batch answers as its duplicate). */
  promise: Promise<AppendResult>;
}

/** A copy of a parked batch, queued per recipient device in id order. */
interface Slot {
  readonly p: Parked;
  readonly i: number;
  readonly id: number;
}

interface DeviceSlots {
  /** In id order; those before `cleared` are let go of (undefined) until the front is cut off. */
  readonly slots: (Slot | undefined)[];
  /** First slot not yet dropped (the slots before it are no longer parked). */
  head: number;
  /** First slot not yet received (the slots before it are received or their batch settled). */
  recv: number;
  /** Slots before it are cleared (nothing needs them: before both `head` and `recv`). */
  cleared: number;
}

/** Where flushed batches go (the store's write queue); returns the commit's promise. */
export type FlushTo = (write: ParkedWrite) => Promise<AppendResult>;

/**
 * The most recent batches never written, as a ring in parallel arrays: enough
 * to answer a retransmission. The next one replaces the slot under `pos`.
 * Only a retransmission looks here (a scan: they are rare), so the common
 * path keeps no index by key. (Not a Map used as a FIFO either: after many
 * deletes V8 walks every deleted slot at the front of a Map to find its first
 * key.) Kept lean on purpose: every slot lives for thousands of messages
 * (~2 s at 5,000/s), so any object it holds is promoted out of the young
 * generation. It keeps references to what already lives long (the sender's
 * and recipients' address objects, shared with the device directory), the
 * key's UTF-8 bytes in a fixed slot of one buffer (a key string per
 * message was ~36 KB of the ~126 KB each young-generation GC promoted at
 * 5,000/s; BENCHMARKS.md), and two numbers in `Float64Array`s. A key
 * longer than a slot is kept as a string (none is, with the protocol's
 * limits).
 */
class ElidedRing {
  /** Bytes of a key slot. */
  static readonly KEY_SLOT = 96;
  /** The keys' UTF-8 bytes, `KEY_SLOT` per slot. */
  private readonly keyBytes: Buffer;
  /** Byte length of each slot's key, or -1: the key is in `longKeys`. */
  private readonly keyLengths: Int32Array;
  private readonly longKeys: (string | undefined)[];
  private readonly senders: (DeviceAddress | undefined)[];
  /** The recipient, or the recipients when there are several (copy order). */
  private readonly recipients: (DeviceAddress | readonly DeviceAddress[] | undefined)[];
  private readonly times: Float64Array;
  private readonly firstIds: Float64Array;
  private pos = 0;

  constructor(private readonly capacity: number) {
    this.keyBytes = Buffer.alloc(capacity * ElidedRing.KEY_SLOT);
    this.keyLengths = new Int32Array(capacity);
    this.longKeys = new Array<string | undefined>(capacity).fill(undefined);
    this.senders = new Array<DeviceAddress | undefined>(capacity).fill(undefined);
    this.recipients = new Array<DeviceAddress | readonly DeviceAddress[] | undefined>(capacity).fill(undefined);
    this.times = new Float64Array(capacity);
    this.firstIds = new Float64Array(capacity);
  }

  add(batch: InboxBatch, firstId: number): void {
    if (this.capacity === 0) return;
    const i = this.pos;
    this.pos = (i + 1) % this.capacity;
    const { copies } = batch;
    const key = dedupKeyOf(batch);
    const n = Buffer.byteLength(key, 'utf8');
    if (n <= ElidedRing.KEY_SLOT) {
      this.keyBytes.write(key, i * ElidedRing.KEY_SLOT, n, 'utf8');
      this.keyLengths[i] = n;
      this.longKeys[i] = undefined;
    } else {
      this.keyLengths[i] = -1;
      this.longKeys[i] = key;
    }
    this.senders[i] = batch.sender;
    this.recipients[i] = copies.length === 1 ? copies[0]!.recipient : copies.map((c) => c.recipient);
    this.times[i] = batch.serverTimestamp;
    this.firstIds[i] = firstId;
  }

  /** The original result of the batch with `batch`'s key, as a duplicate, if it is here. */
  find(batch: InboxBatch): AppendResult | undefined {
    const key = dedupKeyOf(batch);
    const bytes = Buffer.from(key, 'utf8');
    const n = bytes.length <= ElidedRing.KEY_SLOT ? bytes.length : -1;
    const { sender } = batch;
    for (let i = 0; i < this.capacity; i++) {
      const s = this.senders[i];
      if (s === undefined || this.keyLengths[i] !== n || !sameDevice(s, sender)) continue;
      if (n === -1 ? this.longKeys[i] !== key : !bytes.equals(this.keyBytes.subarray(i * ElidedRing.KEY_SLOT, i * ElidedRing.KEY_SLOT + n))) continue;
      const r = this.recipients[i]!;
      const firstId = this.firstIds[i]!;
      const copies = (Array.isArray(r) ? r : [r] as readonly DeviceAddress[]).map((a, j) => ({ recipient: { userId: a.userId, deviceId: a.deviceId }, id: encodeInboxId(firstId + j) }));
      return { duplicate: true, serverTimestamp: this.times[i]!, copies };
    }
    return undefined;
  }
}

/** A map by device (user id, then device id), nested so that a lookup builds no key string. */
export class DeviceMap<V> {
  private readonly users = new Map<string, Map<number, V>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(userId: string, deviceId: number): V | undefined {
    return this.users.get(userId)?.get(deviceId);
  }

  set(userId: string, deviceId: number, v: V): void {
    let devices = this.users.get(userId);
    if (devices === undefined) this.users.set(userId, (devices = new Map()));
    if (!devices.has(deviceId)) this.count++;
    devices.set(deviceId, v);
  }

  delete(userId: string, deviceId: number): void {
    const devices = this.users.get(userId);
    if (devices === undefined || !devices.delete(deviceId)) return;
    this.count--;
    if (devices.size === 0) this.users.delete(userId);
  }

  clear(): void {
    this.users.clear();
    this.count = 0;
  }

  *values(): IterableIterator<V> {
    for (const devices of this.users.values()) yield* devices.values();
  }

  /** Deletes every entry for which `test` holds. */
  deleteWhere(test: (v: V) => boolean): void {
    for (const [userId, devices] of this.users) {
      for (const [deviceId, v] of devices) if (test(v)) this.delete(userId, deviceId);
    }
  }
}

const sameDevice = (a: DeviceAddress, b: DeviceAddress): boolean => a.deviceId === b.deviceId && a.userId === b.userId;
const sameKey = (a: InboxBatch, b: InboxBatch): boolean => dedupKeyOf(a) === dedupKeyOf(b) && sameDevice(a.sender, b.sender);

export class DeferredAppends {
  /** Every parked batch, in id order (flushAll). */
  private readonly fifo = new Fifo<Parked>();
  /** Parked batches by `deadline` (park order); stale ones (received, flushed, elided) are skipped. */
  private readonly waiting = new Fifo<Parked>();
  /** Acknowledged batches by `holdDeadline`; stale ones (flushed, elided) are skipped. */
  private readonly held = new Fifo<Parked>();
  private readonly byDevice = new DeviceMap<DeviceSlots>();
  /** Never-written batches a retransmission is still recognised against. */
  private readonly elided: ElidedRing;
  private parkedCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;

  /**
   * @param deferMs how long a deferred append waits for its devices' acks before it is written
   * @param flushTo hands a batch to the writer
   * @param holdMs how long a batch whose every copy was acknowledged waits for
   *   the deletes (`drop`) before it is written after all (they come once its
   *   receipts are safe; if they never come, e.g. a receipt could not be stored,
   *   the entries must stay in the inbox and come again)
   * @param elidedKeys how many never-written batches a retransmission is still recognised against
   * @param now monotonic clock (ms)
   */
  constructor(
    readonly deferMs: number,
    private readonly flushTo: FlushTo,
    private readonly holdMs = DEFAULT_HOLD_MS,
    elidedKeys = DEFAULT_ELIDED_KEYS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.elided = new ElidedRing(elidedKeys);
  }

  /** Batches parked and not yet flushed or elided. */
  get size(): number {
    return this.parkedCount;
  }

  /** What the bookkeeping holds (tests: nothing is left once every batch left); `devices`: those with slots. */
  stats(): { parked: number; devices: number; queued: number; waiting: number; held: number } {
    this.compact();
    let devices = 0;
    for (const d of this.byDevice.values()) if (d.slots.length > 0) devices++;
    return {
      parked: this.parkedCount, devices, queued: this.fifo.size, waiting: this.waiting.size, held: this.held.size,
    };
  }

  /**
   * For a retransmission (`resend`): the original result of a batch with its
   * key that is parked or was never written (among the last `elidedKeys`), as
   * a duplicate; undefined otherwise (the writer looks further). A first
   * transmission is not looked up, as the writer does not look it up either
   * (InboxBatch.resend).
   */
  duplicateOf(batch: InboxBatch): Promise<AppendResult> | undefined {
    if (batch.resend !== true) return undefined;
    for (let i = 0; i < this.fifo.size; i++) {
      const p = this.fifo.at(i)!;
      if (p.phase === 'parked' && sameKey(p.batch, batch)) return p.promise.then(asDuplicate);
    }
    const e = this.elided.find(batch);
    return e === undefined ? undefined : Promise.resolve(e);
  }

  /**
   * Parks a checked batch whose ids start at `firstId` (`ids`: those ids
   * encoded, when the caller has them); resolves when every copy is
   * acknowledged or committed.
   */
  park(batch: InboxBatch, firstId: number, ids?: readonly InboxEntryId[]): Promise<AppendResult> {
    let resolve!: (r: AppendResult) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<AppendResult>((res, rej) => { resolve = res; reject = rej; });
    const n = batch.copies.length;
    const p: Parked = {
      batch, firstId, ids, deadline: this.now() + this.deferMs, holdDeadline: Infinity, unreceived: n, live: n,
      dropped: undefined, phase: 'parked', settled: false, resolve, reject, promise,
    };
    this.fifo.push(p);
    this.waiting.push(p);
    this.parkedCount++;
    for (let i = 0; i < n; i++) {
      const { userId, deviceId } = batch.copies[i]!.recipient;
      let d = this.byDevice.get(userId, deviceId);
      if (d === undefined) this.byDevice.set(userId, deviceId, (d = { slots: [], head: 0, recv: 0, cleared: 0 }));
      d.slots.push({ p, i, id: firstId + i });
    }
    if (this.parkedCount > MAX_PARKED) this.flushWhile(() => this.parkedCount > MAX_PARKED);
    this.arm();
    return promise;
  }

  /** The device acknowledged its copies with ids ≤ upTo: batches with every copy acknowledged settle. */
  received(userId: string, deviceId: number, upTo: number): void {
    const d = this.byDevice.get(userId, deviceId);
    if (d === undefined) return;
    while (d.recv < d.slots.length && d.slots[d.recv]!.id <= upTo) {
      const { p } = d.slots[d.recv++]!;
      if (--p.unreceived > 0) continue;
      if (p.phase === 'parked') {
        p.holdDeadline = this.now() + this.holdMs;
        this.held.push(p);
        this.arm();
      }
      if (!p.settled) {
        p.settled = true;
        p.resolve(resultOf(p));
      }
    }
  }

  /**
   * The device's copies with ids ≤ upTo are deleted (an ack): parked ones are
   * never written. Also counts as `received`.
   */
  drop(userId: string, deviceId: number, upTo: number): void {
    const d = this.byDevice.get(userId, deviceId);
    if (d === undefined) return;
    this.received(userId, deviceId, upTo);
    while (d.head < d.slots.length && d.slots[d.head]!.id <= upTo) {
      const { p, i } = d.slots[d.head++]!;
      if (p.phase !== 'parked') continue; // written already: the store's range delete removes it
      if (--p.live === 0) this.elide(p);
      else (p.dropped ??= []).push(i);
    }
    this.trim(userId, deviceId, d);
    // Let go of what left at once: a batch kept reachable from a queue for a
    // deadline's length outlives young-generation collections and is promoted.
    this.compact();
  }

  /**
   * Forgets a device's leading slots nothing needs any more: `drop` needs a
   * slot while its batch is parked, `received` while its batch has not
   * settled (a batch that went to the writer still settles on the device's
   * ack, before its commit). The device itself goes once none is left.
   */
  private trim(userId: string, deviceId: number, d: DeviceSlots): void {
    while (d.head < d.slots.length && d.slots[d.head]!.p.phase !== 'parked') d.head++;
    while (d.recv < d.slots.length && d.slots[d.recv]!.p.settled) d.recv++;
    const done = Math.min(d.head, d.recv);
    // Let go of the batches at once (a slot kept until the next cut holds its batch for hundreds of ms at a device's pace).
    while (d.cleared < done) d.slots[d.cleared++] = undefined;
    if (done === d.slots.length) {
      // Emptied, not deleted: a device online here gets the next message soon
      // (deleting and re-creating its entries allocated on every message).
      // Empty entries are swept when there are many (flushDue).
      d.slots.length = 0;
      d.head = 0;
      d.recv = 0;
      d.cleared = 0;
    } else if (done > SHRINK_AT && done * 2 > d.slots.length) {
      d.slots.splice(0, done);
      d.head -= done;
      d.recv -= done;
      d.cleared = 0;
    }
  }

  private trimCopies(p: Parked): void {
    for (const c of p.batch.copies) {
      const { userId, deviceId } = c.recipient;
      const d = this.byDevice.get(userId, deviceId);
      if (d !== undefined) this.trim(userId, deviceId, d);
    }
  }

  /** Sends every parked batch to the writer now (in id order). */
  flushAll(): void {
    this.flushWhile(() => true);
  }

  /**
   * Sends to the writer every parked batch with a copy for this device, and
   * every batch parked before the last of them (id order stays commit order
   * for every device); others stay parked.
   */
  flushFor(userId: string, deviceId: number): void {
    const d = this.byDevice.get(userId, deviceId);
    if (d === undefined) return;
    let last: Parked | undefined;
    for (let i = d.slots.length - 1; i >= d.head && last === undefined; i--) {
      if (d.slots[i]!.p.phase === 'parked') last = d.slots[i]!.p;
    }
    if (last === undefined) return;
    const target = last;
    this.flushWhile(() => target.phase === 'parked');
  }

  /** Stops the deadline timer (the store is closing: flushAll first). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private elide(p: Parked): void {
    p.phase = 'elided';
    this.parkedCount--;
    this.elided.add(p.batch, p.firstId);
    if (!p.settled) {
      p.settled = true;
      p.resolve(resultOf(p));
    }
  }

  /** Flushes parked batches from the oldest while `more()` holds. */
  private flushWhile(more: () => boolean): void {
    while (this.fifo.size > 0 && more()) {
      const p = this.fifo.shift()!;
      if (p.phase === 'parked') this.flush(p);
    }
    this.compact();
  }

  /** Writes what is due: unacknowledged batches past `deadline` (in id order), acknowledged ones past `holdDeadline`. */
  private flushDue(): void {
    const now = this.now();
    for (;;) {
      const p = this.waiting.peek();
      if (p === undefined) break;
      if (p.phase === 'parked' && p.unreceived > 0) {
        if (p.deadline > now) break;
        this.flush(p);
      }
      this.waiting.shift();
    }
    for (;;) {
      const p = this.held.peek();
      if (p === undefined) break;
      if (p.phase === 'parked') {
        if (p.holdDeadline > now) break;
        this.flush(p);
      }
      this.held.shift();
    }
    this.compact();
    if (this.byDevice.size > MAX_IDLE_DEVICES) this.byDevice.deleteWhere((d) => d.slots.length === 0);
  }

  /** Drops the consumed fronts of the queues. */
  private compact(): void {
    this.fifo.dropWhile(notParked);
    this.waiting.dropWhile(notWaiting);
    this.held.dropWhile(notParked);
  }

  private flush(p: Parked): void {
    p.phase = 'flushed';
    this.parkedCount--;
    this.trimCopies(p);
    const skip = p.dropped;
    const committed = this.flushTo(skip === undefined ? { op: 'append', batch: p.batch, firstId: p.firstId } : { op: 'append', batch: p.batch, firstId: p.firstId, skip });
    committed.then(
      (r) => {
        if (p.settled) return;
        p.settled = true;
        p.resolve(r);
        this.trimCopies(p);
      },
      (err: unknown) => {
        // Settled already (its devices acknowledged it): they have it; only the write failed.
        if (p.settled) return;
        p.settled = true;
        p.reject(err);
        this.trimCopies(p);
      },
    );
  }

  /** Keeps one timer, for the earliest deadline of the queues' fronts (`held` may come due before `waiting` when holdMs < deferMs). */
  private arm(): void {
    const due = Math.min(this.waiting.peek()?.deadline ?? Infinity, this.held.peek()?.holdDeadline ?? Infinity);
    if (this.timer !== undefined) {
      if (due >= this.timerDue) return;
      clearTimeout(this.timer);
    }
    this.timer = undefined;
    if (due === Infinity) return;
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushDue();
      this.arm();
    }, Math.max(0, due - this.now()));
    this.timer.unref();
  }
}

/**
 * Consumed entries at the front of a queue are cut off once there are more
 * than this many and they are most of it (kept small: what sits there stays
 * reachable and would be promoted out of the young generation).
 */
const SHRINK_AT = 32;

const notParked = (p: Parked): boolean => p.phase !== 'parked';
/** Not waiting for its deadline any more: left, or every copy acknowledged (then `held` has it). */
const notWaiting = (p: Parked): boolean => p.phase !== 'parked' || p.unreceived === 0;

/**
 * A queue in a ring buffer that doubles when full. What leaves the front is
 * let go at once (kept reachable, it would outlive young-generation
 * collections and be promoted), and the buffer is never cut or truncated, so
 * a queue that fills and drains all the time allocates nothing (it keeps
 * the largest size it reached: at most MAX_PARKED entries).
 */
class Fifo<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(16).fill(undefined);
  private head = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The `i`th entry from the front. */
  at(i: number): T | undefined {
    return i < this.count ? this.items[(this.head + i) & (this.items.length - 1)] : undefined;
  }

  peek(): T | undefined {
    return this.count > 0 ? this.items[this.head] : undefined;
  }

  push(v: T): void {
    const capacity = this.items.length;
    if (this.count === capacity) {
      const grown = new Array<T | undefined>(capacity * 2).fill(undefined);
      for (let i = 0; i < capacity; i++) grown[i] = this.items[(this.head + i) & (capacity - 1)];
      this.items = grown;
      this.head = 0;
    }
    this.items[(this.head + this.count++) & (this.items.length - 1)] = v;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const v = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.count--;
    return v;
  }

  /** Removes entries from the front while `test` holds for them. */
  dropWhile(test: (v: T) => boolean): void {
    while (this.count > 0 && test(this.items[this.head]!)) this.shift();
  }
}

function resultOf(p: Parked): AppendResult {
  const { ids, firstId } = p;
  const copies = p.batch.copies.map((c, i) => ({ recipient: c.recipient, id: ids?.[i] ?? encodeInboxId(firstId + i) }));
  return { duplicate: false, serverTimestamp: p.batch.serverTimestamp, copies };
}

function asDuplicate(r: AppendResult): AppendResult {
  return { duplicate: true, serverTimestamp: r.serverTimestamp, copies: r.copies };
}
