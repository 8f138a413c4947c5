/**
 * Stable error codes. Every error Parley raises carries one of these codes;
 * the ones that reach the wire appear in `protocol/README.md` and tests assert
 * them by name. Codes never change meaning once published: add, never reuse.
 *
 * `wire` is the numeric code sent in an `error` frame (0 = never on the wire).
 * `close` is the WebSocket close code used when the error ends the connection.
 * `retryable` tells a client whether the same request may succeed later.
 */
export const ERROR_CODES = {
  // configuration and start-up (never on the wire)
  PARLEY_ERR_CONFIG: { wire: 0, close: 0, retryable: false },
  PARLEY_ERR_SERVICE_UNAVAILABLE: { wire: 0, close: 0, retryable: true },
  PARLEY_ERR_INTERNAL: { wire: 1, close: 1011, retryable: true },
} as const satisfies Record<string, ErrorCodeInfo>;

/** What one code means on the wire. */
export interface ErrorCodeInfo {
  /** Numeric code carried by an `error` frame; 0 when the code never reaches a client. */
  readonly wire: number;
  /** WebSocket close code when the error closes the socket; 0 when it does not. */
  readonly close: number;
  /** Whether the same request may succeed if retried later. */
  readonly retryable: boolean;
}

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The one error type of Parley. `code` is stable; `message` is for humans and
 * never carries message content (ids only).
 */
export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ParleyError';
    this.code = code;
    this.details = options?.details;
  }

  /** Whether a client may retry the request that failed with this error. */
  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

/** True when `err` is a ParleyError with the given code. */
export function isParleyError(err: unknown, code?: ErrorCode): err is ParleyError {
  return err instanceof ParleyError && (code === undefined || err.code === code);
}
