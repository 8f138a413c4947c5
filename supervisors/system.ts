/**
 * The actor system of one node: nact's root cell, the process table (id → cell,
 * so a send costs two map lookups and never walks nact's path), the registry,
 * the report stream and the monotonic clock that restart intensity reads.
 */
import { startNactSystem, type NactSystemCell } from './nact-bridge.ts';
import { LocalRegistry, type Registry } from './registry.ts';
import { ReportStream } from './reports.ts';
import { DownMsg } from './runtime-messages.ts';
import { K_INFO } from './mailbox.ts';
import type { ExitReason, ExitSignal, MonitorRef, Ref } from './types.ts';
import type { Cell } from './cell.ts';

/** Options of `startSystem`. */
export interface SystemOptions {
  /** Node name carried by every ref. @default `node-<random>` */
  node?: string;
  /** Monotonic clock in seconds; restart intensity reads it (tests inject a fake one). @default performance.now() / 1000 */
  clock?: () => number;
  /** Builds the registry; the cluster layer passes a replicated one. @default a `LocalRegistry` */
  registry?: (isAlive: (ref: Ref) => boolean) => Registry;
  /**
   * First process id. A node that restarts under the same name should not reuse
   * the ids of its previous life (stale refs held elsewhere would reach new
   * processes); the cluster layer passes `Date.now() * 1000`. @default 1
   */
  firstId?: number;
}

/** Defaults of `SystemOptions`. */
export const DEFAULT_SYSTEM_OPTIONS = {
  clock: (): number => performance.now() / 1000,
  registry: (isAlive: (ref: Ref) => boolean): Registry => new LocalRegistry(isAlive),
} as const;

const systems = new Map<string, ActorSystem>();
let lastSystem: ActorSystem | undefined;

/** One node's actor system. Create it with `startSystem`. */
export class ActorSystem {
  /** Node name, as in every ref of this system. */
  readonly node: string;
  /** Named processes and process groups. */
  readonly registry: Registry;
  /** Start, restart, crash and shutdown reports. */
  readonly reports = new ReportStream();
  /** Monotonic seconds. */
  readonly clock: () => number;
  /** The pseudo-process that stands for code outside any process (`from` of its exit signals). */
  readonly root: Ref;
  /** @internal id → live process. */
  readonly processes = new Map<number, Cell>();
  /** @internal nact's root cell; unlinked processes hang under it. */
  readonly nactRoot: NactSystemCell;
  /** @internal */
  nextId: number;
  /** Carries operations on refs of other nodes; installed by `setRemoteRouter`. @default undefined */
  remote: RemoteRouter | undefined = undefined;
  /** @internal */
  nextMonitorId = 1;
  private stopping: Promise<void> | undefined = undefined;

  /** @internal use `startSystem`. */
  constructor(options: SystemOptions) {
    this.node = options.node ?? `node-${Math.random().toString(36).slice(2, 10)}`;
    if (systems.has(this.node)) throw new Error(`actor system ${this.node} already runs in this process`);
    this.clock = options.clock ?? DEFAULT_SYSTEM_OPTIONS.clock;
    this.root = { node: this.node, id: 0 };
    this.nextId = options.firstId ?? 1;
    this.registry = (options.registry ?? DEFAULT_SYSTEM_OPTIONS.registry)((ref) => lookupCell(ref) !== undefined);
    this.nactRoot = startNactSystem(this.node);
    systems.set(this.node, this);
  }

  /** Number of live processes. */
  get processCount(): number {
    return this.processes.size;
  }

