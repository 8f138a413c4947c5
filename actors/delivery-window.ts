/**
 * The deliveries a Session has pushed to its device and not yet seen acked.
 *
 * Each pushed inbox entry gets a per-session `seq` (the wire's DeliverySeq);
 * the device acks seqs, in any order and in batches. The inbox store deletes
 * cumulatively (everything up to an id), so only the longest fully acked
 * prefix of pushed entries may be deleted: `ack` returns the id ending that
 * prefix when it grew, else undefined. Pure and synchronous: unit-tested
 * without actors.
 */
import type { InboxEntryId } from '../store/types.ts';

/** One pushed entry awaiting its ack. */
export interface PendingDelivery<T> {
  readonly id: InboxEntryId;
  readonly entry: T;
  acked: boolean;
}

/** Outcome of an ack batch. */
export interface AckOutcome<T> {
  /** Deliveries newly acked by this batch (for receipts), in seq order. */
  readonly newlyAcked: readonly T[];
  /** Id to pass to `InboxStore.ack`, when the acked prefix grew. */
  readonly ackUpTo: InboxEntryId | undefined;
  /** Seqs that were unknown (never pushed, already released, or from an older connection). */
  readonly unknown: number;
}

/** Pushed-but-unacked deliveries of one session, in push order. */
export class DeliveryWindow<T> {
  /** In push order; released ones are cleared at once (undefined) and cut off in bulk. */
  private readonly pending: (PendingDelivery<T> | undefined)[] = [];
  private head = 0;
  private nextSeq = 1;
  /** Seq of `pending[0]`: seqs are consecutive, so a seq's index is `seq - base` (no map to grow and shrink per delivery). */
  private base = 1;

  /** @param capacity most unacked deliveries at once (the device's window) */
  constructor(readonly capacity: number) {}

  /** Number of pushed, not yet released deliveries. */
  get size(): number {
    return this.pending.length - this.head;
  }

  /** Whether another delivery may be pushed now. */
  get hasRoom(): boolean {
    return this.size < this.capacity;
  }

  /** Records a push and returns its seq. */
  push(id: InboxEntryId, entry: T): number {
    const seq = this.nextSeq++;
    const d: PendingDelivery<T> = { id, entry, acked: false };
    this.pending.push(d);
    return seq;
  }

  /** Applies an ack batch. */
  ack(seqs: readonly number[]): AckOutcome<T> {
    const newlyAcked: T[] = [];
    let unknown = 0;
    for (const seq of seqs) {
      const i = seq - this.base;
      const d = Number.isInteger(i) && i >= this.head && i < this.pending.length ? this.pending[i] : undefined;
      if (d === undefined || d.acked) {
        unknown += d === undefined ? 1 : 0;
        continue;
      }
      d.acked = true;
      newlyAcked.push(d.entry);
    }
    let ackUpTo: InboxEntryId | undefined;
    while (this.head < this.pending.length && this.pending[this.head]!.acked) {
      const d = this.pending[this.head]!;
      // Let go of it now: kept reachable until the next cut (hundreds of ms at
      // a device's pace), entries outlive young-generation GCs and are promoted.
      this.pending[this.head++] = undefined;
      ackUpTo = d.id;
    }
    if (this.head > 32 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.base += this.head;
      this.head = 0;
    }
    return { newlyAcked, ackUpTo, unknown };
  }

  /** Forgets every pending delivery (the connection is gone; they will be read again from the inbox). */
  clear(): void {
    this.pending.length = 0;
    this.head = 0;
    this.base = this.nextSeq;
  }
}
