/**
 * A process: nact's actor cell (name, path, parent/children maps, denque mailbox)
 * running a `Behaviour` under the scheduler of `scheduler.ts`, with OTP exit
 * semantics (links, monitors, trap_exit, kill).
 *
 * Mailbox entries are two slots, `kind, payload`, pushed into nact's denque, so
 * a send allocates nothing. Exit signals are applied synchronously: a process
 * that is on the JS stack when one reaches it (its own callback caused it)
 * records it in `pendingExit` and dies as soon as the callback returns; one that
 * awaits an async callback dies at once and the late result is ignored.
 *
 * Every field is declared here; nact's constructor adds its own (`parent`,
 * `children`, `mailbox`, `state`, `path`, ...), which we reuse rather than copy.
 */
import type { ActorContext, Behaviour, CallResult, From, InitResult, NoReplyResult } from './behaviour.ts';
import { ActorError } from './errors.ts';
import { F_BLOCKED, F_DEAD, F_EXITING, F_RUNNING, F_STARTING, F_SUSPENDED, F_TRAP, K_CALL, K_CAST, K_INFO, K_SYS, UNDEFINED } from './mailbox.ts';
import { CallRequest, DownMsg, ExitMsg, isThenable, shapeOf, type DownCallback, type StartResult } from './runtime-messages.ts';
import { NactActor, type NactParent } from './nact-bridge.ts';
import type { Report, ReportKind } from './reports.ts';
import { schedule, type Runnable } from './scheduler.ts';
import { enterSystem, lookupCell, type ActorSystem } from './system.ts';
import {
  crashReason,
  isNormalExit,
  type CallbackName,
  type ExitReason,
  type ExitSignal,
  type MonitorRef,
  type Ref,
} from './types.ts';
import { SysRequest } from './sys-request.ts';

const CALLBACK_OF: readonly CallbackName[] = ['handleCast', 'handleInfo', 'handleCall', 'codeChange'];
const NACT_PROPS = { afterStop: (): void => {}, onCrash: (): symbol => Symbol.for('parley.unused') };
const noopActorFn = (state: unknown): unknown => state;

/** One process. Internal: user code sees it only as `ActorContext`. */
export class Cell extends NactActor implements ActorContext, Runnable {
  queued = false;
  flags = F_STARTING;
  readonly self: Ref;
  readonly actorSystem: ActorSystem;
  behaviour: Behaviour<unknown, unknown>;
  /** Ref id of the linked parent whose EXIT means "terminate" (0 = system root). */
  readonly parentId: number;
  /** The one link most processes have (to their supervisor); more go to `links`. */
  link1: Cell | null = null;
  links: Set<Cell> | null = null;
  /** Watchers of this process: a process (gets DOWN) or an internal callback. */
  monitors: Map<number, Cell | DownCallback> | null = null;
  /** Monitors this process holds, to drop them when it exits. */
  watching: Map<number, Cell> | null = null;
  /** Calls received and not yet answered; failed with the exit reason if this process dies. */
  calls: Set<CallRequest> | null = null;
  /** System messages taken aside while suspended (they are the only ones handled then). */
  sysQueue: SysRequest[] | null = null;
  exitReason: ExitReason | undefined = undefined;
  pendingExit: ExitReason | undefined = undefined;
  readonly startedAt = performance.now();
  handled = 0;
  restarts = 0;
  childId: string | undefined = undefined;

  constructor(nactParent: NactParent, system: ActorSystem, behaviour: Behaviour<unknown, unknown>, parentId: number) {
    const id = system.nextId++;
    super(nactParent, String(id), nactParent.system, noopActorFn, NACT_PROPS);
    this.self = { node: system.node, id };
    this.actorSystem = system;
    this.behaviour = behaviour;
    this.parentId = parentId;
    system.processes.set(id, this);
  }

  // ---- ActorContext --------------------------------------------------------

  get treePath(): string {
    return (this as unknown as { path: { toString(): string } }).path.toString();
  }

