/**
 * Field checkers used by `validate.ts`. Each returns the field's typed value or
 * throws a FieldViolation, which `decodeFrame` turns into a DecodeError: the
 * throw keeps every reader a straight line, and only the failure path pays.
 * FieldViolation is deliberately not an Error: no stack trace is captured on
 * a path an attacker can drive.
 */
import type { ErrorCode } from './errors.ts';

/** A field that failed validation. Internal to the protocol layer. */
export class FieldViolation {
  constructor(
    readonly code: ErrorCode,
    public field: string,
    readonly message: string,
  ) {}
}

/** Ids (user, message) are ASCII so that length in bytes = length in chars. */
const ID_PATTERN = /^[A-Za-z0-9._-]+$/;

function fail(code: ErrorCode, field: string, message: string): never {
  throw new FieldViolation(code, field, message);
}

/** Runs `read` for a list item (or, with index -1, a nested record), prefixing a failing field with `list[i].`. */
export function inItem<T>(field: string, index: number, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof FieldViolation) {
      const at = index < 0 ? field : `${field}[${index}]`;
      err.field = err.field === '' ? at : `${at}.${err.field}`;
    }
    throw err;
  }
}

/** A non-negative integer ≤ max (≤ 2^53 - 1). */
export function uint(v: unknown, field: string, max: number = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be an integer in 0..${max}`);
  }
  return v;
}

/** An integer in min..max. */
export function intIn(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be an integer in ${min}..${max}`);
  }
  return v;
}

/** Request id: uint32. */
export function rid(v: unknown): number {
  return uint(v, 'rid', 0xffffffff);
}

/** A msgpack bin of min..max bytes; over max fails with `tooLarge`. */
export function bytes(
  v: unknown, field: string, min: number, max: number,
  tooLarge: ErrorCode = 'PARLEY_ERR_FIELD_TOO_LARGE',
): Uint8Array {
  if (!(v instanceof Uint8Array)) fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be binary`);
  if (v.length > max) fail(tooLarge, field, `${field} is ${v.length} bytes, max ${max}`);
  if (v.length < min) fail('PARLEY_ERR_INVALID_FIELD', field, `${field} is ${v.length} bytes, min ${min}`);
  return v;
}

/** A bin of exactly n bytes. */
export function fixedBytes(v: unknown, field: string, n: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== n) {
    fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be ${n} bytes of binary`);
  }
  return v;
}

/** An id string: 1..maxBytes of [A-Za-z0-9._-]. */
export function id(v: unknown, field: string, maxBytes: number): string {
  if (typeof v !== 'string') fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be a string`);
  if (v.length > maxBytes) fail('PARLEY_ERR_FIELD_TOO_LARGE', field, `${field} is longer than ${maxBytes}`);
  if (!ID_PATTERN.test(v)) fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be 1..${maxBytes} of [A-Za-z0-9._-]`);
  return v;
}

/** Any UTF-8 string of at most maxBytes bytes (0 allowed). */
export function text(v: unknown, field: string, maxBytes: number): string {
  if (typeof v !== 'string') fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be a string`);
  // length in UTF-16 units is a lower bound of the UTF-8 length; count exactly only near the limit
  if (v.length > maxBytes || (v.length * 3 > maxBytes && utf8Length(v) > maxBytes)) {
    fail('PARLEY_ERR_FIELD_TOO_LARGE', field, `${field} is longer than ${maxBytes} bytes`);
  }
  return v;
}

/** An array of at most max items (min items at least). */
export function list(v: unknown, field: string, max: number, min = 0): unknown[] {
  if (!Array.isArray(v)) fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be an array`);
  if (v.length > max) fail('PARLEY_ERR_FIELD_TOO_LARGE', field, `${field} has ${v.length} items, max ${max}`);
  if (v.length < min) fail('PARLEY_ERR_INVALID_FIELD', field, `${field} needs at least ${min} item(s)`);
  return v;
}

/** An array of exactly n items (a nested record such as a pre-key). */
export function tuple(v: unknown, field: string, n: number): unknown[] {
  if (!Array.isArray(v) || v.length !== n) fail('PARLEY_ERR_INVALID_FIELD', field, `${field} must be an array of ${n}`);
  return v;
}

/**
 * A trailing optional flag, present only when set: msgpack true or false. Any
 * other value there is no field the frame has, so it fails like one field too
 * many does (MALFORMED_FRAME), not as a bad value of a known field.
 */
export function trailingFlag(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') fail('PARLEY_ERR_MALFORMED_FRAME', field, `${field} must be true or false`);
  return v;
}

/** A value from a numeric enum. */
export function member<T extends number>(v: unknown, field: string, allowed: ReadonlySet<number>): T {
  if (typeof v !== 'number' || !allowed.has(v)) fail('PARLEY_ERR_INVALID_FIELD', field, `${field} has an unknown value`);
  return v as T;
}

/** Fails with `code` on `field`; for cross-field rules in readers. */
export function violation(code: ErrorCode, field: string, message: string): never {
  fail(code, field, message);
}

/** UTF-8 length of a string (lone surrogates count 3, as TextEncoder writes U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
