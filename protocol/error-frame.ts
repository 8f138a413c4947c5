/**
 * Building the `error` frame for a code, so the gateway never looks up wire
 * numbers by hand.
 */
import { ERROR_CODES, type ErrorCode } from './errors.ts';
import { FrameKind, type ErrorFrame } from './frames.ts';

/**
 * The `error` frame for `code`.
 * @param rid the request at fault, or null
 * @param message for humans: ids only, never message content
 * @param field the offending field, or null
 * @throws RangeError for a code that never reaches the wire (wire 0): a server bug
 */
export function errorFrame(code: ErrorCode, rid: number | null, message: string, field: string | null = null): ErrorFrame {
  const wire = ERROR_CODES[code].wire;
  if (wire === 0) throw new RangeError(`${code} is not a wire error code`);
  return { kind: FrameKind.Error, rid, code: wire, message, field };
}