  trapExit(flag: boolean): boolean {
    const old = (this.flags & F_TRAP) !== 0;
    this.flags = flag ? this.flags | F_TRAP : this.flags & ~F_TRAP;
    return old;
  }

  get trapsExits(): boolean {
    return (this.flags & F_TRAP) !== 0;
  }

  link(ref: Ref): void {
    const remote = ref.node !== this.self.node ? this.actorSystem.remote : undefined;
    if (remote !== undefined) return remote.link(this.self, ref);
    const other = lookupCell(ref);
    if (other === undefined) {
      this.exitSignal(ref, 'noproc');
      return;
    }
    if (other === this) return;
    this.addLink(other);
    other.addLink(this);
  }

  unlink(ref: Ref): void {
    const remote = ref.node !== this.self.node ? this.actorSystem.remote : undefined;
    if (remote !== undefined) return remote.unlink(this.self, ref);
    const other = lookupCell(ref);
    if (other === undefined) return;
    this.removeLink(other);
    other.removeLink(this);
  }

  monitor(ref: Ref): MonitorRef {
    const sys = this.actorSystem;
    const monitor: MonitorRef = { node: sys.node, id: sys.nextMonitorId++ };
    if (ref.node !== sys.node && sys.remote !== undefined) {
      sys.remote.monitor(this.self, monitor, ref);
      return monitor;
    }
    const target = lookupCell(ref);
    if (target === undefined) {
      this.deliver(K_INFO, new DownMsg(monitor, ref, 'noproc'));
      return monitor;
    }
    (target.monitors ??= new Map()).set(monitor.id, this);
    (this.watching ??= new Map()).set(monitor.id, target);
    return monitor;
  }

  demonitor(monitor: MonitorRef): void {
    const target = this.watching?.get(monitor.id);
    if (target === undefined) {
      this.actorSystem.remote?.demonitor(this.self, monitor);
      return;
    }
    this.watching!.delete(monitor.id);
    target.monitors?.delete(monitor.id);
  }

  exit(ref: Ref, reason: ExitSignal): void {
    const remote = ref.node !== this.self.node ? this.actorSystem.remote : undefined;
    if (remote !== undefined) return remote.exit(this.self, ref, reason);
    lookupCell(ref)?.exitSignal(this.self, reason);
  }

  // ---- links and monitors (internal) ---------------------------------------

  addLink(other: Cell): void {
    if (this.link1 === other || this.links?.has(other)) return;
    if (this.link1 === null) this.link1 = other;
    else (this.links ??= new Set()).add(other);
  }

  removeLink(other: Cell): void {
    if (this.link1 === other) this.link1 = null;
    else this.links?.delete(other);
  }

  linkCount(): number {
    return (this.link1 === null ? 0 : 1) + (this.links?.size ?? 0);
  }

  /** Registers an internal DOWN callback; returns its id (for `removeDownCallback`). */
  onDown(cb: DownCallback): number {
    const id = this.actorSystem.nextMonitorId++;
    (this.monitors ??= new Map()).set(id, cb);
    return id;
  }

  removeDownCallback(id: number): void {
    this.monitors?.delete(id);
  }

  /** An exit signal reaches this process (OTP's signal semantics). */
  exitSignal(from: Ref, signal: ExitSignal): void {
    if ((this.flags & F_DEAD) !== 0) return;
    if (signal === 'kill') return this.die('killed', false);
    if ((this.flags & F_TRAP) !== 0) {
      this.deliver(K_INFO, new ExitMsg(from, signal));
      return;
    }
    if (signal === 'normal' && from.id !== this.self.id) return;
    this.die(signal, false);
  }

  // ---- mailbox and scheduling ----------------------------------------------

  /** Enqueues a message; false if this process is dead (the message is dropped, as in Erlang). */
  deliver(kind: number, payload: unknown): boolean {
    const f = this.flags;
    if ((f & F_DEAD) !== 0) return false;
    if (kind === K_SYS && (f & F_SUSPENDED) !== 0) {
      (this.sysQueue ??= []).push(payload as SysRequest);
      if ((f & (F_RUNNING | F_BLOCKED)) === 0) schedule(this);
      return true;
    }
    const mb = this.mailbox;
    mb.push(kind);
    mb.push(payload === undefined ? UNDEFINED : payload);
    if (!this.queued && (f & (F_RUNNING | F_BLOCKED | F_SUSPENDED | F_STARTING)) === 0) schedule(this);
    return true;
  }

