import { ParleyError } from '../protocol/errors.ts';

/**
 * Store errors. Each has a stable `code` from the one code table
 * (protocol/errors.ts); only the gateway (server/) decides what a client sees.
 * store/ never imports the transport.
 */

/** The codes store adapters raise (all in ERROR_CODES of protocol/errors.ts). */
export type StoreErrorCode =
  | 'PARLEY_ERR_STORE_UNAVAILABLE'
  | 'PARLEY_ERR_STORE_INVALID_INPUT'
  | 'PARLEY_ERR_STORE_NOT_FOUND'
  | 'PARLEY_ERR_STORE_CONFLICT'
  | 'PARLEY_ERR_STORE_SCHEMA';

/**
 * The error store adapters raise for conditions a caller can act on: a
 * ParleyError narrowed to the store's codes, so there is one error type.
 * UNAVAILABLE: the backend cannot serve now (retry); INVALID_INPUT: the call
 * broke the contract (details name the field); NOT_FOUND: unknown user or
 * device; CONFLICT: clashes with stored state; SCHEMA: unknown or failed migration.
 */
export class StoreError extends ParleyError {
  declare readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(code, message, options);
    this.name = 'StoreError';
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
