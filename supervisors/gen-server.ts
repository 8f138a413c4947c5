/**
 * The gen_server API: start a behaviour as a process, talk to it, stop it.
 * `call` has a timeout and fails (never hangs) when the target is missing, exits
 * before replying, or is too slow; `cast` and `send` never fail (a message to a
 * dead process is dropped, as in Erlang).
 */
import type { ActorContext, Behaviour, From } from './behaviour.ts';
import { Cell } from './cell.ts';
import { K_CALL, K_CAST, K_INFO, K_SYS } from './mailbox.ts';
import { CallRequest, type StartResult } from './runtime-messages.ts';
import { expireAfter } from './call-timeouts.ts';
import { ActorError, CallError } from './errors.ts';
import { SysRequest } from './sys-request.ts';
import { ActorSystem, lookupCell, remoteFor } from './system.ts';
import type { ExitReason, Protocol, Ref } from './types.ts';

/** Where a process is started: at the top of a system, or under (linked to) a process. */
export type SpawnParent = ActorSystem | ActorContext;

/** Options of `startLink` and `start`. */
export interface StartOptions {
  /** Registers the process under this name before `init` runs. @default undefined */
  name?: string;
}

/** gen_server's default `call` timeout. */
export const DEFAULT_CALL_TIMEOUT_MS = 5_000;

/** @internal Starts a process; synchronous when `init` is. */
export function startProcess(parent: SpawnParent, behaviour: Behaviour<unknown, unknown>, args: unknown, link: boolean, name: string | undefined): StartResult | Promise<StartResult> {
  let sys: ActorSystem;
  let parentCell: Cell | undefined;
  if (parent instanceof ActorSystem) sys = parent;
  else {
    parentCell = parent as Cell;
    sys = parentCell.actorSystem;
  }
  // Linked processes hang under their parent in nact's tree; unlinked ones under the root.
  const nactParent = link && parentCell !== undefined ? parentCell : sys.nactRoot;
  const cell = new Cell(nactParent, sys, behaviour, link ? (parentCell?.self.id ?? 0) : -1);
  if (link && parentCell !== undefined) {
    cell.addLink(parentCell);
    parentCell.addLink(cell);
  }
  if (name !== undefined && !sys.registry.register(name, cell.self)) return cell.initFailed({ exit: 'already_started' }, false);
  return cell.init(args);
}

/**
 * Starts `behaviour` as a process linked to `parent` (OTP `start_link`) and
 * resolves once `init` has returned. A process started from the system itself is
 * linked to the system root: `system.stop()` shuts it down like a supervisor would.
 */
export async function startLink<S, A, P extends Protocol>(parent: SpawnParent, behaviour: Behaviour<S, A, P>, args: A, options: StartOptions = {}): Promise<StartResult<P>> {
  return (await startProcess(parent, behaviour as unknown as Behaviour<unknown, unknown>, args, true, options.name)) as StartResult<P>;
}

/** Starts `behaviour` as an unlinked process (OTP `start`). */
export async function start<S, A, P extends Protocol>(parent: SpawnParent, behaviour: Behaviour<S, A, P>, args: A, options: StartOptions = {}): Promise<StartResult<P>> {
  return (await startProcess(parent, behaviour as unknown as Behaviour<unknown, unknown>, args, false, options.name)) as StartResult<P>;
}

/** The ref of a successful start, or throws `PARLEY_ERR_START_CHILD` with the reason. */
export function okRef<P extends Protocol>(result: StartResult<P>): Ref<P> {
  if (typeof result === 'object' && 'ok' in result) return result.ok;
  throw new ActorError('PARLEY_ERR_START_CHILD', 'start failed', result === 'ignore' ? { exit: 'ignore' } : result.error);
}

/**
 * Sends `request` and waits for the reply. Rejects with a `CallError`:
 * `PARLEY_ERR_CALL_NOPROC` (no such process), `PARLEY_ERR_CALL_EXIT` (it exited
 * first), `PARLEY_ERR_CALL_TIMEOUT` (no reply within `timeoutMs`; a late reply is dropped).
 */
export function call<P extends Protocol>(ref: Ref<P>, request: P['call'], timeoutMs: number = DEFAULT_CALL_TIMEOUT_MS): Promise<P['reply']> {
  const cell = lookupCell(ref);
  const remote = remoteFor(ref, cell !== undefined);
  if (remote !== undefined) return remote.call(ref, request, timeoutMs);
  if (cell === undefined) return Promise.reject(new CallError('noproc', ref));
  const req = new CallRequest(request, cell);
  (cell.calls ??= new Set()).add(req);
  if (timeoutMs !== Infinity) expireAfter(req, timeoutMs);
  cell.deliver(K_CALL, req);
  return req.promise;
}

/** Answers a call that `handleCall` left open with `{noreply}`. */
export function reply<R>(from: From<R>, value: R): void {
  (from as unknown as CallRequest).settle(value);
}

/** Sends a message to `handleCast`. */
export function cast<P extends Protocol>(ref: Ref<P>, message: P['cast']): void {
  castVia(ref, message, false);
}

/**
 * `cast` for a message that may wait for the end of this event-loop turn to
 * share one network message with the others of the turn to the same remote
 * node: for casts the sender sends many of. Order is that of `cast`: nothing
 * sent later from this node to that node overtakes it. Local: the same as
 * `cast`.
 */
export function castSoon<P extends Protocol>(ref: Ref<P>, message: P['cast']): void {
  castVia(ref, message, true);
}

function castVia<P extends Protocol>(ref: Ref<P>, message: P['cast'], soon: boolean): void {
  const cell = lookupCell(ref);
  const remote = remoteFor(ref, cell !== undefined);
  if (remote === undefined) cell?.deliver(K_CAST, message);
  else if (soon && remote.sendSoon !== undefined) remote.sendSoon(ref, 'cast', message);
  else remote.send(ref, 'cast', message);
}

/** Sends a plain message to `handleInfo` (Erlang's `!`). */
export function send<P extends Protocol>(ref: Ref<P>, message: P['info']): void {
  const cell = lookupCell(ref);
  const remote = remoteFor(ref, cell !== undefined);
  if (remote !== undefined) remote.send(ref, 'info', message);
  else cell?.deliver(K_INFO, message);
}

/** Whether `ref` names a live process of this JS process (a remote ref answers false: ask its node). */
export function isAlive(ref: Ref): boolean {
  return lookupCell(ref) !== undefined;
}

/**
 * Asks the process to stop with `reason` (after the messages already queued);
 * `terminate` runs. Resolves when it has exited; rejects `PARLEY_ERR_NOPROC` if it
 * does not exist.
 */
export function stop(ref: Ref, reason: ExitReason = 'normal'): Promise<void> {
  const cell = lookupCell(ref);
  if (cell === undefined) return Promise.reject(new ActorError('PARLEY_ERR_NOPROC', 'no such process'));
  return new Promise((resolve, reject) => {
    cell.onDown(() => resolve());
    cell.deliver(K_SYS, new SysRequest('stop', reason, undefined, () => resolve(), reject));
  });
}
