/**
 * Single-owner actors by key (a chat group, say), placed by rendezvous hashing
 * over the live nodes and guarded by leases in the shared store.
 *
 * Never owned twice at once:
 * 1. A node starts the actor for `key` only after creating the lease
 *    `p.<ns>.<key>` (a revision-checked create: one winner), and keeps it only
 *    while it holds the lease.
 * 2. When membership moves the key's rendezvous owner elsewhere, the holder
 *    stops the actor (exit `{shutdown: 'handover'}`, awaited) and only then
 *    deletes its lease (revision-checked); the new owner starts it on the next
 *    `ensure`. Until the old lease is gone, the new owner waits.
 * 3. A node that dies keeps its leases until the lowest live node deletes them,
 *    which happens only after membership declares it down (≥ `downAfterMs` of
 *    silence). A node cut off from the cluster fences itself first (its own
 *    heartbeats stop echoing for `fenceAfterMs`) and kills its placed actors, so
 *    with `fenceAfterMs + heartbeatMs + sweep < downAfterMs` the old actor is dead
 *    before anyone can take the lease. (Assumes timers run within that margin:
 *    the usual lease caveat about long GC or VM pauses.)
 *
 * The actor is not restarted by placement: if it exits, its lease is released
 * and the next `ensure` starts a new one (start it under a supervisor with
 * `restart: 'temporary'` if it must be supervised).
 */
import { exit, onLocalExit, type Ref } from '../supervisors/index.ts';
import { ClusterError } from './errors.ts';
import { b64, leaseKey, packHolder, unpackHolder, type Holder } from './keys.ts';
import type { Membership } from './membership.ts';
import { rendezvousOwner } from './rendezvous.ts';
import type { NodeRouter } from './router.ts';
import type { SharedStore, StoreEntry } from './shared-store.ts';

/** What a placement starts. */
export interface PlacementSpec {
  /** Starts the actor for `key` on this node (called only by the lease holder). */
  start(key: string): Promise<Ref> | Ref;
}

/** Options of `ensure`. */
export interface EnsureOptions {
  /** @default 5000 */
  timeoutMs: number;
}

/** Placement events, for observers and tests. */
export type PlacementEvent =
  | { readonly type: 'started'; readonly key: string; readonly ref: Ref }
  | { readonly type: 'handedOver'; readonly key: string; readonly ref: Ref }
  | { readonly type: 'released'; readonly key: string; readonly ref: Ref };

interface Held {
  readonly key: string;
  ref: Ref | undefined;
  revision: number;
  cancelWatch: (() => void) | undefined;
  releasing: boolean;
}

/** Single-owner actors of one namespace. Create with `ClusterNode.placement`. */
export class Placement {
  private readonly leases = new Map<string, { holder: Holder; revision: number }>();
  private readonly held = new Map<string, Held>();
  private readonly starting = new Map<string, Promise<Ref>>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly listeners = new Set<(e: PlacementEvent) => void>();
  private readonly prefix: string;

  constructor(
    readonly namespace: string,
    private readonly spec: PlacementSpec,
    private readonly node: string,
    private readonly inc: string,
    private readonly store: SharedStore,
    private readonly membership: Membership,
    private readonly router: NodeRouter,
  ) {
    this.prefix = `p.${b64(namespace)}.`;
    router.serve(`placement.${namespace}`, (key) => this.ensureHere(key as string));
  }

  /** The node that should own `key` in this node's view. */
  ownerOf(key: string): string | undefined {
    return rendezvousOwner(key, this.membership.upNodes());
  }

  /** The running actor of `key` anywhere in the cluster, from the lease replica. */
  whereis(key: string): Ref | undefined {
    const l = this.leases.get(leaseKey(this.namespace, key));
    if (l === undefined || l.holder.id === 0 || this.membership.isGone(l.holder.node, l.holder.inc) || !this.membership.isUp(l.holder.node)) return undefined;
    return { node: l.holder.node, id: l.holder.id };
  }

