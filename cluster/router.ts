/**
 * The `RemoteRouter` of one node: carries send/cast/call, links, monitors and
 * exit signals to other nodes as envelopes on `<cluster>.node.<name>`, and
 * answers for its own processes. One subject per node on one connection keeps
 * Erlang's order per (sender node, receiver node) pair: a send, then an exit,
 * arrive in that order.
 *
 * When a node goes down (membership), every call to it fails with
 * `noconnection`, every monitor on its processes delivers DOWN `noconnection`,
 * every link to them delivers the exit signal `noconnection` to the local side,
 * and what it held on our processes is dropped. Monitor, link and call towards a
 * node that is not up fail the same way at once; send and cast are published
 * anyway (delivery is never promised, as in Erlang).
 */
import {
  call as localCall,
  cast as localCast,
  send as localSend,
  CallError,
  deliverDown,
  deliverExit,
  onLocalExit,
  type ExitReason,
  type ExitSignal,
  type MonitorRef,
  type Ref,
  type RemoteRouter,
} from '../supervisors/index.ts';
import { decode, encode, Kind, subjects, type Envelope } from './envelope.ts';
import { ClusterError } from './errors.ts';
import type { Membership, MembershipEvent } from './membership.ts';
import type { Transport } from './transport.ts';

/** A node service reachable with `rpc` (placement uses one). */
export type RpcHandler = (arg: unknown, from: string) => unknown;

interface PendingCall {
  readonly node: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout> | undefined;
  readonly fail: (reason: ExitReason | 'timeout') => Error;
}

/** What one local process holds towards other nodes. */
interface Tracked {
  readonly links: Map<string, Ref>;
  readonly monitors: Set<number>;
  cancel: (() => void) | undefined;
}

const refKey = (r: Ref): string => `${r.node}/${r.id}`;

/** A send's envelope. */
const sendEnvelope = (to: Ref, kind: 'cast' | 'info', m: unknown): Envelope => ({ k: Kind.Send, to: to.id, cast: kind === 'cast', m });

/** Routes one node's remote operations. */
export class NodeRouter implements RemoteRouter {
  private readonly subj: ReturnType<typeof subjects>;
  private readonly calls = new Map<number, PendingCall>();
  private nextCallId = 1;
  /** Monitors our processes hold on remote ones: monitor id → watcher, target. */
  private readonly monitorsOut = new Map<number, { watcher: Ref; target: Ref }>();
  /** Monitors remote processes hold on ours: "watcherNode/monitorId" → cancel. */
  private readonly monitorsIn = new Map<string, { node: string; cancel: () => void }>();
  /** Remote processes linked to ours: "remote/local" → the pair. */
  private readonly linksIn = new Map<string, { local: Ref; remote: Ref; cancel: () => void }>();
  /** Per local process: its links and monitors towards other nodes. */
  private readonly tracked = new Map<number, Tracked>();
  private readonly services = new Map<string, RpcHandler>();
  /**
   * `sendSoon` envelopes waiting, per node. A node's entry stays once made
   * (emptied when flushed, removed when the node goes down): a map that
   * gained and lost an entry every turn would rehash at message rate, and V8
   * links each old table to the next, which can keep them and what they
   * held alive through young-generation GCs (BENCHMARKS.md).
   */
  private readonly soon = new Map<string, Envelope[]>();
  /** The end-of-turn flush of `soon`, while one is due. */
  private soonFlush: NodeJS.Immediate | undefined;
  private unsubscribe: (() => void) | undefined;
  private offMembership: (() => void) | undefined;

  constructor(
    readonly node: string,
    private readonly transport: Transport,
    private readonly membership: Membership,
    cluster: string,
  ) {
    this.subj = subjects(cluster);
  }

  /** Starts listening on this node's subject. */
  start(): void {
    this.unsubscribe = this.transport.subscribe(this.subj.node(this.node), (data) => this.onMessage(decode(data)));
    this.offMembership = this.membership.onEvent((e) => this.onMembership(e));
  }

  /** Stops listening; pending calls fail with `noconnection`. */
  stop(): void {
    clearImmediate(this.soonFlush);
    this.flushAllSoon();
    this.unsubscribe?.();
    this.offMembership?.();
    for (const [cid, c] of this.calls) this.settle(cid, c, false, 'noconnection');
  }

