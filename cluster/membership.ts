/**
 * Membership by heartbeats on one subject. Every node publishes
 * `{node, inc}` every `heartbeatMs`; a node not heard for `downAfterMs` is
 * down. The sweep runs every `heartbeatMs / 4`, so a silent node is declared
 * down between `downAfterMs` and `downAfterMs + heartbeatMs / 4` after its last
 * heartbeat arrived (defaults: 3 s to 3.25 s; plus transport latency). A clean
 * `leave` is seen at once. A node that restarts (same name, new incarnation) is
 * first reported down, then up.
 *
 * Fencing: a node also hears its own heartbeats. If its own last echo is older
 * than `fenceAfterMs` it has lost the cluster: it reports itself `fenced` and
 * every other node `down` (reason `fenced`), as Erlang breaks all links both ways
 * on a lost connection. With `fenceAfterMs + heartbeatMs + sweep < downAfterMs`
 * a cut-off node has stopped its single-owner actors before the others can take
 * their leases (placement.ts). When the echo returns it is `unfenced` and the
 * others come back `up` as they are heard.
 */
import { decode, encode, ENVELOPE_VERSION, Kind, subjects } from './envelope.ts';
import type { Transport } from './transport.ts';

/** Timing of membership. */
export interface MembershipOptions {
  /** @default 1000 */
  heartbeatMs: number;
  /** @default 3000 */
  downAfterMs: number;
  /** @default 1500 */
  fenceAfterMs: number;
}

/** Defaults of `MembershipOptions`: down within 3.25 s of silence. */
export const DEFAULT_MEMBERSHIP: MembershipOptions = { heartbeatMs: 1_000, downAfterMs: 3_000, fenceAfterMs: 1_500 };

/** Why a node is down. */
export type DownCause = 'timeout' | 'left' | 'restarted' | 'fenced';

/** Membership events. */
export type MembershipEvent =
  | { readonly type: 'up'; readonly node: string; readonly inc: string }
  | { readonly type: 'down'; readonly node: string; readonly inc: string; readonly cause: DownCause }
  | { readonly type: 'fenced' }
  | { readonly type: 'unfenced' };

interface Peer {
  inc: string;
  lastSeen: number;
}

/** This node's view of the cluster. */
export class Membership {
  private readonly peers = new Map<string, Peer>();
  private readonly downIncs = new Map<string, string>();
  private readonly listeners = new Set<(e: MembershipEvent) => void>();
  private readonly subj: ReturnType<typeof subjects>;
  private readonly options: MembershipOptions;
  private lastEcho: number;
  private fencedNow = false;
  private beat: ReturnType<typeof setInterval> | undefined;
  private sweep: ReturnType<typeof setInterval> | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly beatBytes: Uint8Array;

  constructor(
    readonly node: string,
    readonly inc: string,
    private readonly transport: Transport,
    cluster: string,
    options: Partial<MembershipOptions> = {},
  ) {
    this.options = { ...DEFAULT_MEMBERSHIP, ...options };
    this.subj = subjects(cluster);
    this.lastEcho = performance.now();
    this.beatBytes = encode({ k: Kind.Heartbeat, node, inc, v: ENVELOPE_VERSION });
  }

  /** Starts heartbeating and listening. */
  start(): void {
    this.unsubscribe = this.transport.subscribe(this.subj.heartbeat, (data) => this.onMessage(data));
    this.lastEcho = performance.now();
    this.transport.publish(this.subj.heartbeat, this.beatBytes);
    this.beat = setInterval(() => this.transport.publish(this.subj.heartbeat, this.beatBytes), this.options.heartbeatMs);
    this.sweep = setInterval(() => this.check(), Math.max(1, Math.floor(this.options.heartbeatMs / 4)));
  }