  /** Keys whose actor runs on this node. */
  localKeys(): string[] {
    return [...this.held.values()].filter((h) => h.ref !== undefined && !h.releasing).map((h) => h.key);
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(fn: (e: PlacementEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * The actor of `key`, started on its owner if it is not running. Asks the
   * owner node when that is another node; retries while ownership moves.
   * Rejects `PARLEY_ERR_PLACEMENT_TIMEOUT` after `timeoutMs`.
   */
  async ensure(key: string, options: Partial<EnsureOptions> = {}): Promise<Ref> {
    const deadline = performance.now() + (options.timeoutMs ?? 5_000);
    for (;;) {
      const running = this.whereis(key);
      if (running !== undefined) return running;
      const left = deadline - performance.now();
      if (left <= 0) throw new ClusterError('PARLEY_ERR_PLACEMENT_TIMEOUT', `no owner for ${this.namespace}/${key}`);
      const owner = this.ownerOf(key);
      try {
        if (owner === this.node) return await this.ensureHere(key);
        if (owner !== undefined) return (await this.router.rpc(owner, `placement.${this.namespace}`, key, left)) as Ref;
      } catch (err) {
        if ((err as { code?: string }).code === 'PARLEY_ERR_RPC_TIMEOUT') throw new ClusterError('PARLEY_ERR_PLACEMENT_TIMEOUT', `no owner for ${this.namespace}/${key}`);
      }
      // Ownership is moving (a lease still held elsewhere, a node going down): wait for a change.
      await this.changeOf(key, Math.min(left, 250));
    }
  }

  /** Acquires the lease here and starts the actor (what the owner does). */
  private ensureHere(key: string): Promise<Ref> {
    const h = this.held.get(key);
    if (h?.ref !== undefined && !h.releasing) return Promise.resolve(h.ref);
    let p = this.starting.get(key);
    if (p === undefined) {
      p = this.acquire(key).finally(() => this.starting.delete(key));
      this.starting.set(key, p);
    }
    return p;
  }

  private async acquire(key: string): Promise<Ref> {
    if (this.membership.fenced) throw new ClusterError('PARLEY_ERR_FENCED', 'node is cut off from the cluster');
    const lk = leaseKey(this.namespace, key);
    const rev = await this.store.create(lk, packHolder({ node: this.node, inc: this.inc, id: 0 }));
    if (rev === undefined) throw new ClusterError('PARLEY_ERR_PLACEMENT_TIMEOUT', `lease of ${this.namespace}/${key} is held`);
    const held: Held = { key, ref: undefined, revision: rev, cancelWatch: undefined, releasing: false };
    this.held.set(key, held);
    let ref: Ref;
    try {
      ref = await this.spec.start(key);
    } catch (err) {
      this.held.delete(key);
      await this.store.delete(lk, rev);
      throw err;
    }
    const rev2 = await this.store.update(lk, packHolder({ node: this.node, inc: this.inc, id: ref.id }), rev);
    if (rev2 === undefined || held.releasing || this.membership.fenced) {
      // Lost the lease while starting (fenced and swept): the actor must not live on.
      this.held.delete(key);
      exit(ref, 'kill');
      throw new ClusterError('PARLEY_ERR_FENCED', `lease of ${this.namespace}/${key} lost while starting`);
    }
    held.ref = ref;
    held.revision = rev2;
    held.cancelWatch = onLocalExit(ref, () => {
      if (held.releasing) return;
      this.held.delete(key);
      this.emit({ type: 'released', key, ref });
      void this.store.delete(lk, held.revision).catch(() => undefined);
    });
    this.emit({ type: 'started', key, ref });
    return ref;
  }

  /** @internal A lease changed in the store. */
  applyEntry(e: StoreEntry): void {
    if (!e.key.startsWith(this.prefix)) return;
    if (e.value === undefined) this.leases.delete(e.key);
    else this.leases.set(e.key, { holder: unpackHolder(e.value), revision: e.revision });
    const w = this.waiters.get(e.key);
    if (w !== undefined) {
      this.waiters.delete(e.key);
      for (const fn of w) fn();
    }
  }

  /** @internal Membership changed: hand over what this node no longer owns. */
  rebalance(): void {
    for (const h of [...this.held.values()]) if (h.ref !== undefined && !h.releasing && this.ownerOf(h.key) !== this.node) void this.release(h, true);
  }

  /** @internal This node is cut off: kill every placed actor now (its leases will be swept). */
  fence(): void {
    for (const h of [...this.held.values()]) {
      h.releasing = true;
      h.cancelWatch?.();
      this.held.delete(h.key);
      if (h.ref !== undefined) {
        exit(h.ref, 'kill');
        this.emit({ type: 'released', key: h.key, ref: h.ref });
      }
    }
  }

  /** @internal Delete leases of ours that no actor backs (after a fence healed). */
  async dropOrphans(): Promise<void> {
    for (const [k, l] of [...this.leases]) {
      if (l.holder.node !== this.node) continue;
      const key = [...this.held.values()].find((h) => leaseKey(this.namespace, h.key) === k);
      if (key === undefined) await this.store.delete(k, l.revision).catch(() => false);
    }
  }

  /** @internal Stops every placed actor and releases its lease (node stop). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.held.values()].map((h) => this.release(h, false)));
  }

  private async release(h: Held, handover: boolean): Promise<void> {
    h.releasing = true;
    h.cancelWatch?.();
    const ref = h.ref!;
    const exited = new Promise<void>((resolve) => {
      if (onLocalExit(ref, () => resolve()) === undefined) resolve();
    });
    exit(ref, { shutdown: 'handover' });
    await exited;
    this.held.delete(h.key);
    await this.store.delete(leaseKey(this.namespace, h.key), h.revision).catch(() => false);
    this.emit({ type: handover ? 'handedOver' : 'released', key: h.key, ref });
  }

  private changeOf(key: string, ms: number): Promise<void> {
    const lk = leaseKey(this.namespace, key);
    return new Promise((resolve) => {
      let set = this.waiters.get(lk);
      if (set === undefined) this.waiters.set(lk, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        off();
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      const off = this.membership.onEvent(done);
    });
  }

  private emit(e: PlacementEvent): void {
    for (const fn of [...this.listeners]) fn(e);
  }
}
