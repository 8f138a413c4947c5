/**
 * System messages (OTP `sys`): they travel in the mailbox in order with other
 * messages, and are the only ones a suspended process handles.
 */
import type { Behaviour } from './behaviour.ts';
import type { Cell } from './cell.ts';
import { F_BLOCKED, F_DEAD, F_EXITING, F_STARTING, F_SUSPENDED, K_SYS } from './mailbox.ts';
import { ActorError } from './errors.ts';
import { crashReason, type ExitReason } from './types.ts';

/** The system operations. */
export type SysOp = 'getState' | 'suspend' | 'resume' | 'changeCode' | 'stop';

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

/** One system message and its caller's promise. */
export class SysRequest {
  constructor(
    readonly op: SysOp,
    readonly arg: unknown,
    readonly extra: unknown,
    readonly resolve: (value: unknown) => void,
    readonly reject: (err: unknown) => void,
  ) {}

  /** Fails the request (the process exited before handling it). */
  fail(err: unknown): void {
    this.reject(err);
  }

  /** Handles the request inside the process's turn. */
  run(cell: Cell): void {
    switch (this.op) {
      case 'getState':
        this.resolve(cell.state);
        return;
      case 'suspend':
        suspendCell(cell);
        this.resolve(undefined);
        return;
      case 'resume':
        resumeCell(cell);
        this.resolve(undefined);
        return;
      case 'stop':
        // The caller resolves on the DOWN it registered before sending.
        cell.stopWith(this.arg as ExitReason);
        return;
      case 'changeCode':
        this.changeCode(cell);
        return;
    }
  }

  private changeCode(cell: Cell): void {
    if (!cell.suspended) {
      this.reject(new ActorError('PARLEY_ERR_NOT_SUSPENDED', 'changeCode needs a suspended process (call suspend first)'));
      return;
    }
    const next = this.arg as Behaviour<unknown, unknown>;
    const oldVsn = cell.behaviour.vsn;
    const finish = (r: unknown): void => {
      if (typeof r === 'object' && r !== null && 'ok' in r) {
        cell.state = (r as { ok: unknown }).ok;
        cell.behaviour = next;
        this.resolve(undefined);
      } else {
        const why = typeof r === 'object' && r !== null && 'error' in r ? String((r as { error: unknown }).error) : 'bad return';
        this.reject(new ActorError('PARLEY_ERR_CODE_CHANGE', `codeChange of ${next.name} refused`, { exit: why }));
      }
    };
    const failed = (err: unknown): void => {
      this.reject(new ActorError('PARLEY_ERR_CODE_CHANGE', `codeChange of ${next.name} threw`, crashReason(err, next.name, 'codeChange')));
    };
    if (next.codeChange === undefined) return finish({ ok: cell.state });
    let r: unknown;
    try {
      r = next.codeChange(oldVsn, cell.state, this.extra);
    } catch (err) {
      return failed(err);
    }
    if (isThenable(r)) blockCell(cell, Promise.resolve(r), finish, failed);
    else finish(r);
  }
}

/** Enters the suspended state; system messages already queued are taken aside. */
export function suspendCell(cell: Cell): void {
  cell.flags |= F_SUSPENDED;
  const mb = cell.mailbox;
  const size = mb.size();
  let hasSys = false;
  const entries = mb.toArray();
  for (let i = 0; i < size; i += 2) if (entries[i] === K_SYS) hasSys = true;
  if (!hasSys) return;
  mb.clear();
  for (let i = 0; i < size; i += 2) {
    if (entries[i] === K_SYS) (cell.sysQueue ??= []).push(entries[i + 1] as SysRequest);
    else {
      mb.push(entries[i]);
      mb.push(entries[i + 1]);
    }
  }
}

/** Leaves the suspended state. */
export function resumeCell(cell: Cell): void {
  cell.flags &= ~F_SUSPENDED;
}

/** Runs an async step of a system message with the mailbox blocked. */
export function blockCell<T>(cell: Cell, p: Promise<T>, done: (value: T) => void, failed: (err: unknown) => void): void {
  cell.flags |= F_BLOCKED;
  p.then(
    (v) => {
      if ((cell.flags & F_DEAD) !== 0) return;
      cell.flags &= ~F_BLOCKED;
      done(v);
      cell.wake();
    },
    (err: unknown) => {
      if ((cell.flags & F_DEAD) !== 0) return;
      cell.flags &= ~F_BLOCKED;
      failed(err);
      cell.wake();
    },
  );
}

/** A short status word for `getStatus`. */
export function statusWord(cell: Cell): 'starting' | 'running' | 'waiting' | 'suspended' | 'blocked' | 'exiting' | 'dead' {
  const f = cell.flags;
  if ((f & F_DEAD) !== 0) return 'dead';
  if ((f & F_EXITING) !== 0) return 'exiting';
  if ((f & F_STARTING) !== 0) return 'starting';
  if ((f & F_SUSPENDED) !== 0) return 'suspended';
  if ((f & F_BLOCKED) !== 0) return 'blocked';
  return cell.mailbox.isEmpty() ? 'waiting' : 'running';
}
