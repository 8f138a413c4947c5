/**
 * A cluster node: the composition of one node's actor system with its
 * transport, membership, router, registry and placements. Use
 * `startClusterNode` instead of `startSystem` on a clustered node.
 *
 * ```
 * transport ──► membership (heartbeats) ──► router (remote refs) ──► registry / placement
 *                    │                                                ▲
 * shared store ──────┴──────────── watch (replica) ───────────────────┘
 * ```
 */
import { randomUUID } from 'node:crypto';
import { exit as localExit, setRemoteRouter, startSystem, type ActorSystem, type ExitSignal, type Ref, type SystemOptions } from '../supervisors/index.ts';
import { ClusterRegistry } from './cluster-registry.ts';
import { NODE_NAME } from './envelope.ts';
import { unpackHolder } from './keys.ts';
import { ClusterError } from './errors.ts';
import { Membership, type MembershipEvent, type MembershipOptions } from './membership.ts';
import { Placement, type PlacementSpec } from './placement.ts';
import { NodeRouter } from './router.ts';
import type { SharedStore, StoreEntry } from './shared-store.ts';
import type { Transport } from './transport.ts';

/** Options of `startClusterNode`. */
export interface ClusterNodeOptions {
  /** Node name, `[A-Za-z0-9_-]{1,64}`, unique in the cluster. */
  node: string;
  transport: Transport;
  store: SharedStore;
  /** Subject prefix: nodes with the same prefix form one cluster. @default 'parley' */
  cluster?: string;
  /** Heartbeat timing. @default DEFAULT_MEMBERSHIP (down after 3 s, detected within 3.25 s) */
  membership?: Partial<MembershipOptions>;
  /** Clock and the like for the actor system (`node`, `registry`, `firstId` are set here). */
  system?: Omit<SystemOptions, 'node' | 'registry' | 'firstId'>;
}

/** One node of the cluster. */
export class ClusterNode {
  /** This incarnation: a node restarted under the same name is another incarnation. */
  readonly incarnation = randomUUID();
  readonly system: ActorSystem;
  readonly registry: ClusterRegistry;
  readonly membership: Membership;
  readonly router: NodeRouter;
  private readonly placements = new Map<string, Placement>();
  private readonly entries = new Map<string, StoreEntry>();
  private stopWatch: (() => void) | undefined;
  private stopping: Promise<void> | undefined;

  /** @internal use `startClusterNode`. */
  constructor(
    readonly name: string,
    private readonly options: ClusterNodeOptions,
  ) {
    const cluster = options.cluster ?? 'parley';
    let registry!: ClusterRegistry;
    this.system = startSystem({
      ...options.system,
      node: name,
      firstId: Date.now() * 1000,
      registry: (isAlive) => (registry = new ClusterRegistry(name, isAlive)),
    });
    this.registry = registry;
    this.membership = new Membership(name, this.incarnation, options.transport, cluster, options.membership);
    this.router = new NodeRouter(name, options.transport, this.membership, cluster);
    this.registry.attach(options.store, this.membership, this.incarnation);
  }

  /** @internal */
  async start(): Promise<void> {
    this.router.start();
    this.membership.onEvent((e) => this.onMembership(e));
    this.stopWatch = await this.options.store.watch((e) => this.onEntry(e));
    setRemoteRouter(this.system, this.router);
    this.membership.start();
    // Entries of our earlier incarnations are ours to remove.
    this.registry.sweep(this.entries.values());
  }

  /** Single-owner actors of `namespace` (one `Placement` per namespace and node). */
  placement(namespace: string, spec: PlacementSpec): Placement {
    let p = this.placements.get(namespace);
    if (p === undefined) {
      p = new Placement(namespace, spec, this.name, this.incarnation, this.options.store, this.membership, this.router);
      for (const e of this.entries.values()) p.applyEntry(e);
      this.placements.set(namespace, p);
    }
    return p;
  }

  /** Exit signal from this node's root to any process, local or remote. */
  exit(ref: Ref, signal: ExitSignal): void {
    if (ref.node === this.name) localExit(ref, signal);
    else this.router.exit(this.system.root, ref, signal);
  }

  /**
   * Leaves the cluster: placed actors are stopped and their leases released,
   * the system stops (names and groups are removed, remote links and monitors
   * are told), then the node says `leave` and closes its subscriptions.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const p of this.placements.values()) await p.releaseAll();
      await this.system.stop();
      await this.registry.settled();
      await this.options.transport.flush().catch(() => undefined);
      await this.membership.stop();
      this.router.stop();
      this.stopWatch?.();
    })();
    return this.stopping;
  }

  private onEntry(e: StoreEntry): void {
    if (e.value === undefined) this.entries.delete(e.key);
    else this.entries.set(e.key, e);
    this.registry.applyEntry(e);
    for (const p of this.placements.values()) p.applyEntry(e);
  }

  private onMembership(e: MembershipEvent): void {
    switch (e.type) {
      case 'down':
        // The lowest live node cleans up after the dead one (others would only race it).
        if (e.cause !== 'fenced' && this.membership.upNodes()[0] === this.name) {
          this.registry.sweep(this.entries.values());
          this.sweepLeases();
        }
        for (const p of this.placements.values()) p.rebalance();
        return;
      case 'up':
        for (const p of this.placements.values()) p.rebalance();
        return;
      case 'fenced':
        for (const p of this.placements.values()) p.fence();
        return;
      case 'unfenced':
        this.registry.reassert();
        for (const p of this.placements.values()) void p.dropOrphans();
        return;
    }
  }

  /** Deletes leases held by gone nodes (revision-checked: a newer holder is never touched). */
  private sweepLeases(): void {
    for (const e of [...this.entries.values()]) {
      if (!e.key.startsWith('p.') || e.value === undefined) continue;
      const h = unpackHolder(e.value);
      if (this.membership.isGone(h.node, h.inc)) void this.options.store.delete(e.key, e.revision).catch((err: unknown) => this.registry.onError(err));
    }
  }
}

/** Starts a cluster node (its actor system included) and joins the cluster. */
export async function startClusterNode(options: ClusterNodeOptions): Promise<ClusterNode> {
  if (!NODE_NAME.test(options.node)) throw new ClusterError('PARLEY_ERR_BAD_NODE_NAME', `bad node name ${JSON.stringify(options.node)}`);
  const node = new ClusterNode(options.node, options);
  await node.start();
  return node;
}