  /** Leaves cleanly: the others see `down` (cause `left`) at once. */
  async stop(): Promise<void> {
    clearInterval(this.beat);
    clearInterval(this.sweep);
    this.transport.publish(this.subj.heartbeat, encode({ k: Kind.Leave, node: this.node, inc: this.inc }));
    await this.transport.flush().catch(() => undefined);
    this.unsubscribe?.();
    this.listeners.clear();
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(fn: (e: MembershipEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Whether `node` is up (this node always is, unless fenced). */
  isUp(node: string): boolean {
    return node === this.node ? !this.fencedNow : this.peers.has(node);
  }

  /** Whether this node has lost the cluster. */
  get fenced(): boolean {
    return this.fencedNow;
  }

  /** Whether the entry of `node` at incarnation `inc` belongs to a process known to be gone. */
  isGone(node: string, inc: string): boolean {
    if (node === this.node) return inc !== this.inc;
    const p = this.peers.get(node);
    if (p !== undefined) return p.inc !== inc;
    return this.downIncs.get(node) === inc;
  }

  /** Live nodes, this one included (unless fenced), sorted. */
  upNodes(): string[] {
    const out = [...this.peers.keys()];
    if (!this.fencedNow) out.push(this.node);
    return out.sort();
  }

  /** Resolves once every node of `nodes` is up (or rejects after `timeoutMs`). */
  waitFor(nodes: readonly string[], timeoutMs = 10_000): Promise<void> {
    return this.waitUntil(() => nodes.every((n) => this.isUp(n)), timeoutMs, `nodes ${nodes.join(',')} up`);
  }

  /** Resolves once `node` is down (or rejects after `timeoutMs`). */
  waitDown(node: string, timeoutMs = 10_000): Promise<void> {
    return this.waitUntil(() => !this.isUp(node), timeoutMs, `node ${node} down`);
  }

  private waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`membership: timed out waiting for ${what}`));
      }, timeoutMs);
      const off = this.onEvent(() => {
        if (!done()) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  private emit(e: MembershipEvent): void {
    for (const fn of [...this.listeners]) fn(e);
  }

  private onMessage(data: Uint8Array): void {
    const e = decode(data);
    if (e.k === Kind.Leave) {
      const p = this.peers.get(e.node);
      if (e.node !== this.node && p !== undefined && p.inc === e.inc) this.markDown(e.node, p.inc, 'left');
      return;
    }
    if (e.k !== Kind.Heartbeat) return;
    const now = performance.now();
    if (e.node === this.node) {
      if (e.inc !== this.inc) return; // another process claims our name: its heartbeats are ignored
      this.lastEcho = now;
      if (this.fencedNow) {
        this.fencedNow = false;
        this.emit({ type: 'unfenced' });
      }
      return;
    }
    if (this.fencedNow) return;
    const p = this.peers.get(e.node);
    if (p !== undefined && p.inc === e.inc) {
      p.lastSeen = now;
      return;
    }
    if (p !== undefined) this.markDown(e.node, p.inc, 'restarted');
    this.peers.set(e.node, { inc: e.inc, lastSeen: now });
    this.downIncs.delete(e.node);
    this.emit({ type: 'up', node: e.node, inc: e.inc });
    // Answer a newcomer at once, so it need not wait a whole period to see us.
    this.transport.publish(this.subj.heartbeat, this.beatBytes);
  }

  private markDown(node: string, inc: string, cause: DownCause): void {
    this.peers.delete(node);
    this.downIncs.set(node, inc);
    this.emit({ type: 'down', node, inc, cause });
  }

  private check(): void {
    const now = performance.now();
    if (!this.fencedNow && now - this.lastEcho > this.options.fenceAfterMs) {
      this.fencedNow = true;
      this.emit({ type: 'fenced' });
      for (const [node, p] of [...this.peers]) this.markDown(node, p.inc, 'fenced');
      return;
    }
    if (this.fencedNow) return;
    for (const [node, p] of [...this.peers]) if (now - p.lastSeen > this.options.downAfterMs) this.markDown(node, p.inc, 'timeout');
  }
}
