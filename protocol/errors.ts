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

  // frame decoding (codec.ts / validate.ts): 100–199
  PARLEY_ERR_MALFORMED_FRAME: { wire: 100, close: 4400, retryable: false },
  PARLEY_ERR_FRAME_TOO_LARGE: { wire: 101, close: 4413, retryable: false },
  PARLEY_ERR_UNKNOWN_FRAME: { wire: 102, close: 4400, retryable: false },
  PARLEY_ERR_INVALID_FIELD: { wire: 103, close: 4400, retryable: false },
  PARLEY_ERR_FIELD_TOO_LARGE: { wire: 104, close: 4400, retryable: false },
  PARLEY_ERR_PAYLOAD_TOO_LARGE: { wire: 105, close: 4413, retryable: false },
  PARLEY_ERR_UNSUPPORTED_VERSION: { wire: 106, close: 4426, retryable: false },

  // connection state and authentication (state.ts, gateway): 200–299
  PARLEY_ERR_NOT_AUTHENTICATED: { wire: 200, close: 4400, retryable: false },
  PARLEY_ERR_OUT_OF_ORDER: { wire: 201, close: 4400, retryable: false },
  PARLEY_ERR_UNEXPECTED_FRAME: { wire: 202, close: 4400, retryable: false },
  PARLEY_ERR_AUTH_FAILED: { wire: 203, close: 4401, retryable: false },
  PARLEY_ERR_AUTH_TIMEOUT: { wire: 204, close: 4408, retryable: true },
  PARLEY_ERR_TOO_MANY_VIOLATIONS: { wire: 205, close: 4400, retryable: false },

  // request outcomes (actors); never close the socket: 300–399
  PARLEY_ERR_MISMATCHED_DEVICES: { wire: 300, close: 0, retryable: true },
  PARLEY_ERR_STALE_DEVICES: { wire: 301, close: 0, retryable: true },
  PARLEY_ERR_UNKNOWN_USER: { wire: 302, close: 0, retryable: false },
  PARLEY_ERR_RATE_LIMITED: { wire: 303, close: 4429, retryable: true },
  PARLEY_ERR_IDENTITY_KEY_MISMATCH: { wire: 304, close: 0, retryable: false },
  PARLEY_ERR_INVALID_LINK_TOKEN: { wire: 305, close: 0, retryable: false },
  PARLEY_ERR_TOO_MANY_DEVICES: { wire: 306, close: 0, retryable: false },
  PARLEY_ERR_INVALID_KEY: { wire: 307, close: 0, retryable: false },
  /** A store the request needs cannot serve now (e.g. Cassandra down): nothing was stored, retry the same request. */
  PARLEY_ERR_STORE_UNAVAILABLE: { wire: 310, close: 0, retryable: true },

  // store contract violations, raised by store/ adapters; the gateway maps them (never on the wire as such)
  PARLEY_ERR_STORE_INVALID_INPUT: { wire: 0, close: 0, retryable: false },
  PARLEY_ERR_STORE_NOT_FOUND: { wire: 0, close: 0, retryable: false },
  PARLEY_ERR_STORE_CONFLICT: { wire: 0, close: 0, retryable: false },
  PARLEY_ERR_STORE_SCHEMA: { wire: 0, close: 0, retryable: false },

  // connection-level reasons, sent in an error frame just before the close: 400–499
  PARLEY_ERR_CONNECTED_ELSEWHERE: { wire: 400, close: 4409, retryable: false },
  PARLEY_ERR_SLOW_CONSUMER: { wire: 401, close: 4450, retryable: true },
  PARLEY_ERR_SHUTTING_DOWN: { wire: 402, close: 4503, retryable: true },
  PARLEY_ERR_IDLE_TIMEOUT: { wire: 403, close: 4440, retryable: true },
  PARLEY_ERR_DEVICE_REMOVED: { wire: 404, close: 4403, retryable: false },
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

const BY_WIRE: ReadonlyMap<number, ErrorCode> = new Map(
  (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => ERROR_CODES[c].wire !== 0).map((c) => [ERROR_CODES[c].wire, c]),
);

/** The code name of a wire code received in an `error` frame; undefined for codes this build does not know. */
export function errorCodeFromWire(wire: number): ErrorCode | undefined {
  return BY_WIRE.get(wire);
}