  runnable(): boolean {
    const f = this.flags;
    if ((f & (F_RUNNING | F_BLOCKED | F_DEAD | F_STARTING)) !== 0) return false;
    if (this.sysQueue !== null && this.sysQueue.length > 0) return true;
    return (f & F_SUSPENDED) === 0 && !this.mailbox.isEmpty();
  }

  /** Reschedules after a state change outside the scheduler's loop. */
  wake(): void {
    if (this.runnable()) schedule(this);
  }

  runSlice(max: number): number {
    const prev = enterSystem(this.actorSystem);
    try {
      return this.runMessages(max);
    } finally {
      enterSystem(prev);
    }
  }

  private runMessages(max: number): number {
    let n = 0;
    const mb = this.mailbox;
    while (n < max) {
      const f = this.flags;
      if ((f & (F_BLOCKED | F_DEAD | F_STARTING)) !== 0) break;
      const sq = this.sysQueue;
      if (sq !== null && sq.length > 0) {
        n++;
        this.handleSys(sq.shift()!);
        continue;
      }
      if ((f & F_SUSPENDED) !== 0 || mb.isEmpty()) break;
      const kind = mb.shift() as number;
      const payload = mb.shift();
      n++;
      this.handled++;
      if (kind === K_SYS) this.handleSys(payload as SysRequest);
      else this.invoke(kind, payload === UNDEFINED ? undefined : payload);
    }
    return n;
  }

  private invoke(kind: number, payload: unknown): void {
    const beh = this.behaviour;
    let result: unknown;
    this.flags |= F_RUNNING;
    try {
      if (kind === K_CAST) result = beh.handleCast!(payload, this.state, this);
      else if (kind === K_CALL) result = beh.handleCall!((payload as CallRequest).request, payload as From, this.state, this);
      else if (payload instanceof ExitMsg && payload.from.id === this.parentId && payload.from.node === this.self.node) {
        // gen_server: an EXIT from the parent means "terminate now" (supervisor shutdown).
        this.flags &= ~F_RUNNING;
        this.stopWith(payload.reason);
        return;
      } else if (beh.handleInfo === undefined) {
        this.flags &= ~F_RUNNING;
        return;
      } else result = beh.handleInfo(payload, this.state, this);
    } catch (err) {
      this.flags &= ~F_RUNNING;
      this.fail(crashReason(err, beh.name, CALLBACK_OF[kind]!));
      return;
    }
    this.flags &= ~F_RUNNING;
    if (this.pendingExit !== undefined) return this.die(this.pendingExit, false);
    if (isThenable(result)) {
      this.flags |= F_BLOCKED;
      result.then(
        (r) => this.resumeWith(kind, payload, r),
        (err) => this.resumeFailed(kind, err),
      );
      return;
    }
    this.apply(kind, payload, result);
  }

  private resumeWith(kind: number, payload: unknown, result: unknown): void {
    if ((this.flags & F_DEAD) !== 0) return;
    this.flags &= ~F_BLOCKED;
    this.apply(kind, payload, result);
    this.wake();
  }

  private resumeFailed(kind: number, err: unknown): void {
    if ((this.flags & F_DEAD) !== 0) return;
    this.flags &= ~F_BLOCKED;
    this.fail(crashReason(err, this.behaviour.name, CALLBACK_OF[kind]!));
  }

