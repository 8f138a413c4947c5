/**
 * The API shared by every supervisor kind (static, dynamic, partition), OTP's
 * `supervisor:start_child/terminate_child/...`: each is a `call` to the
 * supervisor with no timeout (as OTP's `infinity`), and failures are thrown as
 * `ActorError` with a stable code.
 */
import type { ActorContext } from './behaviour.ts';
import type { Cell } from './cell.ts';
import type { StartResult } from './runtime-messages.ts';
import type { ChildSpec, ChildType, RestartType } from './child-spec.ts';
import { ActorError, type ActorErrorCode } from './errors.ts';
import { call } from './gen-server.ts';
import type { ReportKind } from './reports.ts';
import { lookupCell } from './system.ts';
import type { ExitReason, Protocol, Ref } from './types.ts';

/** The requests a supervisor answers. */
export type SupervisorRequest =
  | { readonly op: 'startChild'; readonly spec: ChildSpec }
  | { readonly op: 'terminateChild'; readonly id: string | Ref }
  | { readonly op: 'restartChild'; readonly id: string }
  | { readonly op: 'deleteChild'; readonly id: string }
  | { readonly op: 'whichChildren' }
  | { readonly op: 'countChildren' };

/** A supervisor's answer: a value, or an error code (thrown on the caller's side). */
export type SupervisorReply = { readonly ok: unknown } | { readonly err: ActorErrorCode; readonly message: string; readonly reason?: ExitReason };

/** The supervisor protocol, for typed refs. */
export type SupervisorProtocol = Protocol<SupervisorRequest, SupervisorReply, never, never>;

/** One child as `whichChildren` lists it. */
export interface ChildInfo {
  /** Child id (`undefined` in a dynamic supervisor, as OTP's). */
  readonly id: string | undefined;
  /** The running process, or undefined when the child is not running. */
  readonly ref: Ref | undefined;
  readonly type: ChildType;
  readonly restart: RestartType;
}

/** `countChildren`'s answer, as OTP's. */
export interface ChildCounts {
  /** Child specs (static) or children (dynamic). */
  readonly specs: number;
  /** Running children. */
  readonly active: number;
  readonly supervisors: number;
  readonly workers: number;
}

async function ask(sup: Ref, request: SupervisorRequest): Promise<unknown> {
  const r = (await call(sup as Ref<SupervisorProtocol>, request, Infinity)) as SupervisorReply;
  if ('err' in r) throw new ActorError(r.err, r.message, r.reason);
  return r.ok;
}

/**
 * Starts a child under `sup`. Resolves with its ref (undefined if its start
 * returned `'ignore'`). Throws `PARLEY_ERR_START_CHILD` (its start failed),
 * `PARLEY_ERR_CHILD_ALREADY_STARTED`, `PARLEY_ERR_CHILD_ALREADY_PRESENT`,
 * `PARLEY_ERR_MAX_CHILDREN`, `PARLEY_ERR_BAD_SPEC`.
 */
export async function startChild(sup: Ref, spec: ChildSpec): Promise<Ref | undefined> {
  return (await ask(sup, { op: 'startChild', spec })) as Ref | undefined;
}

/**
 * Shuts a child down (by id; by ref in a dynamic supervisor). A static
 * supervisor keeps the spec (except for a temporary child) so `restartChild` can
 * start it again. Throws `PARLEY_ERR_CHILD_NOT_FOUND`.
 */
export async function terminateChild(sup: Ref, id: string | Ref): Promise<void> {
  await ask(sup, { op: 'terminateChild', id });
}

/** Starts a terminated child again from its spec. Throws `PARLEY_ERR_CHILD_RUNNING`, `PARLEY_ERR_CHILD_NOT_FOUND`, `PARLEY_ERR_START_CHILD`. */
export async function restartChild(sup: Ref, id: string): Promise<Ref | undefined> {
  return (await ask(sup, { op: 'restartChild', id })) as Ref | undefined;
}

/** Removes a terminated child's spec. Throws `PARLEY_ERR_CHILD_RUNNING`, `PARLEY_ERR_CHILD_NOT_FOUND`. */
export async function deleteChild(sup: Ref, id: string): Promise<void> {
  await ask(sup, { op: 'deleteChild', id });
}

/** The children in start order. */
export async function whichChildren(sup: Ref): Promise<ChildInfo[]> {
  return (await ask(sup, { op: 'whichChildren' })) as ChildInfo[];
}

/** Counts of children. */
export async function countChildren(sup: Ref): Promise<ChildCounts> {
  return (await ask(sup, { op: 'countChildren' })) as ChildCounts;
}

// ---- helpers for supervisor implementations ---------------------------------

/** @internal Error answer. */
export function failure(err: ActorErrorCode, message: string, reason?: ExitReason): SupervisorReply {
  return reason === undefined ? { err, message } : { err, message, reason };
}

/** @internal Retry a failed restart later (OTP's `try_again_restart`), as a message to self. */
export class TryAgainRestart<K> {
  constructor(readonly key: K) {}
}

/** @internal A supervisor report with its path and the child's id. */
export function supervisorReport(ctx: ActorContext, kind: ReportKind, childId: string | undefined, ref: Ref | undefined, reason: ExitReason | undefined): void {
  const sys = ctx.actorSystem;
  if (!sys.reports.active) return;
  const child = ref === undefined ? undefined : lookupCell(ref);
  sys.reports.emit({
    kind,
    at: Date.now(),
    node: sys.node,
    supervisor: ctx.treePath,
    childId,
    ref,
    behaviour: child?.behaviour.name,
    reason,
    stack: reason !== undefined && typeof reason === 'object' && 'error' in reason ? reason.error.stack : undefined,
  });
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

/** @internal Runs a spec's start function; a throw becomes `{error}`. Synchronous when the start is. */
export function runStart(ctx: ActorContext, start: (p: ActorContext) => StartResult | Promise<StartResult>, module: string): StartResult | Promise<StartResult> {
  let r: StartResult | Promise<StartResult>;
  try {
    r = start(ctx);
  } catch (err) {
    return { error: toError(err, module) };
  }
  if (isThenable(r)) return Promise.resolve(r).catch((err: unknown): StartResult => ({ error: toError(err, module) }));
  return r;
}

function toError(err: unknown, module: string): ExitReason {
  const e = err instanceof Error ? err : undefined;
  return { error: { name: e?.name ?? typeof err, message: e?.message ?? String(err), stack: e?.stack, where: { module, callback: 'init' } } };
}

/** @internal Marks a started child's process with its id and restart count (for reports and `getStatus`). */
export function tagChild(ref: Ref, childId: string | undefined, restarts: number): void {
  const cell: Cell | undefined = lookupCell(ref);
  if (cell !== undefined) {
    cell.childId = childId;
    cell.restarts = restarts;
  }
}

/** @internal Whether a start result is `{ok}`. */
export function started(r: StartResult): r is { readonly ok: Ref } {
  return typeof r === 'object' && 'ok' in r;
}
