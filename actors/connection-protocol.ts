/**
 * What other processes may tell a Connection: write a frame, or close with an
 * error code. Kept apart from connection.ts so the Session can talk to its
 * connection without importing the socket handling.
 */
import type { ErrorCode, ServerFrame } from '../protocol/index.ts';
import { cast, type Protocol, type Ref } from '../supervisors/index.ts';

/** Casts a Connection accepts. */
export type ConnectionCast =
  | { readonly t: 'out'; readonly frame: ServerFrame }
  | { readonly t: 'close'; readonly code: ErrorCode; readonly message: string };

/** Plain messages (socket events) a Connection receives. */
export type ConnectionInfo =
  | { readonly t: 'in'; readonly data: Buffer; readonly binary: boolean }
  | { readonly t: 'socket-closed'; readonly code: number }
  | { readonly t: 'tick' }
  | { readonly t: 'auth-timeout' }
  | { readonly t: 'drain' };

export type ConnectionProtocol = Protocol<never, never, ConnectionCast, ConnectionInfo>;
export type ConnectionRef = Ref<ConnectionProtocol>;

/** Asks the connection to write `frame` to its socket. */
export function outbound(conn: ConnectionRef, frame: ServerFrame): void {
  cast(conn, { t: 'out', frame });
}

/** Asks the connection to send an error frame with `code` and close with the code's close code. */
export function closeConnection(conn: ConnectionRef, code: ErrorCode, message: string): void {
  cast(conn, { t: 'close', code, message });
}