  /** Serves `svc` for other nodes' `rpc` calls. */
  serve(svc: string, handler: RpcHandler): void {
    this.services.set(svc, handler);
  }

  /** Calls service `svc` on `node`; rejects `PARLEY_ERR_NODE_DOWN`, `_RPC_TIMEOUT` or `_RPC_FAILED`. */
  rpc(node: string, svc: string, arg: unknown, timeoutMs: number): Promise<unknown> {
    const fail = (reason: ExitReason | 'timeout'): Error =>
      reason === 'timeout'
        ? new ClusterError('PARLEY_ERR_RPC_TIMEOUT', `rpc ${svc} on ${node} timed out`)
        : reason === 'noconnection'
          ? new ClusterError('PARLEY_ERR_NODE_DOWN', `node ${node} is down`)
          : new ClusterError('PARLEY_ERR_RPC_FAILED', `rpc ${svc} on ${node} failed: ${typeof reason === 'object' && 'exit' in reason ? reason.exit : String(reason)}`);
    return this.request(node, timeoutMs, fail, (cid) => ({ k: Kind.Rpc, cid, from: this.node, svc, arg }));
  }

  // ---- RemoteRouter ----------------------------------------------------------

  send(to: Ref, kind: 'cast' | 'info', message: unknown): void {
    this.publish(to.node, sendEnvelope(to, kind, message));
  }

  /**
   * `send`, but it waits for the end of the current event-loop turn
   * (`setImmediate`) to share one NATS message with the other such sends of
   * the turn to the same node. A busy node's turns hold many (one NATS
   * message for them all); a quiet node's hold one, which then goes with no
   * more delay than the turn's end. Order is kept: any other message to that
   * node goes after what waits for it (publish flushes it first).
   */
  sendSoon(to: Ref, kind: 'cast' | 'info', message: unknown): void {
    const e = sendEnvelope(to, kind, message);
    const q = this.soon.get(to.node);
    if (q !== undefined) q.push(e);
    else this.soon.set(to.node, [e]);
    this.soonFlush ??= setImmediate(() => this.flushAllSoon());
  }

  /** End of the turn: what waited goes, one NATS message per node. */
  private flushAllSoon(): void {
    this.soonFlush = undefined;
    for (const node of [...this.soon.keys()]) this.flushSoon(node);
  }

  private flushSoon(node: string): void {
    const q = this.soon.get(node);
    if (q === undefined || q.length === 0) return;
    this.soon.set(node, []);
    this.transport.publish(this.subj.node(node), encode(q.length === 1 ? q[0]! : { k: Kind.Batch, es: q }));
  }

  call(to: Ref, request: unknown, timeoutMs: number): Promise<unknown> {
    const tmo = timeoutMs === Infinity ? 0 : timeoutMs;
    return this.request(to.node, timeoutMs, (reason) => new CallError(reason, to), (cid) => ({ k: Kind.Call, to: to.id, cid, from: this.node, req: request, tmo }));
  }

  link(local: Ref, remote: Ref): void {
    if (!this.membership.isUp(remote.node)) {
      deliverExit(remote, local, 'noconnection');
      return;
    }
    const t = this.track(local);
    if (t === undefined || t.links.has(refKey(remote))) return;
    t.links.set(refKey(remote), remote);
    this.publish(remote.node, { k: Kind.Link, from: local, to: remote.id });
  }

  unlink(local: Ref, remote: Ref): void {
    this.tracked.get(local.id)?.links.delete(refKey(remote));
    const inKey = `${refKey(remote)}>${local.id}`;
    const l = this.linksIn.get(inKey);
    if (l !== undefined) {
      l.cancel();
      this.linksIn.delete(inKey);
    }
    this.publish(remote.node, { k: Kind.Unlink, from: local, to: remote.id });
  }

  monitor(watcher: Ref, monitor: MonitorRef, target: Ref): void {
    if (!this.membership.isUp(target.node)) {
      deliverDown(watcher, monitor, target, 'noconnection');
      return;
    }
    const t = this.track(watcher);
    if (t === undefined) return;
    t.monitors.add(monitor.id);
    this.monitorsOut.set(monitor.id, { watcher, target });
    this.publish(target.node, { k: Kind.Monitor, watcher, mon: monitor.id, to: target.id });
  }

