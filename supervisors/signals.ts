/**
 * Exit signals and monitors for code outside any process (tests, ops tools,
 * the node's composition root). Inside a process use the `ActorContext`
 * methods (`link`, `monitor`, `exit`, `trapExit`), which act as that process.
 */
import { lookupCell, systemOf } from './system.ts';
import type { ExitReason, ExitSignal, Ref } from './types.ts';

/**
 * Sends an exit signal to `ref` from the system root (OTP `exit/2`): trapped
 * as an EXIT message if it traps exits, ignored if `'normal'`, else it exits
 * with `reason`. `'kill'` cannot be trapped and ends it with `'killed'`.
 */
export function exit(ref: Ref, reason: ExitSignal): void {
  const root = systemOf(ref.node)?.root;
  if (root !== undefined) lookupCell(ref)?.exitSignal(root, reason);
}

/** `exit(ref, 'kill')`: ends the process with `'killed'`; cannot be trapped. */
export function kill(ref: Ref): void {
  exit(ref, 'kill');
}

/** Resolves with the exit reason of `ref` once it has exited (`'noproc'` if it is not alive now). */
export function awaitExit(ref: Ref): Promise<ExitReason> {
  const cell = lookupCell(ref);
  if (cell === undefined) return Promise.resolve('noproc');
  return new Promise((resolve) => {
    cell.onDown(resolve);
  });
}