  private apply(kind: number, payload: unknown, result: unknown): void {
    if (typeof result === 'object' && result !== null) {
      if ('stop' in result) {
        const r = result as { stop: ExitReason; reply?: unknown; state?: unknown };
        if (kind === K_CALL && 'reply' in r) (payload as CallRequest).settle(r.reply);
        if ('state' in r) this.state = r.state;
        return this.stopWith(r.stop);
      }
      if (kind === K_CALL && 'reply' in result) {
        const r = result as CallResult<unknown, unknown> & { reply: unknown; state: unknown };
        this.state = r.state;
        (payload as CallRequest).settle(r.reply);
        return;
      }
      if ('noreply' in result) {
        this.state = (result as NoReplyResult<unknown> & { noreply: unknown }).noreply;
        return;
      }
    }
    this.fail({ badReturn: { module: this.behaviour.name, callback: CALLBACK_OF[kind]!, got: shapeOf(result) } });
  }

  // ---- start ---------------------------------------------------------------

  /** Runs `init`; the cell is already in the process table and linked. */
  init(args: unknown): StartResult | Promise<StartResult> {
    const beh = this.behaviour;
    let result: unknown;
    this.flags |= F_RUNNING;
    const prev = enterSystem(this.actorSystem);
    try {
      result = beh.init(args, this);
    } catch (err) {
      this.flags &= ~F_RUNNING;
      return this.initFailed(crashReason(err, beh.name, 'init'));
    } finally {
      enterSystem(prev);
    }
    this.flags &= ~F_RUNNING;
    if (isThenable(result)) {
      return Promise.resolve(result).then(
        (r) => this.initDone(r),
        (err: unknown) => this.initFailed(crashReason(err, beh.name, 'init')),
      );
    }
    return this.initDone(result);
  }

  private initDone(result: unknown): StartResult {
    if ((this.flags & F_DEAD) !== 0) return { error: this.exitReason! };
    if (this.pendingExit !== undefined) return this.initFailed(this.pendingExit);
    if (result === 'ignore') {
      this.unlinkParent();
      this.die('normal', false);
      return 'ignore';
    }
    if (typeof result === 'object' && result !== null) {
      if ('ok' in result) {
        this.state = (result as InitResult<unknown> & { ok: unknown }).ok;
        this.flags &= ~F_STARTING;
        this.wake();
        return { ok: this.self };
      }
      if ('stop' in result) return this.initFailed((result as { stop: ExitReason }).stop);
    }
    return this.initFailed({ badReturn: { module: this.behaviour.name, callback: 'init', got: shapeOf(result) } });
  }

  /** OTP 26 `init_fail`: unlink the parent first, so it gets `{error}` and no EXIT. */
  initFailed(reason: ExitReason, report = true): StartResult {
    if ((this.flags & F_DEAD) !== 0) return { error: this.exitReason! };
    this.unlinkParent();
    this.flags &= ~F_RUNNING;
    this.die(reason, report);
    return { error: reason };
  }

  private unlinkParent(): void {
    const p = lookupCell({ node: this.self.node, id: this.parentId });
    if (p !== undefined) {
      p.removeLink(this);
      this.removeLink(p);
    }
  }

  // ---- stop and exit -------------------------------------------------------

  /** The process crashed in a callback: terminate runs, then it exits with `reason`. */
  fail(reason: ExitReason): void {
    this.stopWith(reason);
  }

  /** The process stops itself: `terminate(reason)`, then exit. */
  stopWith(reason: ExitReason): void {
    if ((this.flags & (F_DEAD | F_EXITING)) !== 0) return;
    const beh = this.behaviour;
    this.flags |= F_EXITING;
    if (beh.terminate === undefined) return this.die(reason, true);
    let result: unknown;
    this.flags |= F_RUNNING;
    try {
      result = beh.terminate(reason, this.state, this);
    } catch (err) {
      this.flags &= ~F_RUNNING;
      return this.die(crashReason(err, beh.name, 'terminate'), true);
    }
    this.flags &= ~F_RUNNING;
    if (this.pendingExit !== undefined) return this.die(this.pendingExit, false);
    if (isThenable(result)) {
      this.flags |= F_BLOCKED;
      result.then(
        () => this.die(reason, true),
        (err: unknown) => this.die(crashReason(err, beh.name, 'terminate'), true),
      );
      return;
    }
    this.die(reason, true);
  }