  demonitor(watcher: Ref, monitor: MonitorRef): void {
    const m = this.monitorsOut.get(monitor.id);
    if (m === undefined) return;
    this.monitorsOut.delete(monitor.id);
    this.tracked.get(watcher.id)?.monitors.delete(monitor.id);
    this.publish(m.target.node, { k: Kind.Demonitor, watcher, mon: monitor.id });
  }

  exit(from: Ref, to: Ref, signal: ExitSignal): void {
    this.publish(to.node, { k: Kind.Exit, from, to: to.id, sig: signal, link: false });
  }

  // ---- internals -------------------------------------------------------------

  private publish(node: string, e: Envelope): void {
    if (this.soon.size > 0) this.flushSoon(node);
    this.transport.publish(this.subj.node(node), encode(e));
  }

  private request(node: string, timeoutMs: number, fail: (reason: ExitReason | 'timeout') => Error, build: (cid: number) => Envelope): Promise<unknown> {
    if (!this.membership.isUp(node)) return Promise.reject(fail('noconnection'));
    const cid = this.nextCallId++;
    return new Promise((resolve, reject) => {
      // One timer per remote call: the network round trip dwarfs its cost.
      const timer = timeoutMs === Infinity ? undefined : setTimeout(() => this.settle(cid, this.calls.get(cid), false, 'timeout'), timeoutMs);
      this.calls.set(cid, { node, resolve, reject, timer, fail });
      this.publish(node, build(cid));
    });
  }

  private settle(cid: number, c: PendingCall | undefined, ok: boolean, v: unknown): void {
    if (c === undefined) return;
    this.calls.delete(cid);
    if (c.timer !== undefined) clearTimeout(c.timer);
    if (ok) c.resolve(v);
    else c.reject(c.fail(v as ExitReason | 'timeout'));
  }

  /** Tracks a local process's remote links and monitors; undefined if it is not alive. */
  private track(local: Ref): Tracked | undefined {
    let t = this.tracked.get(local.id);
    if (t !== undefined) return t;
    t = { links: new Map(), monitors: new Set(), cancel: undefined };
    const entry = t;
    entry.cancel = onLocalExit(local, (reason) => this.localExited(local, entry, reason));
    if (entry.cancel === undefined) return undefined;
    this.tracked.set(local.id, entry);
    return entry;
  }

  /** A local process with remote links or monitors exited: tell the other side. */
  private localExited(local: Ref, t: Tracked, reason: ExitReason): void {
    this.tracked.delete(local.id);
    for (const remote of t.links.values()) this.publish(remote.node, { k: Kind.Exit, from: local, to: remote.id, sig: reason, link: true });
    for (const mon of t.monitors) {
      const m = this.monitorsOut.get(mon);
      if (m === undefined) continue;
      this.monitorsOut.delete(mon);
      this.publish(m.target.node, { k: Kind.Demonitor, watcher: local, mon });
    }
  }

