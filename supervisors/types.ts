/**
 * Contracts shared by the whole layer: references, exit reasons, the messages the
 * runtime itself delivers (EXIT, DOWN). Everything here is a plain, serialisable
 * value so that the cluster layer can carry it between nodes unchanged.
 */

declare const protocolBrand: unique symbol;

/**
 * Location-transparent process reference: a value, never an object pointer.
 * `node` names the actor system (one per node), `id` is unique on that node and
 * never reused, so a restarted child has a new ref. The type parameter only
 * documents which behaviour answers (see `Protocol`); it does not exist at run time.
 */
export interface Ref<P extends Protocol = Protocol> {
  readonly node: string;
  readonly id: number;
  /** Phantom: never present at run time. */
  readonly [protocolBrand]?: P;
}

/** The message types a process accepts, carried by `Ref` for type checking only. */
export interface Protocol<Call = unknown, Reply = unknown, Cast = unknown, Info = unknown> {
  call: Call;
  reply: Reply;
  cast: Cast;
  info: Info;
}

/** A monitor, as returned by `monitor`; it names the DOWN message it produces. */
export interface MonitorRef {
  readonly node: string;
  readonly id: number;
}

/** Where a crash happened: the behaviour's `name` and the callback. */
export interface CrashSite {
  readonly module: string;
  readonly callback: CallbackName;
}

/** The callbacks a behaviour may implement; used to tag exit reasons. */
export type CallbackName = 'init' | 'handleCall' | 'handleCast' | 'handleInfo' | 'terminate' | 'codeChange';

/** An exception turned into data: safe to log (no message payload), serialisable. */
export interface CrashInfo {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  readonly where: CrashSite;
}

/**
 * Why a process ended: a closed union. Only `'normal'`, `'shutdown'` and
 * `{shutdown: x}` are not crashes (see `isNormalExit`); every other reason says
 * where it happened.
 *
 * - `'killed'`: the untrappable `kill` signal (or a nact cascade stop).
 * - `'noproc'`: the target did not exist (links, monitors, calls).
 * - `'noconnection'`: reserved for the cluster layer (node down).
 * - `{error}`: a callback threw or rejected.
 * - `{badReturn}`: a callback returned a shape its contract does not allow;
 *   only the shape is kept (`got`), never the value, which may hold payload.
 * - `{failedToStartChild}`: a supervisor could not start a child in `init`.
 * - `{callFailed}`: an awaited `call` failed and the caller let it crash.
 * - `{exit}`: an application-chosen abnormal reason, e.g. `{exit: 'protocol_violation'}`.
 */
export type ExitReason =
  | 'normal'
  | 'shutdown'
  | { readonly shutdown: unknown }
  | 'killed'
  | 'noproc'
  | 'noconnection'
  | { readonly error: CrashInfo }
  | { readonly badReturn: { readonly module: string; readonly callback: CallbackName; readonly got: string } }
  | { readonly failedToStartChild: { readonly id: string; readonly reason: ExitReason } }
  | { readonly callFailed: { readonly reason: ExitReason | 'timeout'; readonly call: readonly ['call', Ref] } }
  | { readonly exit: string };

/** An exit signal's reason: any exit reason, or `'kill'`, which cannot be trapped. */
export type ExitSignal = ExitReason | 'kill';

/** Delivered to a process that traps exits when a linked process exits (or `exit` targets it). */
export interface ExitMessage {
  readonly type: 'EXIT';
  readonly from: Ref;
  readonly reason: ExitReason;
}

/** Delivered once per monitor when the monitored process exits (`'noproc'` if it never lived). */
export interface DownMessage {
  readonly type: 'DOWN';
  readonly monitor: MonitorRef;
  readonly ref: Ref;
  readonly reason: ExitReason;
}

/** Messages the runtime itself puts in a mailbox; they reach `handleInfo`. */
export type SystemMessage = ExitMessage | DownMessage;

/** True for the reasons OTP treats as a clean exit: `normal`, `shutdown`, `{shutdown, _}`. */
export function isNormalExit(reason: ExitReason): boolean {
  return reason === 'normal' || reason === 'shutdown' || (typeof reason === 'object' && 'shutdown' in reason);
}

/** Whether two refs (or monitor refs) name the same process (or monitor). */
export function sameRef(a: { readonly node: string; readonly id: number } | undefined, b: { readonly node: string; readonly id: number } | undefined): boolean {
  return a !== undefined && b !== undefined && a.id === b.id && a.node === b.node;
}

/** A short, payload-free text for an exit reason, for logs and error messages. */
export function describeReason(reason: ExitReason | 'timeout'): string {
  if (typeof reason === 'string') return reason;
  if ('shutdown' in reason) return 'shutdown(...)';
  if ('error' in reason) return `error in ${reason.error.where.module}.${reason.error.where.callback}: ${reason.error.name}: ${reason.error.message}`;
  if ('badReturn' in reason) return `bad return from ${reason.badReturn.module}.${reason.badReturn.callback}: ${reason.badReturn.got}`;
  if ('failedToStartChild' in reason) return `failed to start child ${reason.failedToStartChild.id}: ${describeReason(reason.failedToStartChild.reason)}`;
  if ('callFailed' in reason) return `call to ${reason.callFailed.call[1].node}/${reason.callFailed.call[1].id} failed: ${describeReason(reason.callFailed.reason)}`;
  return `exit: ${reason.exit}`;
}

/** Turns a thrown value into a crash reason tagged with where it was thrown. */
export function crashReason(err: unknown, module: string, callback: CallbackName): ExitReason {
  if (err instanceof CrashSignal) return err.reason;
  const e = err instanceof Error ? err : undefined;
  return {
    error: {
      name: e?.name ?? typeof err,
      message: e?.message ?? String(err),
      stack: e?.stack,
      where: { module, callback },
    },
  };
}

/**
 * Thrown (or rejected) from a callback to exit with an exact reason; what a
 * `CallError` turns into when it escapes a callback, so a failed call crashes the
 * caller with `{callFailed: ...}` as in OTP.
 */
export class CrashSignal extends Error {
  /** The exit reason the process ends with. */
  readonly reason: ExitReason;
  constructor(reason: ExitReason, message?: string) {
    super(message ?? describeReason(reason));
    this.name = 'CrashSignal';
    this.reason = reason;
  }
}
