/**
 * Store errors. Each has a stable `code`; the gateway (server/) maps the ones a
 * client can cause to wire codes, store/ never does. These codes are meant to
 * join `ERROR_CODES` in protocol/errors.ts (all `wire: 0` unless the gateway
 * decides otherwise); until then they live here so store/ stays independent.
 */

/** Stable store error codes and whether the same call may succeed later. */
export const STORE_ERROR_CODES = {
  /** The backend cannot serve now (busy, I/O error, disk full, closed). Retry later, maybe elsewhere. */
  PARLEY_ERR_STORE_UNAVAILABLE: { retryable: true },
  /** The caller passed something the contract forbids; details name the field. */
  PARLEY_ERR_STORE_INVALID_INPUT: { retryable: false },
  /** The user or device the call refers to does not exist. */
  PARLEY_ERR_STORE_NOT_FOUND: { retryable: false },
  /** The call conflicts with stored state (identity key already registered). */
  PARLEY_ERR_STORE_CONFLICT: { retryable: false },
  /** The schema on disk is unknown to this code (newer) or a migration failed. */
  PARLEY_ERR_STORE_SCHEMA: { retryable: false },
} as const satisfies Record<string, { retryable: boolean }>;

export type StoreErrorCode = keyof typeof STORE_ERROR_CODES;

/** The one error type store adapters raise for conditions a caller can act on. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
    this.details = options?.details;
  }

  /** Whether the same call may succeed later. */
  get retryable(): boolean {
    return STORE_ERROR_CODES[this.code].retryable;
  }
}

/** True when `err` is a StoreError (with the given code, if any). */
export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}

/** Shorthand for the most common rejection: a named field broke the contract. */
export function invalidInput(field: string, message: string, details?: Record<string, unknown>): StoreError {
  return new StoreError('PARLEY_ERR_STORE_INVALID_INPUT', `${field}: ${message}`, { details: { field, ...details } });
}