  /**
   * Stops every process, as an application stop does: top-level processes get
   * `shutdown` from the root in reverse start order (supervisors shut their trees
   * down), and anything left is killed. Then the nact system stops.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const top = [...this.nactRoot.children.values()].reverse() as Cell[];
      for (const cell of top) await cell.shutdownFromRoot();
      for (const cell of [...this.processes.values()]) cell.exitSignal(this.root, 'kill');
      this.nactRoot.stop();
      systems.delete(this.node);
      setRemoteRouter(this, undefined);
      if (lastSystem === this) lastSystem = undefined;
    })();
    return this.stopping;
  }
}

/** Starts the actor system of a node. */
export function startSystem(options: SystemOptions = {}): ActorSystem {
  return new ActorSystem(options);
}

/** The system running `node` in this process, if any. */
export function systemOf(node: string): ActorSystem | undefined {
  return systems.get(node);
}

/** @internal The live cell behind a ref (hot path: no allocation). */
export function lookupCell(ref: Ref): Cell | undefined {
  let s = lastSystem;
  if (s === undefined || s.node !== ref.node) {
    s = systems.get(ref.node);
    if (s === undefined) return undefined;
    lastSystem = s;
  }
  return s.processes.get(ref.id);
}

// ---- remote routing ----------------------------------------------------------

/**
 * Remote routing: the extension point through which another layer (the cluster) carries
 * operations on refs of other nodes. supervisors/ never imports that layer: it
 * consults the `RemoteRouter` installed on a system with `setRemoteRouter`.
 *
 * When a ref is remote:
 * - inside a process (`ActorContext.link/unlink/monitor/demonitor/exit`) a ref is
 *   remote when `ref.node` differs from the process's node and its system has a
 *   router;
 * - for `send`, `cast`, `call` and `exit` the caller is the process whose
 *   callback is running (tracked by the runtime), else the system root. A ref on
 *   another node goes to the caller's router. Without a known caller (code outside
 *   any callback, or after an `await`), a ref whose node runs in this JS process
 *   is reached directly and any other goes to the first system with a router.
 *   (Several clustered systems in one JS process exist only in tests.)
 *
 * The router's duties (what `cluster/` implements):
 * | method                                | must                                                            |
 * | ------------------------------------- | --------------------------------------------------------------- |
 * | send(to, kind, message)               | deliver to `handleCast`/`handleInfo` there, or drop              |
 * | call(to, request, timeoutMs)          | resolve with the reply or reject with a `CallError`             |
 * | link(local, remote) / unlink          | keep the link both ways; EXIT `noproc`/`noconnection` as in OTP |
 * | monitor(watcher, monitor, target)     | deliver exactly one DOWN (`noproc`, `noconnection`, or reason)  |
 * | demonitor(watcher, monitor)           | no DOWN afterwards                                              |
 * | exit(from, to, signal)                | apply the exit signal on the remote process                     |
 *
 * The router uses the helpers below to act on local processes for the remote side.
 */
/** Carries operations on refs of other nodes. See the table above. */
export interface RemoteRouter {
  send(to: Ref, kind: 'cast' | 'info', message: unknown): void;
  /** `send` that may wait for the end of the turn to travel with others to the same node (order with every other message kept); absent: `send`. */
  sendSoon?(to: Ref, kind: 'cast' | 'info', message: unknown): void;
  call(to: Ref, request: unknown, timeoutMs: number): Promise<unknown>;
  link(local: Ref, remote: Ref): void;
  unlink(local: Ref, remote: Ref): void;
  monitor(watcher: Ref, monitor: MonitorRef, target: Ref): void;
  demonitor(watcher: Ref, monitor: MonitorRef): void;
  exit(from: Ref, to: Ref, signal: ExitSignal): void;
}

const routed: ActorSystem[] = [];

/** Installs (or, with `undefined`, removes) the router of `system`. */
export function setRemoteRouter(system: ActorSystem, router: RemoteRouter | undefined): void {
  system.remote = router;
  const i = routed.indexOf(system);
  if (router === undefined) {
    if (i >= 0) routed.splice(i, 1);
  } else if (i < 0) routed.push(system);
}

let running: ActorSystem | undefined;

/** @internal The runtime marks whose callback runs (save the result, restore it after). */
export function enterSystem(sys: ActorSystem | undefined): ActorSystem | undefined {
  const prev = running;
  running = sys;
  return prev;
}

/**
 * @internal The router for `ref` if it is remote for the current caller, else
 * undefined (the ref is local: look it up). `cellFound` says whether a cell of
 * this JS process answers to the ref.
 */
export function remoteFor(ref: Ref, cellFound: boolean): RemoteRouter | undefined {
  const caller = running;
  if (caller !== undefined) return caller.remote !== undefined && caller.node !== ref.node ? caller.remote : undefined;
  if (cellFound || routed.length === 0) return undefined;
  for (const s of routed) if (s.node === ref.node) return undefined;
  return routed[0]!.remote;
}

/** @internal The system acting for code outside any process: the running one, else the first routed. */
export function callerSystem(): ActorSystem | undefined {
  return running ?? routed[0];
}

// ---- helpers for routers: act on local processes for the remote side ----------

/** Delivers a DOWN message for `monitor` to the local process `watcher`. */
export function deliverDown(watcher: Ref, monitor: MonitorRef, target: Ref, reason: ExitReason): void {
  lookupCell(watcher)?.deliver(K_INFO, new DownMsg(monitor, target, reason));
}

/** Applies an exit signal from (remote) `from` to the local process `to`; false if `to` is not alive. */
export function deliverExit(from: Ref, to: Ref, signal: ExitSignal): boolean {
  const cell = lookupCell(to);
  if (cell === undefined) return false;
  cell.exitSignal(from, signal);
  return true;
}

/**
 * Calls `fn(reason)` once when the local process `ref` exits; returns a function
 * that cancels it, or undefined if `ref` is not alive (nothing registered).
 */
export function onLocalExit(ref: Ref, fn: (reason: ExitReason) => void): (() => void) | undefined {
  const cell = lookupCell(ref);
  if (cell === undefined) return undefined;
  const id = cell.onDown(fn);
  return () => cell.removeDownCallback(id);
}