  private onMessage(e: Envelope): void {
    switch (e.k) {
      case Kind.Batch:
        for (const one of e.es) this.onMessage(one);
        return;
      case Kind.Send: {
        const to: Ref = { node: this.node, id: e.to };
        if (e.cast) localCast(to, e.m as never);
        else localSend(to, e.m as never);
        return;
      }
      case Kind.Call: {
        const to: Ref = { node: this.node, id: e.to };
        localCall(to, e.req as never, e.tmo === 0 ? Infinity : e.tmo).then(
          (v) => this.publish(e.from, { k: Kind.Reply, cid: e.cid, ok: true, v }),
          (err: unknown) => this.publish(e.from, { k: Kind.Reply, cid: e.cid, ok: false, v: err instanceof CallError ? err.callReason : { exit: 'call_failed' } }),
        );
        return;
      }
      case Kind.Rpc: {
        const handler = this.services.get(e.svc);
        const reply = (ok: boolean, v: unknown): void => this.publish(e.from, { k: Kind.Reply, cid: e.cid, ok, v });
        if (handler === undefined) return reply(false, { exit: `no_service:${e.svc}` });
        Promise.resolve()
          .then(() => handler(e.arg, e.from))
          .then(
            (v) => reply(true, v),
            (err: unknown) => reply(false, { exit: (err as { code?: string }).code ?? String((err as Error).message) }),
          );
        return;
      }
      case Kind.Reply:
        return this.settle(e.cid, this.calls.get(e.cid), e.ok, e.v);
      case Kind.Link: {
        const local: Ref = { node: this.node, id: e.to };
        const key = `${refKey(e.from)}>${e.to}`;
        if (this.linksIn.has(key)) return;
        const cancel = onLocalExit(local, (reason) => {
          this.linksIn.delete(key);
          this.publish(e.from.node, { k: Kind.Exit, from: local, to: e.from.id, sig: reason, link: true });
        });
        if (cancel === undefined) this.publish(e.from.node, { k: Kind.Exit, from: local, to: e.from.id, sig: 'noproc', link: true });
        else this.linksIn.set(key, { local, remote: e.from, cancel });
        return;
      }
      case Kind.Unlink: {
        const key = `${refKey(e.from)}>${e.to}`;
        this.linksIn.get(key)?.cancel();
        this.linksIn.delete(key);
        this.tracked.get(e.to)?.links.delete(refKey(e.from));
        return;
      }
      case Kind.Exit: {
        const to: Ref = { node: this.node, id: e.to };
        if (e.link) {
          // The link is gone on the sender's side; drop ours before the signal lands.
          const t = this.tracked.get(e.to);
          const had = t?.links.delete(refKey(e.from)) ?? false;
          const key = `${refKey(e.from)}>${e.to}`;
          const l = this.linksIn.get(key);
          if (l !== undefined) {
            l.cancel();
            this.linksIn.delete(key);
          }
          if (!had && l === undefined) return; // unlinked meanwhile
        }
        deliverExit(e.from, to, e.sig);
        return;
      }
      case Kind.Monitor: {
        const target: Ref = { node: this.node, id: e.to };
        const key = `${e.watcher.node}/${e.mon}`;
        const down = (reason: ExitReason): void => this.publish(e.watcher.node, { k: Kind.Down, watcher: e.watcher.id, mon: e.mon, target, reason });
        const cancel = onLocalExit(target, (reason) => {
          this.monitorsIn.delete(key);
          down(reason);
        });
        if (cancel === undefined) down('noproc');
        else this.monitorsIn.set(key, { node: e.watcher.node, cancel });
        return;
      }
      case Kind.Demonitor: {
        const key = `${e.watcher.node}/${e.mon}`;
        this.monitorsIn.get(key)?.cancel();
        this.monitorsIn.delete(key);
        return;
      }
      case Kind.Down: {
        const m = this.monitorsOut.get(e.mon);
        if (m === undefined) return; // demonitored meanwhile
        this.monitorsOut.delete(e.mon);
        this.tracked.get(e.watcher)?.monitors.delete(e.mon);
        deliverDown(m.watcher, { node: this.node, id: e.mon }, e.target, e.reason);
        return;
      }
      default:
        return;
    }
  }

  private onMembership(e: MembershipEvent): void {
    if (e.type !== 'down') return;
    const gone = e.node;
    this.flushSoon(gone);
    this.soon.delete(gone);
    for (const [cid, c] of [...this.calls]) if (c.node === gone) this.settle(cid, c, false, 'noconnection');
    for (const [mon, m] of [...this.monitorsOut]) {
      if (m.target.node !== gone) continue;
      this.monitorsOut.delete(mon);
      this.tracked.get(m.watcher.id)?.monitors.delete(mon);
      deliverDown(m.watcher, { node: this.node, id: mon }, m.target, 'noconnection');
    }
    for (const [key, m] of [...this.monitorsIn]) {
      if (m.node !== gone) continue;
      m.cancel();
      this.monitorsIn.delete(key);
    }
    for (const [key, l] of [...this.linksIn]) {
      if (l.remote.node !== gone) continue;
      l.cancel();
      this.linksIn.delete(key);
      deliverExit(l.remote, l.local, 'noconnection');
    }
    for (const [id, t] of [...this.tracked]) {
      for (const [k, remote] of [...t.links]) {
        if (remote.node !== gone) continue;
        t.links.delete(k);
        deliverExit(remote, { node: this.node, id }, 'noconnection');
      }
    }
  }
}
