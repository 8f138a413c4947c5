/**
 * `SharedStore` on a JetStream KV bucket. Why KV: names and placement leases
 * must have one owner even when two nodes race, and JetStream gives
 * revision-checked writes (`create` = expect no last sequence, `update`/`delete`
 * with `previousSeq`) plus an ordered watch to keep each node's replica, with no
 * consensus code of our own. Core NATS carries everything else (messages,
 * heartbeats), which is faster and needs no persistence.
 */
import type { KV, KvEntry, NatsConnection } from 'nats';
import type { SharedStore, StoreEntry } from './shared-store.ts';

/** JetStream's "wrong last sequence" API error. */
const WRONG_LAST_SEQUENCE = 10071;

function isRevisionMismatch(err: unknown): boolean {
  return (err as { api_error?: { err_code?: number } } | undefined)?.api_error?.err_code === WRONG_LAST_SEQUENCE;
}

function toEntry(e: KvEntry): StoreEntry {
  return { key: e.key, value: e.operation === 'PUT' ? e.value : undefined, revision: e.revision };
}

/** Options of `JetStreamStore.open`. */
export interface JetStreamStoreOptions {
  /** Bucket replicas (1 on a single server). @default 1 */
  replicas: number;
}

/** A JetStream KV bucket as the cluster's shared state. */
export class JetStreamStore implements SharedStore {
  private constructor(readonly kv: KV) {}

  /** Opens (creating if needed) the bucket `bucket` (history 1: only the last value matters). */
  static async open(nc: NatsConnection, bucket: string, options: Partial<JetStreamStoreOptions> = {}): Promise<JetStreamStore> {
    const kv = await nc.jetstream().views.kv(bucket, { history: 1, replicas: options.replicas ?? 1 });
    return new JetStreamStore(kv);
  }

  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      if (isRevisionMismatch(err)) return undefined;
      throw err;
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    try {
      return await this.kv.update(key, value, revision);
    } catch (err) {
      if (isRevisionMismatch(err)) return undefined;
      throw err;
    }
  }

  async delete(key: string, revision?: number): Promise<boolean> {
    try {
      await this.kv.delete(key, revision === undefined ? undefined : { previousSeq: revision });
      return true;
    } catch (err) {
      if (isRevisionMismatch(err)) return false;
      throw err;
    }
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    const e = await this.kv.get(key);
    return e === null || e.operation !== 'PUT' ? undefined : toEntry(e);
  }

  async watch(onEntry: (e: StoreEntry) => void): Promise<() => void> {
    let initialized!: () => void;
    const ready = new Promise<void>((resolve) => (initialized = resolve));
    const iter = await this.kv.watch({ key: '>', initializedFn: () => initialized() });
    void (async () => {
      for await (const e of iter) onEntry(toEntry(e));
    })();
    await ready;
    return () => iter.stop();
  }
}
