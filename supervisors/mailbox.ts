/**
 * Mailbox layout and process flags shared by the cell and its helpers. A mailbox
 * entry is two slots in nact's denque, `kind, payload`, so a send allocates
 * nothing; the flags are one small integer per process.
 */

/** Mailbox entry kind: a `cast` (→ `handleCast`). */
export const K_CAST = 0;
/** Mailbox entry kind: a plain message, EXIT or DOWN (→ `handleInfo`). */
export const K_INFO = 1;
/** Mailbox entry kind: a `call` (payload is its `CallRequest`). */
export const K_CALL = 2;
/** Mailbox entry kind: a system message (`SysRequest`). */
export const K_SYS = 3;

/** A callback of this process is on the JS stack. */
export const F_RUNNING = 1;
/** Awaiting an async callback: the mailbox waits. */
export const F_BLOCKED = 2;
/** Suspended: only system messages are handled. */
export const F_SUSPENDED = 4;
/** Traps exits. */
export const F_TRAP = 8;
/** Exited. */
export const F_DEAD = 16;
/** `init` has not returned yet. */
export const F_STARTING = 32;
/** `terminate` is running. */
export const F_EXITING = 64;

/** denque drops `undefined` pushes; this stands in for it in the mailbox. */
export const UNDEFINED = Symbol('undefined');
