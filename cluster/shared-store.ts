/**
 * The port to the cluster's shared, linearizable key/value state: names,
 * process-group members and placement leases. Every write is revision-checked,
 * which is what makes a name or a lease single-owner: `create` fails if the key
 * exists, `update`/`delete` fail if someone wrote since `revision`. Readers keep
 * a replica through `watch` and answer lookups synchronously from it.
 *
 * `JetStreamStore` (a JetStream KV bucket) is the production adapter;
 * `MemoryStore` serves in-process tests. Keys use `[-/_=.a-zA-Z0-9]` only.
 */

/** One key's state; `value` undefined means deleted. */
export interface StoreEntry {
  readonly key: string;
  readonly value: Uint8Array | undefined;
  readonly revision: number;
}

/** Shared key/value state with revision-checked writes. */
export interface SharedStore {
  /** Writes `key` if absent (or deleted); its new revision, or undefined if it exists. */
  create(key: string, value: Uint8Array): Promise<number | undefined>;
  /** Writes `key` if its revision is still `revision`; the new revision, or undefined. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined>;
  /** Deletes `key` if its revision is still `revision` (any, when omitted); false on mismatch. */
  delete(key: string, revision?: number): Promise<boolean>;
  /** The current entry of `key`. */
  get(key: string): Promise<StoreEntry | undefined>;
  /**
   * Calls `onEntry` for every live key, then for every change, in revision
   * order; resolves once the initial entries have been delivered. Returns the stop function.
   */
  watch(onEntry: (e: StoreEntry) => void): Promise<() => void>;
}

/** In-process shared state for tests: one per test cluster; each node takes a `client()`. */
export class MemoryStore {
  private readonly entries = new Map<string, StoreEntry>();
  private readonly watchers = new Set<{ client: MemoryStoreClient; fn: (e: StoreEntry) => void }>();
  private revision = 0;

  /** A node's handle; `disconnect()` on it makes its operations fail. */
  client(): MemoryStoreClient {
    return new MemoryStoreClient(this);
  }

  /** @internal */
  write(key: string, value: Uint8Array | undefined, expect: number | 'absent' | 'any'): number | undefined {
    const cur = this.entries.get(key);
    const live = cur !== undefined && cur.value !== undefined;
    if (expect === 'absent' ? live : expect !== 'any' && (cur?.revision ?? 0) !== expect) return undefined;
    if (value === undefined && !live) return expect === 'any' ? 0 : undefined;
    const e: StoreEntry = { key, value, revision: ++this.revision };
    this.entries.set(key, e);
    for (const w of this.watchers) if (w.client.connected) queueMicrotask(() => w.client.connected && w.fn(e));
    return e.revision;
  }

  /** @internal */
  read(key: string): StoreEntry | undefined {
    const e = this.entries.get(key);
    return e?.value === undefined ? undefined : e;
  }

  /** @internal */
  addWatcher(client: MemoryStoreClient, fn: (e: StoreEntry) => void): () => void {
    const live = [...this.entries.values()].filter((e) => e.value !== undefined).sort((a, b) => a.revision - b.revision);
    for (const e of live) fn(e);
    const w = { client, fn };
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }
}

/** A node's handle on a `MemoryStore`. */
export class MemoryStoreClient implements SharedStore {
  connected = true;
  constructor(private readonly store: MemoryStore) {}

  private async op<T>(fn: () => T): Promise<T> {
    await Promise.resolve();
    if (!this.connected) throw new Error('memory store: disconnected');
    return fn();
  }

  create(key: string, value: Uint8Array): Promise<number | undefined> {
    return this.op(() => this.store.write(key, value, 'absent'));
  }
  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    return this.op(() => this.store.write(key, value, revision));
  }
  delete(key: string, revision?: number): Promise<boolean> {
    return this.op(() => this.store.write(key, undefined, revision ?? 'any') !== undefined);
  }
  get(key: string): Promise<StoreEntry | undefined> {
    return this.op(() => this.store.read(key));
  }
  watch(onEntry: (e: StoreEntry) => void): Promise<() => void> {
    return this.op(() => this.store.addWatcher(this, onEntry));
  }
  /** Cuts this node off the store (a crash or partition). */
  disconnect(): void {
    this.connected = false;
  }
}
