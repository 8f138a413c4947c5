/**
 * Maps node-postgres failures to StoreError where the caller can act on them.
 * Lost or refused connections, server shutdown, too many connections,
 * serialization failures, deadlocks and lock timeouts are
 * PARLEY_ERR_STORE_UNAVAILABLE (retryable). Anything else (a syntax error, a
 * violated constraint the adapter did not expect) is a bug and is returned
 * unchanged, to crash the caller loudly.
 */
import { StoreError, isStoreError } from '../errors.ts';

/** SQLSTATE classes and codes that mean "the server cannot serve this now". */
const UNAVAILABLE_SQLSTATE_PREFIXES = ['08', '53', '57P', '58'];
const UNAVAILABLE_SQLSTATES = new Set(['40001', '40P01', '55P03', '55006', '25006']);
/** Socket-level errors and node-postgres' own connection messages. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed',
  'Cannot use a pool after calling end',
];

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * True when the connection the statement ran on is gone (server terminated it,
 * socket reset): the statement did not complete and a fresh connection may
 * succeed. The pool must then discard that client.
 */
export function isConnectionLost(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return state.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  const message = err instanceof Error ? err.message : '';
  return CONNECTION_MESSAGES.some((m) => message.includes(m));
}

/** The caller-facing error for `err` raised by `operation`. */
export function translatePgError(err: unknown, operation: string): unknown {
  if (isStoreError(err)) return err;
  const state = sqlState(err);
  const unavailable =
    isConnectionLost(err) ||
    (state !== undefined && (UNAVAILABLE_SQLSTATES.has(state) || UNAVAILABLE_SQLSTATE_PREFIXES.some((p) => state.startsWith(p))));
  if (unavailable) {
    return new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: PostgreSQL unavailable (${state ?? (err as Error).message})`, {
      cause: err,
      details: { operation, ...(state ? { sqlstate: state } : {}) },
    });
  }
  return err;
}

/** SQLSTATE 23505: a unique index rejected the row. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  return sqlState(err) === '23505' && (constraint === undefined || (err as { constraint?: string }).constraint === constraint);
}
