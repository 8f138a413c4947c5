/**
 * When a misbehaving client is answered with an `error` frame and when its socket
 * is closed. Pure: the gateway keeps one ViolationRecord per connection and
 * feeds it a monotonic clock, like OTP's restart intensity.
 *
 * - Gross violations close at once: FATAL_CODES below, and any violation before
 *   authentication (an unauthenticated peer gets no second chance; it costs
 *   us a socket and buys it nothing).
 * - Other violations (a bad field, an out-of-order frame) get an `error` frame;
 *   more than `maxViolations` within `windowMs` close with 4400
 *   (PARLEY_ERR_TOO_MANY_VIOLATIONS).
 * - Request outcomes (codes with close 0, e.g. MISMATCHED_DEVICES) are not
 *   violations: do not record them.
 */
import { ERROR_CODES, type ErrorCode } from './errors.ts';

/** Policy knobs. */
export interface ViolationPolicy {
  /** Violations tolerated within `windowMs` after authentication. @default 10 */
  readonly maxViolations: number;
  /** Sliding window, milliseconds. @default 60000 */
  readonly windowMs: number;
}

/** Default policy: 10 violations a minute. */
export const DEFAULT_VIOLATION_POLICY: ViolationPolicy = Object.freeze({ maxViolations: 10, windowMs: 60_000 });

/** Codes that close the connection on first occurrence, authenticated or not. */
export const FATAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'PARLEY_ERR_MALFORMED_FRAME', 'PARLEY_ERR_FRAME_TOO_LARGE', 'PARLEY_ERR_UNKNOWN_FRAME',
  'PARLEY_ERR_UNSUPPORTED_VERSION', 'PARLEY_ERR_UNEXPECTED_FRAME', 'PARLEY_ERR_AUTH_FAILED', 'PARLEY_ERR_AUTH_TIMEOUT',
  'PARLEY_ERR_INTERNAL',
]);

/** Recent violation times of one connection (monotonic ms), oldest first. */
export interface ViolationRecord {
  readonly times: readonly number[];
}

/** A fresh record. */
export const NO_VIOLATIONS: ViolationRecord = Object.freeze({ times: [] });

/** What to do about a violation: answer with an error frame, or send it and close with `closeCode`. */
export type ViolationAction =
  | { readonly action: 'error'; readonly record: ViolationRecord }
  | { readonly action: 'close'; readonly record: ViolationRecord; readonly closeCode: number; readonly code: ErrorCode };

/**
 * Records one violation with code `code` at monotonic time `nowMs`.
 * The `error` frame carries `code` either way; when closing, the close code is
 * the code's own (ERROR_CODES[code].close) or, for too many violations, 4400.
 */
export function recordViolation(
  record: ViolationRecord, code: ErrorCode, nowMs: number, authenticated: boolean,
  policy: ViolationPolicy = DEFAULT_VIOLATION_POLICY,
): ViolationAction {
  const threshold = nowMs - policy.windowMs;
  const times = record.times.filter((t) => t > threshold);
  times.push(nowMs);
  const next: ViolationRecord = { times };
  const own = ERROR_CODES[code].close;
  if (FATAL_CODES.has(code) || !authenticated) {
    return { action: 'close', record: next, closeCode: own !== 0 ? own : ERROR_CODES.PARLEY_ERR_TOO_MANY_VIOLATIONS.close, code };
  }
  if (times.length > policy.maxViolations) {
    return { action: 'close', record: next, closeCode: ERROR_CODES.PARLEY_ERR_TOO_MANY_VIOLATIONS.close, code: 'PARLEY_ERR_TOO_MANY_VIOLATIONS' };
  }
  return { action: 'error', record: next };
}
