/**
 * The gen_server-like behaviour: what a process module implements. This header
 * is the whole contract (a test checks that the table names exactly the methods
 * of `Behaviour`, so the two cannot drift apart as OTP's prose table did).
 *
 * | callback                               | returns (or a Promise of it)                                        |
 * | -------------------------------------- | ------------------------------------------------------------------- |
 * | init(args, ctx)                        | {ok: state} · {stop: reason} · 'ignore'                              |
 * | handleCall(request, from, state, ctx)  | {reply: r, state} · {noreply: state} · {stop: reason, reply?: r, state} |
 * | handleCast(message, state, ctx)        | {noreply: state} · {stop: reason, state}                             |
 * | handleInfo(message, state, ctx)        | {noreply: state} · {stop: reason, state}                             |
 * | terminate(reason, state, ctx)          | anything (ignored)                                                   |
 * | codeChange(oldVsn, state, extra)       | {ok: state} · {error: reason}                                        |
 *
 * - `init` runs before `startLink` resolves; `'ignore'` ends the process quietly.
 * - `handleCall` with `{noreply}` must answer later with `reply(from, r)`.
 * - `handleInfo` receives plain sends (`send`) and the runtime's EXIT/DOWN messages.
 *   Missing, it drops the message (as gen_server's default logs and drops).
 * - `terminate` runs when the process stops itself (a `{stop}` result, a throw,
 *   `stop(ref)`) or, if it traps exits, on its parent's EXIT (supervisor shutdown).
 *   It does not run on an untrapped exit signal or `kill`.
 * - `codeChange` is called on the *new* behaviour by `changeCode` while the process
 *   is suspended; missing, the state is kept as it is.
 * - Any callback may throw: the process exits with `{error: {..., where}}` after
 *   `terminate` (except when `init` or `terminate` itself threw).
 * - A callback returning a Promise blocks the mailbox until it settles, as a
 *   gen_server is busy until its callback returns.
 */
import type { ActorSystem } from './system.ts';
import type { ExitReason, ExitSignal, MonitorRef, Protocol, Ref, SystemMessage } from './types.ts';

declare const replyBrand: unique symbol;

/** Opaque reply token given to `handleCall`; pass it to `reply` to answer later. */
export interface From<R = unknown> {
  /** Phantom: never present at run time. */
  readonly [replyBrand]?: R;
}

/** What `init` may return. */
export type InitResult<S> = { readonly ok: S } | { readonly stop: ExitReason } | 'ignore';

/** What `handleCall` may return. */
export type CallResult<S, R> =
  | { readonly reply: R; readonly state: S }
  | { readonly noreply: S }
  | { readonly stop: ExitReason; readonly reply?: R; readonly state: S };

/** What `handleCast` and `handleInfo` may return. */
export type NoReplyResult<S> = { readonly noreply: S } | { readonly stop: ExitReason; readonly state: S };

/** What `codeChange` may return. */
export type CodeChangeResult<S> = { readonly ok: S } | { readonly error: string };

/** A value or a promise of it: every callback may be async. */
export type Awaitable<T> = T | Promise<T>;

/** The version of a behaviour, compared by `codeChange`. */
export type Vsn = string | number | undefined;

/**
 * A process module, gen_server-style. `S` is the state, `A` the `init` argument,
 * `P` the messages it accepts (see `Protocol`).
 */
export interface Behaviour<S = unknown, A = unknown, P extends Protocol = Protocol> {
  /** Module name used in exit reasons and reports. */
  readonly name: string;
  /** Version, passed to the next version's `codeChange` as `oldVsn`. @default undefined */
  readonly vsn?: Vsn;
  init(args: A, ctx: ActorContext<P>): Awaitable<InitResult<S>>;
  handleCall?(request: P['call'], from: From<P['reply']>, state: S, ctx: ActorContext<P>): Awaitable<CallResult<S, P['reply']>>;
  handleCast?(message: P['cast'], state: S, ctx: ActorContext<P>): Awaitable<NoReplyResult<S>>;
  handleInfo?(message: P['info'] | SystemMessage, state: S, ctx: ActorContext<P>): Awaitable<NoReplyResult<S>>;
  terminate?(reason: ExitReason, state: S, ctx: ActorContext<P>): unknown;
  codeChange?(oldVsn: Vsn, state: unknown, extra: unknown): Awaitable<CodeChangeResult<S>>;
}

/**
 * What a callback may do to its own process. The same object is passed to every
 * callback of one process (it is allocated once per process, not per message).
 */
export interface ActorContext<P extends Protocol = Protocol> {
  /** This process. */
  readonly self: Ref<P>;
  /** The actor system (node) this process runs on: its registry, reports, clock. */
  readonly actorSystem: ActorSystem;
  /** nact path of the process, e.g. `node-a://7/9/812` (one segment per ancestor id). */
  readonly treePath: string;
  /** Whether this process traps exits. */
  readonly trapsExits: boolean;
  /** Sets the trap-exit flag; returns the previous value. */
  trapExit(flag: boolean): boolean;
  /** Links this process with `ref`; a dead or unknown `ref` sends this process `noproc`. */
  link(ref: Ref): void;
  /** Removes a link (both directions). */
  unlink(ref: Ref): void;
  /** Monitors `ref`: exactly one DOWN message follows (`noproc` if `ref` is already dead). */
  monitor(ref: Ref): MonitorRef;
  /** Removes a monitor; no DOWN follows unless it was already queued. */
  demonitor(monitor: MonitorRef): void;
  /** Sends an exit signal from this process to `ref` (`'kill'` cannot be trapped). */
  exit(ref: Ref, reason: ExitSignal): void;
}
