/**
 * Maps cassandra-driver failures to StoreError where the caller can act on
 * them. No host reachable, client-side timeouts, busy connections and the
 * server's unavailable / overloaded / bootstrapping / read-or-write timeout
 * and failure responses are PARLEY_ERR_STORE_UNAVAILABLE (retryable: every
 * write of the inbox is idempotent, see CassandraInboxStore). Anything else
 * (invalid CQL, a schema mismatch) is a bug and is returned unchanged.
 */
import cassandra from 'cassandra-driver';
import { StoreError, isStoreError } from '../errors.ts';

const codes = cassandra.types.responseErrorCodes;
const UNAVAILABLE_RESPONSES: ReadonlySet<number> = new Set([
  codes.unavailableException,
  codes.overloaded,
  codes.isBootstrapping,
  codes.writeTimeout,
  codes.readTimeout,
  codes.readFailure,
  codes.writeFailure,
  codes.truncateError,
]);

export function translateCassandraError(err: unknown, operation: string): unknown {
  if (isStoreError(err)) return err;
  const e = cassandra.errors;
  let reason: string | undefined;
  if (err instanceof e.NoHostAvailableError) reason = 'no host available';
  else if (err instanceof e.OperationTimedOutError) reason = 'client-side timeout';
  else if (err instanceof e.BusyConnectionError) reason = 'all connections busy';
  else if (err instanceof e.ResponseError && UNAVAILABLE_RESPONSES.has(err.code)) reason = `server response 0x${err.code.toString(16)}`;
  else if (err instanceof e.DriverError && /shutdown|closed|not connected/i.test(err.message)) reason = 'client shut down';
  if (reason === undefined) return err;
  return new StoreError('PARLEY_ERR_STORE_UNAVAILABLE', `${operation}: Cassandra unavailable (${reason})`, {
    cause: err,
    details: { operation, reason },
  });
}
