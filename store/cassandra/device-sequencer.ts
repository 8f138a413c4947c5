/**
 * One sequencer per recipient device, in process: it mints that device's
 * inbox ids and serialises that device's writes (appends and acks).
 *
 * Why: the InboxEntryId contract wants ids strictly increasing per device *in
 * commit order*, and an ack deletes everything ≤ its id. If two appends to one
 * device ran concurrently, the one that minted the smaller id could commit
 * later, after the device had read and acked the larger one: its entry would
 * sit below the device's cursor and never be delivered. Holding the device's
 * lock from minting the id until the write has settled makes mint order =
 * commit order on this node.
 *
 * Across nodes this orders nothing: in a cluster, ordering across nodes is
 * the reader's job via MultiWriterInbox (commit horizon + point acks), see
 * store/types.ts. A sequencer still starts above the device's acked cursor
 * and its newest stored id (`floorTicks`, loaded on first use), so a process
 * whose clock is behind the previous writer's still mints larger ids.
 *
 * A batch addressing several devices takes their locks in one global order
 * (sorted keys), so two batches never wait on each other in a cycle.
 */

/** State of one device, loaded once per process (see CassandraInboxStore.loadDevice). */
export interface DeviceState {
  /** The device's acked cursor (encoded id), or '' when it never acked. */
  ackedUpTo: string;
  /** Timestamp ticks of the newest id minted or seen; the next id is above it. */
  floorTicks: bigint;
  /** Buckets this process already recorded in `inbox_buckets` for the device. */
  readonly knownBuckets: Set<number>;
}

export class DeviceSequencer {
  /** Settles when the last queued holder releases. */
  private tail: Promise<void> = Promise.resolve();
  /** Holders waiting or running; 0 means the sequencer may be evicted. */
  holders = 0;
  private loading: Promise<DeviceState> | undefined;

  constructor(readonly key: string) {}

  /** Resolves with a release function once every earlier holder has released. */
  acquire(): Promise<() => void> {
    this.holders++;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = () => {
        this.holders--;
        resolve();
      };
    });
    const prev = this.tail;
    this.tail = prev.then(() => mine);
    return prev.then(() => release);
  }

  /** The device's state, loaded by `load` on first use; a failed load is retried next time. */
  state(load: () => Promise<DeviceState>): Promise<DeviceState> {
    if (this.loading === undefined) {
      this.loading = load();
      this.loading.catch(() => {
        this.loading = undefined;
      });
    }
    return this.loading;
  }

  /** Next id timestamp for the device: the clock, or one tick above the last one. */
  static mint(state: DeviceState, nowTicks: bigint): bigint {
    const next = nowTicks > state.floorTicks ? nowTicks : state.floorTicks + 1n;
    state.floorTicks = next;
    return next;
  }
}

/** The sequencers of this process, with idle ones evicted beyond `max`. */
export class DeviceSequencers {
  private readonly byKey = new Map<string, DeviceSequencer>();

  constructor(private readonly max = 100_000) {}

  get(key: string): DeviceSequencer {
    let s = this.byKey.get(key);
    if (s === undefined) {
      if (this.byKey.size >= this.max) this.evictIdle();
      s = new DeviceSequencer(key);
      this.byKey.set(key, s);
    }
    return s;
  }

  /**
   * Locks every key in a global order and returns one release for all.
   * Beyond `max` sequencers, idle ones are evicted when a new one is made: an
   * evicted device reloads its floor from Cassandra on next use.
   */
  async lockAll(keys: readonly string[]): Promise<{ sequencers: DeviceSequencer[]; release: () => void }> {
    const sorted = [...keys].sort();
    const sequencers = sorted.map((k) => this.get(k));
    const releases: Array<() => void> = [];
    for (const s of sequencers) releases.push(await s.acquire());
    return {
      sequencers,
      release: () => {
        for (const r of releases) r();
      },
    };
  }

  get size(): number {
    return this.byKey.size;
  }

  private evictIdle(): void {
    for (const [key, s] of this.byKey) {
      if (this.byKey.size < this.max) return;
      if (s.holders === 0) this.byKey.delete(key);
    }
  }
}
