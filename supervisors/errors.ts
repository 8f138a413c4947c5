/**
 * Errors the runtime raises to callers, each with a stable `code`. None of them
 * reaches the wire; the codes are listed in `supervisors/README.md` and asserted by
 * name in the tests. (`supervisors/` may not import `protocol/`, so the codes live
 * here; the protocol table can adopt them if one ever reaches a client.)
 */
import { CrashSignal, describeReason, type ExitReason, type Ref } from './types.ts';

/** Stable codes of `ActorError` and `CallError`. */
export const ACTOR_ERROR_CODES = [
  'PARLEY_ERR_CALL_TIMEOUT',
  'PARLEY_ERR_CALL_NOPROC',
  'PARLEY_ERR_CALL_EXIT',
  'PARLEY_ERR_NOPROC',
  'PARLEY_ERR_BAD_SPEC',
  'PARLEY_ERR_CHILD_NOT_FOUND',
  'PARLEY_ERR_CHILD_RUNNING',
  'PARLEY_ERR_CHILD_ALREADY_PRESENT',
  'PARLEY_ERR_CHILD_ALREADY_STARTED',
  'PARLEY_ERR_START_CHILD',
  'PARLEY_ERR_MAX_CHILDREN',
  'PARLEY_ERR_NOT_SUSPENDED',
  'PARLEY_ERR_CODE_CHANGE',
  'PARLEY_ERR_NOT_SUPPORTED',
] as const;

/** One of `ACTOR_ERROR_CODES`. */
export type ActorErrorCode = (typeof ACTOR_ERROR_CODES)[number];

/** An operation on a process or supervisor failed; `code` is stable. */
export class ActorError extends Error {
  /** Stable code, asserted by tests. */
  readonly code: ActorErrorCode;
  /** The exit reason behind the failure, when there is one. */
  readonly reason: ExitReason | undefined;
  constructor(code: ActorErrorCode, message: string, reason?: ExitReason) {
    super(reason === undefined ? message : `${message}: ${describeReason(reason)}`);
    this.name = 'ActorError';
    this.code = code;
    this.reason = reason;
  }
}

/**
 * A `call` failed: the target did not exist, exited before replying, or did not
 * reply in time. If it escapes a callback, the caller exits with
 * `{callFailed: {reason, call: ['call', target]}}`, as OTP wraps a failed call.
 * The request itself is deliberately left out (it may carry message payload).
 */
export class CallError extends CrashSignal {
  /** `PARLEY_ERR_CALL_TIMEOUT`, `PARLEY_ERR_CALL_NOPROC` or `PARLEY_ERR_CALL_EXIT`. */
  readonly code: 'PARLEY_ERR_CALL_TIMEOUT' | 'PARLEY_ERR_CALL_NOPROC' | 'PARLEY_ERR_CALL_EXIT';
  /** Why the call failed. */
  readonly callReason: ExitReason | 'timeout';
  /** Which process was called. */
  readonly target: Ref;
  constructor(callReason: ExitReason | 'timeout', target: Ref) {
    super({ callFailed: { reason: callReason, call: ['call', target] } });
    this.name = 'CallError';
    this.callReason = callReason;
    this.target = target;
    this.code = callReason === 'timeout' ? 'PARLEY_ERR_CALL_TIMEOUT' : callReason === 'noproc' ? 'PARLEY_ERR_CALL_NOPROC' : 'PARLEY_ERR_CALL_EXIT';
  }
}
