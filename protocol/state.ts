/**
 * The connection state machine, as the server sees one client socket. Pure:
 * the gateway keeps the state and asks before each inbound frame reaches an
 * actor.
 *
 *   awaiting-hello --hello--> awaiting-auth --register|auth--> authenticating
 *   authenticating --authResult(ok)--> ready
 *   authenticating --authResult(fail)--> closed
 *
 * | state          | allowed client frames                 | anything else                              |
 * | -------------- | ------------------------------------- | ------------------------------------------ |
 * | awaiting-hello | hello                                 | OUT_OF_ORDER                               |
 * | awaiting-auth  | register, auth, ping, pong            | hello: OUT_OF_ORDER; rest: NOT_AUTHENTICATED |
 * | authenticating | ping, pong                            | hello/register/auth: OUT_OF_ORDER; rest: NOT_AUTHENTICATED |
 * | ready          | all client kinds but hello/register/auth | those three: OUT_OF_ORDER               |
 * | closed         | none                                  | OUT_OF_ORDER                               |
 *
 * A server-only kind from a client is UNEXPECTED_FRAME in every state.
 * Only the server moves `authenticating` on (`authResult`), after it verified
 * the signature: no client frame can make a connection authenticated.
 */
import type { ErrorCode } from './errors.ts';
import { CLIENT_KINDS, FrameKind } from './frames.ts';

/** Where a connection is in its life. */
export type ConnectionState = 'awaiting-hello' | 'awaiting-auth' | 'authenticating' | 'ready' | 'closed';

/** The state a new socket starts in. */
export const INITIAL_STATE: ConnectionState = 'awaiting-hello';

/** Outcome of a transition: the next state, or why the frame is refused (the state is unchanged then). */
export type Transition =
  | { readonly ok: true; readonly state: ConnectionState }
  | { readonly ok: false; readonly state: ConnectionState; readonly code: ErrorCode };

const HANDSHAKE: ReadonlySet<number> = new Set([FrameKind.Hello, FrameKind.Register, FrameKind.Auth]);

function refuse(state: ConnectionState, code: ErrorCode): Transition {
  return { ok: false, state, code };
}

/** Whether a client may send `kind` in `state`, and the state after it. */
export function nextState(state: ConnectionState, kind: number): Transition {
  if (!CLIENT_KINDS.has(kind)) return refuse(state, 'PARLEY_ERR_UNEXPECTED_FRAME');
  switch (state) {
    case 'awaiting-hello':
      return kind === FrameKind.Hello ? { ok: true, state: 'awaiting-auth' } : refuse(state, 'PARLEY_ERR_OUT_OF_ORDER');
    case 'awaiting-auth':
      if (kind === FrameKind.Register || kind === FrameKind.Auth) return { ok: true, state: 'authenticating' };
      if (kind === FrameKind.Ping || kind === FrameKind.Pong) return { ok: true, state };
      return refuse(state, kind === FrameKind.Hello ? 'PARLEY_ERR_OUT_OF_ORDER' : 'PARLEY_ERR_NOT_AUTHENTICATED');
    case 'authenticating':
      if (kind === FrameKind.Ping || kind === FrameKind.Pong) return { ok: true, state };
      return refuse(state, HANDSHAKE.has(kind) ? 'PARLEY_ERR_OUT_OF_ORDER' : 'PARLEY_ERR_NOT_AUTHENTICATED');
    case 'ready':
      return HANDSHAKE.has(kind) ? refuse(state, 'PARLEY_ERR_OUT_OF_ORDER') : { ok: true, state };
    case 'closed':
      return refuse(state, 'PARLEY_ERR_OUT_OF_ORDER');
  }
}

/** The server's verdict on `register`/`auth`: `ready` on success, `closed` on failure (close with AUTH_FAILED). */
export function authResult(state: ConnectionState, ok: boolean): Transition {
  if (state !== 'authenticating') return refuse(state, 'PARLEY_ERR_OUT_OF_ORDER');
  return { ok: true, state: ok ? 'ready' : 'closed' };
}

/** Whether frames from a connection in this state have passed authentication. */
export function isAuthenticated(state: ConnectionState): boolean {
  return state === 'ready';
}
