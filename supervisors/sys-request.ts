/**
 * System messages (OTP `sys`): they travel in the mailbox in order with other
 * messages, and are the only ones a suspended process handles.
 */
import type { Behaviour } from './behaviour.ts';
import type { Cell } from './cell.ts';
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
        cell.suspend();
        this.resolve(undefined);
        return;
      case 'resume':
        cell.resume();
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
    if (isThenable(r)) cell.block(Promise.resolve(r), finish, failed);
    else finish(r);
  }
}