  /**
   * The process is gone: leave the table, the registry and nact's hierarchy,
   * fail pending calls, signal links, deliver DOWNs. `own` is true when the
   * process ended by itself (a crash report is due if the reason is abnormal).
   */
  die(reason: ExitReason, own: boolean): void {
    if ((this.flags & F_DEAD) !== 0) return;
    if ((this.flags & F_RUNNING) !== 0) {
      this.pendingExit ??= reason;
      return;
    }
    this.flags = F_DEAD;
    this.exitReason = reason;
    const sys = this.actorSystem;
    const self = this.self;
    sys.processes.delete(self.id);
    sys.registry.processExited(self);
    this.mailbox.clear();
    const calls = this.calls;
    if (calls !== null) {
      this.calls = null;
      for (const c of calls) c.fail(reason);
    }
    const sq = this.sysQueue;
    if (sq !== null) {
      this.sysQueue = null;
      for (const r of sq) r.fail(new ActorError('PARLEY_ERR_NOPROC', 'process exited', reason));
    }
    const watching = this.watching;
    if (watching !== null) {
      this.watching = null;
      for (const [id, target] of watching) target.monitors?.delete(id);
    }
    const l1 = this.link1;
    const links = this.links;
    this.link1 = null;
    this.links = null;
    if (l1 !== null) {
      l1.removeLink(this);
      l1.exitSignal(self, reason);
    }
    if (links !== null) {
      for (const l of links) {
        l.removeLink(this);
        l.exitSignal(self, reason);
      }
    }
    const monitors = this.monitors;
    if (monitors !== null) {
      this.monitors = null;
      for (const [id, w] of monitors) {
        if (typeof w === 'function') w(reason);
        else {
          w.watching?.delete(id);
          w.deliver(K_INFO, new DownMsg({ node: self.node, id }, self, reason));
        }
      }
    }
    const parent = this.parent;
    if (parent !== undefined) {
      parent.childStopped(this);
      this.parent = undefined;
    }
    this.stopped = true;
    if (own && !isNormalExit(reason) && sys.reports.active) this.report('crash', reason);
    this.state = undefined;
  }

  /** Emits a report about this process. */
  report(kind: ReportKind, reason: ExitReason | undefined): void {
    const sys = this.actorSystem;
    const parent = lookupCell({ node: this.self.node, id: this.parentId });
    const r: Report = {
      kind,
      at: Date.now(),
      node: sys.node,
      supervisor: parent?.treePath,
      childId: this.childId,
      ref: this.self,
      behaviour: this.behaviour.name,
      reason,
      stack: reason !== undefined && typeof reason === 'object' && 'error' in reason ? reason.error.stack : undefined,
    };
    sys.reports.emit(r);
  }

  /**
   * System stop: a process started linked to the system gets `shutdown` from the
   * root, its parent, and is awaited (a supervisor shuts its tree down); an
   * unlinked one has no parent to obey, so it is killed.
   */
  shutdownFromRoot(): Promise<void> {
    if ((this.flags & F_DEAD) !== 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onDown(() => resolve());
      this.exitSignal(this.actorSystem.root, this.parentId === 0 ? 'shutdown' : 'kill');
    });
  }

  // ---- system messages (sys.ts) --------------------------------------------

  private handleSys(req: SysRequest): void {
    req.run(this);
  }

  get suspended(): boolean {
    return (this.flags & F_SUSPENDED) !== 0;
  }

  // ---- nact entry points ---------------------------------------------------

  /** nact's `dispatch(ref, msg)` reaches `handleInfo`. */
  dispatch(message: unknown): void {
    this.deliver(K_INFO, message);
  }

  /** nact's stop (cascade from a stopped nact parent or system) kills the process. */
  stop(): void {
    this.die('killed', false);
  }

  /** nact would copy the children map into every context; nothing here needs it. */
  createContext(): { self: unknown; path: unknown } {
    return { self: (this as unknown as { reference: unknown }).reference, path: (this as unknown as { path: unknown }).path };
  }
}
